"""Authenticated event ingress (kopru.events.ingress): POST / of every function takes an
event or a schedule tick only from a sender it can verify, and runs nothing before.

- Köprü's own senders: the platform's per-function HS256 token (`kopru events token`);
- Knative Eventing's OIDC sender token, against an OIDC issuer served on 127.0.0.1
  here (discovery + JWKS, keys made in the test, tokens signed with PyJWT).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid

import jwt
import pytest

from tests.conftest import REPO
from tests.helpers import bearer, sender_auth

# tables an event's handler writes (the purge, the polls, the consumers): a run leaves a trace here
TRACE_TABLES = ("outbox", "inbox", "audit_log", "sms_messages", "sms_status_history", "einvoices",
                "einvoice_status_history", "destruction_records", "subject_requests", "consents")


def db_state(db) -> dict[str, str]:
    out = {}
    for t in TRACE_TABLES:
        out[t] = db.execute(f"select count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' order by x::text)), '')"
                            f" from {t} x").fetchone()[0]
    return out


def event_forms(function: str, tenant: str, sms_id: str) -> dict[str, tuple[dict, bytes]]:
    """Every way an event reaches POST /, each one the function would act on if it were let in."""
    from kopru.runtime.registry import functions

    consumes = functions()[function].consumes
    type_ = consumes[0] if consumes else "kopru.tenant.onboarded.v1"
    data = {"sms_id": sms_id} if type_ == "kopru.sms.requested.v1" else {}
    eid = str(uuid.uuid4())
    binary = {"ce-specversion": "1.0", "ce-id": eid, "ce-source": "/kopru/test", "ce-type": type_,
              "ce-tenantid": tenant, "content-type": "application/json"}
    structured = {"specversion": "1.0", "id": eid, "source": "/kopru/test", "type": type_, "tenantid": tenant,
                  "datacontenttype": "application/json", "data": data}
    ping = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-type": "dev.knative.sources.ping",
            "ce-source": "/apis/v1/namespaces/kopru/pingsources/x", "content-type": "application/json"}
    kafka = {"x-topic": "kopru.sms", "x-kafka-ce_specversion": "1.0", "x-kafka-ce_id": eid,
             "x-kafka-ce_source": "/kopru/test", "x-kafka-ce_type": type_, "x-kafka-ce_tenantid": tenant,
             "x-kafka-content-type": "application/json",
             "x-kafka-key": base64.b64encode(tenant.encode()).decode(), "x-kafka-key-enc": "b64"}
    return {
        "binary": (binary, json.dumps(data).encode()),
        "structured": ({"content-type": "application/cloudevents+json"}, json.dumps(structured).encode()),
        "ping": (ping, b'{"type": "scheduled"}'),
        "cron": ({"x-topic": "cron-function"}, b""),
        "kafka-connector": (kafka, json.dumps(data).encode()),
    }


def forged(function: str) -> dict[str, dict]:
    """Authorization headers that must not pass, by what is wrong with them."""
    from kopru.events.ingress import PLATFORM_ISSUER, function_key, issue

    now = int(time.time())
    claims = {"iss": PLATFORM_ISSUER, "sub": "dispatcher", "aud": function, "iat": now, "exp": now + 300}
    unsigned = (base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=") + b"."
                + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=") + b".").decode()
    other = "tenant-onboarding" if function != "tenant-onboarding" else "token"
    return {
        "none": {},
        "not-bearer": {"Authorization": "Basic a29wcnU6a29wcnU="},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "wrongly-signed": {"Authorization": "Bearer " + jwt.encode(claims, b"k" * 32, algorithm="HS256")},
        "alg-none": {"Authorization": "Bearer " + unsigned},
        "expired": {"Authorization": "Bearer " + jwt.encode(
            dict(claims, iat=now - 900, exp=now - 600), function_key(function), algorithm="HS256")},
        "other-function": {"Authorization": "Bearer " + issue(other, "dispatcher")},
        "other-function-key": {"Authorization": "Bearer " + jwt.encode(claims, function_key(other), algorithm="HS256")},
        "unknown-sender": {"Authorization": "Bearer " + jwt.encode(
            dict(claims, sub="someone"), function_key(function), algorithm="HS256")},
    }


def assert_401(r):
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "cloudevent.unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer ")


async def test_every_function_refuses_every_unverified_sender_and_runs_nothing(client, apps, sms_tenant, netgsm, db):
    """Walk the registry: every form of event and tick, with every kind of missing or bad
    token, to every function: 401, and nothing changed (database, outbox, Netgsm)."""
    from kopru.runtime.registry import functions

    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": "0532 123 45 98", "message": "Kargonuz yolda.", "kind": "transactional"})
    assert r.status_code == 202, r.text
    sms_id, tenant = r.json()["id"], str(sms_tenant["id"])
    before, calls = db_state(db), len(netgsm.calls)
    names = sorted(functions())
    assert {"retention-purge", "sms-send", "sms-report", "einvoice-status"} <= set(names)
    n = 0
    for name in names:
        for bad, auth in forged(name).items():
            for form, (headers, body) in event_forms(name, tenant, sms_id).items():
                r = await client(name).post("/", headers={**headers, **auth}, content=body)
                assert_401(r)
                n += 1
    assert n == len(names) * 9 * 5
    assert db_state(db) == before
    assert len(netgsm.calls) == calls
    # the same request with the platform's token is let in and acts: the SMS goes out
    headers, body = event_forms("sms-send", tenant, sms_id)["binary"]
    r = await client("sms-send").post("/", headers={**headers, **sender_auth("sms-send", "dispatcher")}, content=body)
    assert r.status_code == 204, r.text
    assert len(netgsm.calls) == calls + 1
    assert db_state(db) != before


async def test_a_token_from_the_cli_is_accepted(client, db):
    """`kopru events token --function NAME` (run as the operator would) lets a Ping tick
    into retention-purge, which then runs."""
    out = subprocess.run([sys.executable, "-m", "kopru_tools.cli", "events", "token", "--function", "retention-purge",
                          "--ttl", "120"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "retention-purge" and claims["sub"] == "operator" and claims["exp"] - claims["iat"] == 120
    headers, body = event_forms("retention-purge", str(uuid.uuid4()), str(uuid.uuid4()))["ping"]
    r = await client("retention-purge").post("/", headers={**headers, "Authorization": f"Bearer {token}"}, content=body)
    assert r.status_code == 200, r.text
    assert r.json()["complete"] is True
    # the same token at another function: refused
    r = await client("sms-report").post("/", headers={**headers, "Authorization": f"Bearer {token}"}, content=body)
    assert_401(r)
    # an unknown function name: no token
    out = subprocess.run([sys.executable, "-m", "kopru_tools.cli", "events", "token", "--function", "nope"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and not out.stdout


async def test_an_invalid_base64_kafka_key_is_a_400_and_runs_nothing(client, db):
    tenant = str(uuid.uuid4())
    headers, body = event_forms("sms-send", tenant, str(uuid.uuid4()))["kafka-connector"]
    before = db_state(db)
    for key in ("%%%not base64%%%", "YWJj=ZGVm", "Zm9vYmFyX"):
        r = await client("sms-send").post("/", headers={**headers, "x-kafka-key": key, **sender_auth("sms-send")},
                                          content=body)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "cloudevent.malformed" and key not in r.text
    assert db_state(db) == before


async def test_verified_tokens_are_cached_until_they_expire(monkeypatch):
    from kopru.events import ingress

    headers = sender_auth("sms-send", "dispatcher")
    calls = []
    real = ingress._verify_platform
    monkeypatch.setattr(ingress, "_verify_platform", lambda f, t: calls.append(1) or real(f, t))
    for _ in range(5):
        assert (await ingress.verify_sender("sms-send", {"authorization": headers["Authorization"]})).subject == "dispatcher"
    assert len(calls) == 1
    # the cache is per function: the same token elsewhere is checked, and refused
    with pytest.raises(Exception) as exc:
        await ingress.verify_sender("sms-report", {"authorization": headers["Authorization"]})
    assert getattr(exc.value, "code", None) == "cloudevent.unauthenticated"
    # an entry past its exp is verified again, and refused as expired
    monkeypatch.setattr(ingress, "LEEWAY", 0)
    short = {"authorization": sender_auth("sms-send", "dispatcher", ttl=1)["Authorization"]}
    await ingress.verify_sender("sms-send", short)
    time.sleep(2.1)
    with pytest.raises(Exception) as exc:
        await ingress.verify_sender("sms-send", short)
    assert getattr(exc.value, "code", None) == "cloudevent.unauthenticated" and "expired" in exc.value.detail


# -- Knative Eventing OIDC -----------------------------------------------------------------

class Issuer:
    """A minimal OIDC issuer (discovery + JWKS), like the Kubernetes API server's
    service-account issuer, counting the requests it answers."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.url = ""
        self.hits: list[str] = []
        self.down = False

    def jwks(self) -> dict:
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        k1 = RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True)
        k1.update(kid="rsa-1", alg="RS256", use="sig")
        k2 = ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
        k2.update(kid="ec-1", alg="ES256", use="sig")
        return {"keys": [k1, k2]}

    async def __call__(self, scope, receive, send):
        from starlette.responses import JSONResponse, Response

        if scope["type"] != "http":
            return
        path = scope["path"]
        self.hits.append(path)
        if self.down:
            resp = Response(status_code=503)
        elif path == "/.well-known/openid-configuration":
            resp = JSONResponse({"issuer": self.url, "jwks_uri": self.url + "/openid/v1/jwks",
                                 "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                                 "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
        elif path == "/openid/v1/jwks":
            resp = JSONResponse(self.jwks())
        else:
            resp = Response(status_code=404)
        await resp(scope, receive, send)

    def token(self, audience: str, *, iss: str | None = None, kid: str = "rsa-1", alg: str = "RS256",
              exp: int | None = None, key=None) -> str:
        now = int(time.time())
        claims = {"iss": iss or self.url, "sub": "system:serviceaccount:kopru:oidc-pingsource-retention-purge",
                  "aud": [audience], "iat": now, "nbf": now, "exp": exp or now + 600,
                  "kubernetes.io": {"namespace": "kopru", "serviceaccount": {"name": "oidc-pingsource"}}}
        signer = key or (self.rsa if alg.startswith("RS") else self.ec)
        return jwt.encode(claims, signer, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def oidc(monkeypatch):
    from kopru.config import reset_settings
    from kopru_tools.simulators.common import serve
    from kopru.events.ingress import reset_issuers

    issuer = Issuer()
    with serve(issuer) as url:
        issuer.url = url
        monkeypatch.setenv("KOPRU_OIDC_ISSUERS", f"https://issuer.invalid {url}")
        monkeypatch.setenv("KOPRU_NAMESPACE", "kopru")
        reset_settings()
        reset_issuers()
        yield issuer
    monkeypatch.delenv("KOPRU_OIDC_ISSUERS")
    reset_settings()
    reset_issuers()


def hs256_with_public_key(issuer: Issuer, audience: str) -> str:
    """The key-confusion attack: HS256, the issuer's public key (PEM) as the HMAC secret
    (PyJWT refuses to make one, so it is put together here)."""
    from cryptography.hazmat.primitives import serialization

    pem = issuer.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())

    def b64(d: dict) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")

    signing_input = b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}) + b"." + b64(
        {"iss": issuer.url, "sub": "system:serviceaccount:kopru:x", "aud": audience, "iat": now, "exp": now + 600})
    sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + sig).decode()


