"""The function runtime: CloudEvents at POST / in both content modes, health without
a database, nothing heavy or I/O at import time."""

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid

import httpx
import pytest

from tests.conftest import REPO
from tests.helpers import sender_auth

PROBE = textwrap.dedent('''
    from kopru.runtime import Function
    fn = Function("ce-probe")
    fn.received = []

    @fn.on_event("kopru.test.ping.v1")
    async def ping(ev):
        tenant = str(ev.tenant_id) if ev.event.get("tenantid") is not None else None
        fn.received.append((ev.event["id"], tenant, ev.data))

    async def handle(request):
        return await fn(request)
''')


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    from functions_framework.aio import create_asgi_app

    from kopru.runtime.function import registered

    src = tmp_path_factory.mktemp("probe") / "main.py"
    src.write_text(PROBE)
    app = create_asgi_app(target="handle", source=str(src))
    fn = registered()["ce-probe"]
    # a Köprü sender: its token on every request (tests/shared/test_ingress.py has the others)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                             headers=sender_auth("ce-probe", ttl=3600)), fn


def ce_headers(**over):
    h = {
        "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/kopru/test",
        "ce-type": "kopru.test.ping.v1", "ce-tenantid": str(uuid.uuid4()), "content-type": "application/json",
    }
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


async def test_binary_mode(probe):
    c, fn = probe
    h = ce_headers()
    r = await c.post("/", headers=h, content=json.dumps({"n": 1}))
    assert r.status_code == 204
    assert fn.received[-1] == (h["ce-id"], h["ce-tenantid"], {"n": 1})


async def test_structured_mode(probe):
    c, fn = probe
    ev = {"specversion": "1.0", "id": "e-2", "source": "/kopru/test", "type": "kopru.test.ping.v1",
          "tenantid": str(uuid.uuid4()), "datacontenttype": "application/json", "data": {"n": 2}}
    r = await c.post("/", headers={"content-type": "application/cloudevents+json"}, content=json.dumps(ev))
    assert r.status_code == 204
    assert fn.received[-1] == ("e-2", ev["tenantid"], {"n": 2})


SECRET = "+905321234567"


@pytest.mark.parametrize("headers,body,code", [
    ({"content-type": "application/json"}, json.dumps({"phone": SECRET}), "cloudevent.malformed"),
    (ce_headers(**{"ce-id": None}), json.dumps({"phone": SECRET}), "cloudevent.malformed"),
    (ce_headers(**{"ce-specversion": "0.1"}), json.dumps({"phone": SECRET}), "cloudevent.malformed"),
    ({"content-type": "application/cloudevents+json"}, '{"specversion": "1.0", "data": "' + SECRET, "cloudevent.malformed"),
    ({"content-type": "application/cloudevents+json"}, json.dumps({"data": SECRET}), "cloudevent.malformed"),
    (ce_headers(**{"ce-type": "kopru.test.unknown.v1"}), json.dumps({"phone": SECRET}), "cloudevent.unsupported_type"),
    (ce_headers(**{"ce-tenantid": "../../x"}), json.dumps({"phone": SECRET}), "cloudevent.missing_tenant"),
])
async def test_malformed_cloudevents_get_a_400_that_does_not_echo_the_payload(probe, headers, body, code):
    c, fn = probe
    n = len(fn.received)
    r = await c.post("/", headers=headers, content=body)
    assert r.status_code == 400 and r.json()["code"] == code
    assert SECRET not in r.text
    assert len(fn.received) == n


async def test_real_function_refuses_event_types_it_does_not_consume(client):
    r = await client("tenant-onboarding").post("/", headers={**ce_headers(), **sender_auth("tenant-onboarding")},
                                               content="{}")
    assert r.status_code == 400 and r.json()["code"] == "cloudevent.unsupported_type"


async def test_other_consumers_catalog_types_are_acknowledged_not_dead_lettered(client):
    # a KafkaSource forwards every record of its topics; a type of the catalog that this
    # function doesn't consume must not come back as a 4xx (Knative would dead-letter it)
    r = await client("tenant-onboarding").post("/", headers={**ce_headers(**{"ce-type": "kopru.tenant.onboarded.v1"}),
                                                             **sender_auth("tenant-onboarding")}, content="{}")
    assert r.status_code == 204 and r.headers["x-kopru-ignored"]


async def test_knative_pingsource_tick_becomes_the_scheduled_type(probe):
    c, fn = probe
    h = ce_headers(**{"ce-type": "dev.knative.sources.ping", "ce-source": "/apis/v1/namespaces/kopru/pingsources/p",
                      "ce-tenantid": None})
    r = await c.post("/", headers=h, content=json.dumps({"scheduled": True}))
    assert r.status_code == 204
    assert fn.received[-1] == (h["ce-id"], None, {"scheduled": True})