async def test_knative_oidc_sender_token(oidc, client, db):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from kopru.events.ingress import expected_audience

    aud = expected_audience("retention-purge")
    assert aud == "serving.knative.dev/service/kopru/retention-purge"
    headers, body = event_forms("retention-purge", str(uuid.uuid4()), str(uuid.uuid4()))["ping"]

    async def post(token: str):
        return await client("retention-purge").post("/", headers={**headers, "Authorization": f"Bearer {token}"},
                                                     content=body)

    # the right audience, RS256 and ES256: accepted, the purge runs
    for kid, alg in (("rsa-1", "RS256"), ("ec-1", "ES256")):
        r = await post(oidc.token(aud, kid=kid, alg=alg))
        assert r.status_code == 200, r.text
    before = db_state(db)
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "wrong audience": oidc.token(expected_audience("sms-report")),
        "audience of another namespace": oidc.token("serving.knative.dev/service/other/retention-purge"),
        "wrong issuer": oidc.token(aud, iss=oidc.url + "/other"),
        "expired": oidc.token(aud, exp=now - 600),
        "unknown kid": oidc.token(aud, kid="rsa-2"),
        "kid of another algorithm": oidc.token(aud, kid="ec-1", alg="RS256"),
        "signed by another key": oidc.token(aud, key=stranger),
        "alg none": jwt.encode({"iss": oidc.url, "sub": "x", "aud": aud, "iat": now, "exp": now + 600}, None,
                               algorithm="none"),
        "HS256 with the public key": hs256_with_public_key(oidc, aud),
    }
    for what, token in refused.items():
        r = await post(token)
        assert r.status_code == 401, (what, r.text)
        assert r.json()["code"] == "cloudevent.unauthenticated" and r.headers["www-authenticate"].startswith("Bearer")
    assert db_state(db) == before
    # discovery and JWKS were fetched once; the unknown kid asked again at most once
    assert oidc.hits.count("/.well-known/openid-configuration") <= 2
    assert oidc.hits.count("/openid/v1/jwks") <= 2


async def test_an_unreachable_issuer_is_a_503_and_runs_nothing(oidc, client, db):
    from kopru.events.ingress import expected_audience

    oidc.down = True
    headers, body = event_forms("retention-purge", str(uuid.uuid4()), str(uuid.uuid4()))["ping"]
    before = db_state(db)
    r = await client("retention-purge").post("/", content=body, headers={
        **headers, "Authorization": "Bearer " + oidc.token(expected_audience("retention-purge"))})
    # the sender may be genuine: retried by Knative, not dead-lettered; nothing ran
    assert r.status_code == 503 and r.json()["code"] == "unavailable"
    assert db_state(db) == before


async def test_the_dispatchers_http_sender_and_the_ticker_carry_a_token(apps):
    """`kopru dispatch` (http_sender) and the schedule ticker (`kopru events tick`,
    `kopru dev`) post with the platform token: their ticks and events are let in."""
    import asyncio
    from datetime import datetime, timezone

    import httpx

    from kopru.events.catalog import load_catalog
    from kopru.events.dispatcher import http_sender
    from kopru.events.schedule import run_schedules

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["retention-purge"]), base_url="http://f") as c:
        headers, body = event_forms("retention-purge", str(uuid.uuid4()), str(uuid.uuid4()))["ping"]
        status, answer = await http_sender(c, "/", "retention-purge")(headers, body)
        assert status == 200, answer
        # the wrong function's sender: refused
        status, answer = await http_sender(c, "/", "sms-report")(headers, body)
        assert status == 401 and json.loads(answer)["code"] == "cloudevent.unauthenticated"

        stop, got = asyncio.Event(), []
        send = http_sender(c, "/", "retention-purge")

        async def ticked(h, b):
            got.append((h, await send(h, b)))
            stop.set()
            return got[-1][1]

        sched = load_catalog().schedules["retention-purge"]
        hour, minute = int(sched.cron.split()[1]), int(sched.cron.split()[0])
        at = datetime(2026, 3, 2, hour - 3, minute, tzinfo=timezone.utc)  # Europe/Istanbul is UTC+3
        await asyncio.wait_for(run_schedules({"retention-purge": ticked}, stop, now=lambda: at), 30)
    (h, (status, answer)), = got
    assert status == 200, answer
    assert jwt.decode(h["authorization"].split()[1], options={"verify_signature": False})["sub"] == "schedule"