IMPORT_CHECK = textwrap.dedent('''
    import asyncio, json, socket, sys
    connects = []
    _orig = socket.socket.connect
    def spy(self, addr):
        connects.append(str(addr))
        return _orig(self, addr)
    socket.socket.connect = spy

    from kopru.runtime.registry import function_sources, load_module
    mods = {name: load_module(src) for name, src in function_sources().items()}
    heavy = ["sqlalchemy", "psycopg", "pydantic", "jwt", "redis", "alembic", "argon2", "aiokafka", "boto3", "lxml",
             "opentelemetry.sdk", "opentelemetry.exporter"]
    after_import = sorted(m for m in heavy if m in sys.modules)

    import httpx
    async def health():
        out = {}
        for name, mod in mods.items():
            from starlette.requests import Request
            scope = {"type": "http", "method": "GET", "path": "/healthz", "headers": [], "query_string": b""}
            resp = await mod.handle(Request(scope))
            out[name] = resp.status_code
        return out
    codes = asyncio.run(health())
    after_health = sorted(m for m in heavy if m in sys.modules)
    print(json.dumps({"after_import": after_import, "after_health": after_health, "codes": codes,
                      "connects": connects}))
''')


def test_no_io_and_nothing_heavy_at_import_and_healthz_without_a_database():
    env = dict(os.environ)
    # a database that cannot answer: health must not need it
    env.update(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1",
               KOPRU_MASTER_KEY="", KOPRU_DATA_DIR="/nonexistent/kopru",
               # traces configured: still nothing of the SDK at import or on /healthz (the first real request)
               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1")
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["after_import"] == [], res
    assert res["after_health"] == [], res
    assert res["connects"] == []
    assert set(res["codes"].values()) == {200} and len(res["codes"]) >= 2


async def test_openfaas_kafka_connector_delivery_is_rebuilt_into_the_cloudevent(probe):
    import base64

    c, fn = probe
    tenant = str(uuid.uuid4())
    # what the kafka-connector sends: the record value, each Kafka header as X-Kafka-<name>
    headers = {"content-type": "text/plain", "x-topic": "kopru.test", "x-kafka-partition": "2", "x-kafka-offset": "41",
               "x-kafka-ce_specversion": "1.0", "x-kafka-ce_id": "of-1", "x-kafka-ce_source": "/kopru/test",
               "x-kafka-ce_type": "kopru.test.ping.v1", "x-kafka-ce_tenantid": tenant,
               "x-kafka-content-type": "application/json",
               "x-kafka-key": base64.b64encode(tenant.encode()).decode(), "x-kafka-key-enc": "b64"}
    r = await c.post("/", headers=headers, content=json.dumps({"n": 3}))
    assert r.status_code == 204
    assert fn.received[-1] == ("of-1", tenant, {"n": 3})
    # a plain record that isn't a CloudEvent is refused, not retried
    r = await c.post("/", headers={"x-topic": "kopru.test"}, content=b"hello")
    assert r.status_code == 400 and r.json()["code"] == "cloudevent.malformed"


async def test_openfaas_cron_connector_tick(probe):
    c, fn = probe
    # the probe consumes one type, so a cron tick becomes that type, one id per minute
    r = await c.post("/", headers={"x-topic": "cron-function"}, content=b"")
    assert r.status_code == 204
    eid, tenant, data = fn.received[-1]
    assert re.fullmatch(r"ce-probe-\d{8}T\d{4}Z", eid) and tenant is None and "scheduled_at" in data


SDK_CHECK = textwrap.dedent('''
    import asyncio, json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from kopru.runtime import Function
    from kopru.events import current_traceparent
    fn = Function("sdk-probe")
    seen = []

    @fn.on_event("kopru.test.ping.v1")
    async def ping(ev):
        seen.append(current_traceparent.get())

    async def main():
        from starlette.requests import Request
        body = b"{}"
        headers = [(b"ce-specversion", b"1.0"), (b"ce-id", b"1"), (b"ce-source", b"/t"), (b"ce-type", b"kopru.test.ping.v1"),
                   (b"ce-traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                   (b"content-type", b"application/json")]
        from kopru.events.ingress import issue
        headers.append((b"authorization", ("Bearer " + issue("sdk-probe")).encode()))
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}
        r = await fn(Request(scope, receive))
        return r.status_code
    status = asyncio.run(main())
    spans = exporter.get_finished_spans()
    print(json.dumps({"status": status, "seen": seen,
                      "spans": [{"name": s.name, "trace": format(s.context.trace_id, "032x"),
                                 "span": format(s.context.span_id, "016x"),
                                 "parent": format(s.parent.span_id, "016x") if s.parent else None} for s in spans]}))
''')


def test_spans_are_recorded_when_an_sdk_is_configured():
    out = subprocess.run([sys.executable, "-c", SDK_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "ERROR"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["status"] == 204
    (span,) = res["spans"]
    assert span["trace"] == "4bf92f3577b34da6a3ce929d0e0e4736" and span["parent"] == "00f067aa0ba902b7"
    # work inside the span passes on the child span, in the same trace
    assert res["seen"] == [f"00-{span['trace']}-{span['span']}-01"]


async def test_every_answer_says_nosniff_and_no_store_unless_the_route_caches(client, onboard):
    """Answers carry tenants' data (tax numbers, TCKNs, tokens): no MIME sniffing, nothing
    cached; the public key set keeps its own caching."""
    t = await onboard()
    auth = {"Authorization": f"Bearer {t['token']}"}
    for r in (await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=auth),  # a TCKN tenant
              await client("sms-send").get("/sms/not-an-id", headers=auth),               # a problem
              await client("sms-send").get("/nowhere"),                                      # the router's 404
              await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"})):  # 401
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url
        assert r.headers["cache-control"] == "no-store", r.request.url
    jwks = await client("token").get("/.well-known/jwks.json")
    assert jwks.headers["cache-control"] == "public, max-age=300" and jwks.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("trusted", "peer", "xff", "expect"), [
    ("", "127.0.0.1", ["203.0.113.7"], "127.0.0.1"),                     # no proxy trusted: the header is words
    ("10.0.0.0/8", "127.0.0.1", ["203.0.113.7"], "127.0.0.1"),           # the peer is no trusted proxy
    ("127.0.0.1/32", "127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
    ("127.0.0.1/32 10.0.0.0/8", "127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),  # the left end is the caller's
    ("127.0.0.1/32", "127.0.0.1", ["6.6.6.6", "203.0.113.9"], "203.0.113.9"),  # two headers: read as one list
    ("127.0.0.1/32", "127.0.0.1", ["not-an-ip"], "127.0.0.1"),
    ("127.0.0.1/32", "127.0.0.1", [], "127.0.0.1"),
])
def test_the_callers_address_believes_forwarded_for_only_from_trusted_proxies(monkeypatch, trusted, peer, xff, expect):
    from kopru.config import reset_settings
    from kopru.runtime.inputs import client_address

    monkeypatch.setenv("KOPRU_TRUSTED_PROXIES", trusted)
    reset_settings()
    try:
        assert client_address(peer, xff) == expect
    finally:
        monkeypatch.undo()
        reset_settings()


async def test_hsts_only_on_answers_that_went_out_over_tls(client, monkeypatch):
    """RFC 6797: Strict-Transport-Security over https only; behind a TLS-terminating proxy,
    only when that proxy is trusted (KOPRU_TRUSTED_PROXIES) and says https."""
    import httpx

    from kopru.config import reset_settings
    from kopru_tools.gateway import build_gateway

    app = build_gateway().apps["token"]
    url = "/.well-known/jwks.json"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kopru.example") as tls:
        assert (await tls.get(url)).headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    plain = await client("token").get(url)  # http://testserver, the ASGI peer 127.0.0.1
    assert "strict-transport-security" not in plain.headers
    forged = await client("token").get(url, headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in forged.headers  # nobody trusted: the header is words
    monkeypatch.setenv("KOPRU_TRUSTED_PROXIES", "127.0.0.1/32")
    reset_settings()
    try:
        behind = await client("token").get(url, headers={"X-Forwarded-Proto": "https"})
        assert behind.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "strict-transport-security" not in (await client("token").get(
            url, headers={"X-Forwarded-Proto": "https, http"})).headers  # the nearest hop spoke plain HTTP
    finally:
        monkeypatch.undo()
        reset_settings()


GC_CHECK = textwrap.dedent('''
    import asyncio, gc, json
    from starlette.requests import Request
    from kopru.runtime import Function, json_response

    fn = Function("gc-probe")

    @fn.route("GET", "/x", public=True, responses=(200,))
    async def x(call):
        return json_response({"collector_on": gc.isenabled()})

    def req(path):
        return Request({"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""})

    async def main():
        out = {"at_import": gc.isenabled()}
        await fn(req("/healthz"))
        out["after_healthz"] = gc.isenabled()
        r = await fn(req("/x"))
        out["during_first_real"] = json.loads(r.body)["collector_on"]
        await asyncio.sleep(0)  # the answer is out: the warm-up ends on the next turn of the loop
        out["after_first_real"] = gc.isenabled()
        out["frozen"] = gc.get_freeze_count()
        r = await fn(req("/x"))
        out["during_second"] = json.loads(r.body)["collector_on"]
        return out
    print(json.dumps(asyncio.run(main())))
''')


def test_the_collector_rests_through_the_first_real_request_then_runs_with_the_loaded_modules_frozen():
    """Cold start: the cyclic collector is off from a serving process's first request (the
    readiness probe) through its first real one, which imports the heavy libraries; then the
    loaded objects are frozen and collection resumes for good. Importing the runtime
    changes nothing (the CLI and the relay import it and never serve)."""
    out = subprocess.run([sys.executable, "-c", GC_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "WARNING"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res == {"at_import": True, "after_healthz": False, "during_first_real": False, "after_first_real": True,
                   "frozen": res["frozen"], "during_second": True}, res
    assert res["frozen"] > 10_000, res
