"""token: password and refresh grants (rotation, reuse detection, grace window),
revocation, introspection, rate limits, key rotation, client management."""

import asyncio
import time

import jwt
import pytest

from tests.helpers import bearer, grant

ADMIN_PW = "çok-gizli-parola-123"


async def password(client, t, username="yonetici@anadolu.com.tr", pw=ADMIN_PW, **extra):
    return await client("token").post("/oauth2/token", data={
        "grant_type": "password", "username": username, "password": pw, "tenant": t["tenant"]["subdomain"], **extra},
        auth=(t["client_id"], t["client_secret"]))


async def refresh(client, t, token):
    return await client("token").post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token},
                                      auth=(t["client_id"], t["client_secret"]))


async def test_password_grant_gives_user_token_and_refresh_token(client, onboard):
    t = await onboard()
    r = await password(client, t, username="YONETICI@anadolu.com.tr")  # Turkish case folding
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"].startswith(f"rt_{t['id'].hex}_")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == t["admin_user_id"] and claims["tenant_id"] == str(t["id"])
    assert claims["client_id"] == t["client_id"] and "tenant:admin" in claims["scope"].split()
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=bearer(body["access_token"]))
    assert r.status_code == 200


async def test_password_grant_refuses_wrong_password_other_tenant_and_throttles(client, onboard, services):
    a, b = await onboard(), await onboard()
    r = await password(client, a, pw="yanlış-parola-1234")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # tenant B's subdomain with tenant A's client: same answer as a wrong password
    r = await client("token").post("/oauth2/token", data={
        "grant_type": "password", "username": "yonetici@anadolu.com.tr", "password": ADMIN_PW,
        "tenant": b["tenant"]["subdomain"]}, auth=(a["client_id"], a["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    for _ in range(4):
        await password(client, a, pw="yanlış-parola-1234")
    # five failures: even the right password is now refused, with Retry-After
    r = await password(client, a)
    assert r.status_code == 400 and int(r.headers["retry-after"]) > 0
    # nothing personal in Redis keys
    import redis

    keys = [k.decode() for k in redis.Redis.from_url(__import__("os").environ["REDIS_URL"]).keys("kopru:fail:*")]
    assert keys and not any("@" in k or "yonetici" in k for k in keys)
    # nor a plain hash of the address one could match by trying addresses, nor the IP
    import hashlib

    plain = hashlib.sha256(b"yonetici@anadolu.com.tr").hexdigest()[:32]
    assert not any(plain in k or "127.0.0.1" in k for k in keys)


async def test_refresh_rotates_and_reuse_revokes_the_family(client, onboard, db):
    t = await onboard()
    first = (await password(client, t)).json()
    r1 = await refresh(client, t, first["refresh_token"])
    assert r1.status_code == 200
    second = r1.json()
    assert second["refresh_token"] != first["refresh_token"]
    r2 = await refresh(client, t, second["refresh_token"])
    assert r2.status_code == 200
    third = r2.json()
    # the first token, two generations old: reuse, never in grace
    r = await refresh(client, t, first["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # the whole family is dead, including the newest token
    r = await refresh(client, t, third["refresh_token"])
    assert r.status_code == 400
    ev = db.execute("select type, data from outbox where tenant_id = %s and type = %s",
                    (str(t["id"]), "kopru.auth.token_reuse_detected.v1")).fetchall()
    assert len(ev) == 1 and ev[0][1]["client_id"] == t["client_id"] and ev[0][1]["generation"] == 0
    assert db.execute("select count(*) from audit_log where tenant_id = %s and action = 'auth.refresh_reuse_detected'",
                      (str(t["id"]),)).fetchone()[0] == 1


async def test_two_tabs_refreshing_at_once_both_get_the_same_successor_within_grace(client, onboard, db):
    """Inside the grace a spent token answers the same successor every time (5 of 5), never
    a new sibling; the family stays one line, and that successor goes on."""
    t = await onboard()
    first = (await password(client, t)).json()["refresh_token"]
    answers = await asyncio.gather(*(refresh(client, t, first) for _ in range(5)))
    assert [r.status_code for r in answers] == [200] * 5
    assert len({r.json()["refresh_token"] for r in answers}) == 1
    assert db.execute("select count(*) from refresh_tokens where tenant_id = %s", (str(t["id"]),)).fetchone()[0] == 2
    nxt = await refresh(client, t, answers[0].json()["refresh_token"])
    assert nxt.status_code == 200
    # the successor was used: the first token's grace answer is forgotten (not kept in the database)
    assert db.execute("select count(*) from refresh_tokens where tenant_id = %s and successor_enc is not null "
                      "and generation = 0", (str(t["id"]),)).fetchone()[0] == 0


async def test_grace_window_ends(client, onboard, db):
    t = await onboard()
    first = (await password(client, t)).json()["refresh_token"]
    assert (await refresh(client, t, first)).status_code == 200
    db.execute("update refresh_tokens set used_at = used_at - interval '11 seconds' where tenant_id = %s and generation = 0",
               (str(t["id"]),))
    r = await refresh(client, t, first)
    assert r.status_code == 400 and "already used" in r.json()["error_description"]


async def test_refresh_from_another_client_is_refused(client, onboard):
    t = await onboard()
    rt = (await password(client, t)).json()["refresh_token"]
    other = (await client("tenant-onboarding").post(
        f"/tenants/{t['id']}/clients", json={"name": "second"}, headers=bearer(t["token"]))).json()
    r = await client("token").post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                                   auth=(other["client_id"], other["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (await refresh(client, t, rt)).status_code == 200  # not spent by the failed attempt


@pytest.mark.parametrize("bad", ["rt_nothex_x", "rt_" + "0" * 32 + "_" + "A" * 43, "", "x" * 300])
async def test_forged_refresh_tokens(client, onboard, bad):
    t = await onboard()
    r = await refresh(client, t, bad)
    assert r.status_code == 400 and r.json()["error"] in ("invalid_grant", "invalid_request")


async def test_revoked_access_token_is_refused_everywhere_until_it_expires(client, onboard, services):
    t = await onboard()
    tok = t["token"]
    assert (await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=bearer(tok))).status_code == 200
    r = await client("token").post("/oauth2/revoke", data={"token": tok}, auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 200
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=bearer(tok))
    assert r.status_code == 401 and r.json()["code"] == "auth.token_revoked"
    # the denylist entry lives as long as the token could still pass
    import os

    import redis

    jti = jwt.decode(tok, options={"verify_signature": False})
    ttl = redis.Redis.from_url(os.environ["REDIS_URL"]).ttl(f"kopru:deny:{jti['jti']}")
    assert jti["exp"] - time.time() < ttl <= jti["exp"] - time.time() + 61


async def test_revoke_refresh_token_kills_its_family(client, onboard):
    t = await onboard()
    first = (await password(client, t)).json()["refresh_token"]
    second = (await refresh(client, t, first)).json()["refresh_token"]
    r = await client("token").post("/oauth2/revoke", data={"token": second, "token_type_hint": "refresh_token"},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 200
    assert (await refresh(client, t, second)).status_code == 400


async def test_introspection(client, onboard, operator):
    t = await onboard()
    pw = (await password(client, t)).json()
    r = await client("token").post("/oauth2/introspect", data={"token": pw["access_token"]},
                                   auth=(t["client_id"], t["client_secret"]))
    body = r.json()
    assert body["active"] is True and body["sub"] == t["admin_user_id"] and body["tenant_id"] == str(t["id"])
    assert body["scope"] == pw["scope"]  # RFC 7662 2.2: what the token may do (it was lost in a comment)
    r = await client("token").post("/oauth2/introspect", data={"token": pw["refresh_token"]},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.json()["active"] is True and r.json()["token_type"] == "refresh_token"
    # the operator may introspect anything; garbage is simply inactive
    r = await client("token").post("/oauth2/introspect", data={"token": pw["access_token"]},
                                   auth=(operator["client_id"], operator["client_secret"]))
    assert r.json()["active"] is True
    r = await client("token").post("/oauth2/introspect", data={"token": "garbage"},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.json() == {"active": False}
    r = await client("token").post("/oauth2/introspect", data={"token": pw["access_token"]})
    assert r.status_code == 401


async def test_rate_limit_answers_429_with_retry_after(client, onboard):
    t = await onboard(plan="trial")  # 60 a minute, bursts of 6
    codes = []
    for _ in range(12):
        r = await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=bearer(t["token"]))
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "auth.rate_limited"
    assert codes[0] == 200 and 429 in codes
    # another tenant is not slowed down by it
    other = await onboard(plan="trial")
    r = await client("tenant-onboarding").get(f"/tenants/{other['id']}", headers=bearer(other["token"]))
    assert r.status_code == 200


async def test_tenant_admin_manages_clients(client, onboard):
    t = await onboard(plan="trial")  # at most 2 API clients
    h = bearer(t["token"])
    r = await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients", json={"name": "erp", "scopes": ["sms:send"]}, headers=h)
    assert r.status_code == 201 and r.json()["scopes"] == ["sms:send"]
    erp = r.json()
    tok = await grant(client, erp["client_id"], erp["client_secret"])
    assert tok["scope"] == "sms:send"
    r = await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients", json={"name": "third"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "tenant.plan_limit"
    r = await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients", json={"name": "x", "scopes": ["platform:admin"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "auth.unknown_scope"
    listed = (await client("tenant-onboarding").get(f"/tenants/{t['id']}/clients", headers=h)).json()["clients"]
    assert {c["client_id"] for c in listed} == {t["client_id"], erp["client_id"]}
    assert all("secret" not in str(c) for c in listed)
    r = await client("tenant-onboarding").delete(f"/tenants/{t['id']}/clients/{erp['client_id']}", headers=h)
    assert r.status_code == 204
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(erp["client_id"], erp["client_secret"]))
    assert r.status_code == 401
    # a token with only sms:send can't manage clients
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}/clients", headers=bearer(tok["access_token"]))
    assert r.status_code in (401, 403)


async def test_key_rotation_publishes_before_signing_and_keeps_old_keys(client, operator):
    from kopru import admin
    from kopru.auth.keys import CACHE

    old_tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    old_kid = jwt.get_unverified_header(old_tok)["kid"]
    info = await asyncio.to_thread(admin.rotate_signing_key)
    CACHE.clear()
    kids = {k["kid"] for k in (await client("token").get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, info["kid"]} <= kids  # the next key is published ...
    new_tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    assert jwt.get_unverified_header(new_tok)["kid"] == old_kid  # ... but does not sign for 5 minutes
    await asyncio.to_thread(admin.rotate_signing_key, immediate=True)
    CACHE.clear()
    newest = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    assert jwt.get_unverified_header(newest)["kid"] != old_kid
    # tokens signed by retired keys still verify until they expire
    r = await client("tenant-onboarding").get("/tenants/00000000-0000-4000-8000-000000000000", headers=bearer(old_tok))
    assert r.status_code == 404


async def test_client_cache_honours_revocation_by_another_process_within_its_ttl(client, onboard, db):
    from kopru.auth import clients

    t = await onboard()
    await grant(client, t["client_id"], t["client_secret"])  # cached now
    # revoked elsewhere (another instance, the CLI): this instance still has it cached ...
    db.execute("update api_clients set revoked_at = now() where client_id = %s", (t["client_id"],))
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 200
    # ... a wrong secret is still refused from the cache ...
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(t["client_id"], t["client_secret"] + "x"))
    assert r.status_code == 401
    # ... and once the TTL passed, the revocation holds
    expires, secret_hash, cached = clients._CACHE[t["client_id"]]
    clients._CACHE[t["client_id"]] = (expires - 3600, secret_hash, cached)  # the TTL has passed
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 401


async def test_rs256_keys_sign_and_verify_too(client, operator, onboard):
    from kopru import admin
    from kopru.auth.keys import CACHE

    await asyncio.to_thread(admin.rotate_signing_key, "RS256", immediate=True)
    CACHE.clear()
    try:
        tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
        header = jwt.get_unverified_header(tok)
        assert header["alg"] == "RS256"
        jwks = (await client("token").get("/.well-known/jwks.json")).json()
        rsa = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        assert rsa["kty"] == "RSA" and "d" not in rsa
        assert jwt.decode(tok, jwt.PyJWK(rsa).key, algorithms=["RS256"], audience="kopru")["scope"] == "platform:admin"
        r = await client("tenant-onboarding").get("/tenants/00000000-0000-4000-8000-000000000000", headers=bearer(tok))
        assert r.status_code == 404  # authenticated by our own verifier
    finally:
        await asyncio.to_thread(admin.rotate_signing_key, immediate=True)  # back to the default algorithm
        CACHE.clear()


async def _works(client, t, token) -> int:
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}", headers=bearer(token))
    assert r.status_code in (200, 401), r.text
    if r.status_code == 401:
        assert r.json()["code"] == "auth.token_revoked" and "invalid_token" in r.headers["www-authenticate"]
    return r.status_code


async def test_revoking_a_client_stops_its_access_tokens_at_once(client, onboard):
    """Not 15 minutes later: every token the client was given is refused from the moment
    it is revoked; the tenant's other clients go on."""
    t = await onboard()
    h = bearer(t["token"])
    erp = (await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients",
                                                  json={"name": "erp", "scopes": ["tenant:read"]}, headers=h)).json()
    tokens = [(await grant(client, erp["client_id"], erp["client_secret"]))["access_token"] for _ in range(2)]
    assert [await _works(client, t, tok) for tok in tokens] == [200, 200]
    assert (await client("tenant-onboarding").delete(f"/tenants/{t['id']}/clients/{erp['client_id']}",
                                                     headers=h)).status_code == 204
    assert [await _works(client, t, tok) for tok in tokens] == [401, 401]
    assert await _works(client, t, t["token"]) == 200  # another client of the same tenant


async def test_revoking_a_refresh_family_or_reusing_its_token_stops_its_access_tokens(client, onboard):
    t = await onboard()
    first = (await password(client, t)).json()
    second = (await refresh(client, t, first["refresh_token"])).json()
    other = (await password(client, t)).json()  # another login: another family
    assert [await _works(client, t, x["access_token"]) for x in (first, second, other)] == [200, 200, 200]
    r = await client("token").post("/oauth2/revoke", data={"token": second["refresh_token"]},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 200
    assert [await _works(client, t, x["access_token"]) for x in (first, second, other)] == [401, 401, 200]
    # a stolen refresh token replayed (two generations old: no grace): the family is revoked,
    # and so are the access tokens it gave
    a = (await refresh(client, t, other["refresh_token"])).json()
    b = (await refresh(client, t, a["refresh_token"])).json()
    assert (await refresh(client, t, other["refresh_token"])).status_code == 400
    assert [await _works(client, t, x["access_token"]) for x in (other, a, b)] == [401, 401, 401]
    assert await _works(client, t, t["token"]) == 200  # the client's own token has no family


async def test_tokens_name_their_plan_and_a_user_token_its_refresh_family(client, onboard):
    """The plan decides the tenant's rate (a lost claim means the trial rate for everyone);
    the family is what revoking a refresh family stops."""
    t = await onboard(plan="professional")
    app = jwt.decode(t["token"], options={"verify_signature": False})
    assert app["plan"] == "professional" and "fam" not in app
    user = jwt.decode((await password(client, t)).json()["access_token"], options={"verify_signature": False})
    assert user["plan"] == "professional" and len(user["fam"]) == 36


async def test_guessing_a_client_secret_meets_a_limit_and_every_401_challenges(client, onboard):
    """20 wrong secrets for one client in 15 minutes, then a wrong secret gets 429 with
    Retry-After; its right secret still gets a token (whoever knows a client id can't lock
    the integration out); other clients go on. Every 401 carries WWW-Authenticate,
    client_secret_post's included. No answer quotes what was sent."""
    t, other = await onboard(), await onboard()
    form = {"grant_type": "client_credentials"}
    for i in range(20):
        r = await client("token").post("/oauth2/token", data={**form, "client_id": t["client_id"],
                                                              "client_secret": f"guess-{i}"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic"), r.text
        assert "guess" not in r.text
    r = await client("token").post("/oauth2/token", data={**form, "client_id": t["client_id"], "client_secret": "guess-20"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and r.json()["error"] == "invalid_client"
    assert "guess" not in r.text
    r = await client("token").post("/oauth2/token", data=form, auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 200 and r.json()["access_token"], r.text
    assert (await client("token").post("/oauth2/token", data=form,
                                       auth=(other["client_id"], other["client_secret"]))).status_code == 200
    r = await client("token").post("/oauth2/token", content=b"grant_type=client_credentials&zq%3Cevil%3E=1&zq%3Cevil%3E=2",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   auth=(other["client_id"], other["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request" and "evil" not in r.text


async def test_the_per_address_password_throttle_follows_the_trusted_proxy_chain(client, onboard, monkeypatch):
    """Behind a trusted proxy, 30 failed logins from one address (unknown users: the
    per-user limit is not what stops them) block that address; another address goes on."""
    from kopru.config import reset_settings

    monkeypatch.setenv("KOPRU_TRUSTED_PROXIES", "127.0.0.1/32")
    reset_settings()
    try:
        t = await onboard()
        spoofed = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}  # the caller wrote 6.6.6.6; the proxy saw .23
        for i in range(30):
            r = await client("token").post("/oauth2/token", data={
                "grant_type": "password", "username": f"nobody{i}@anadolu.com.tr", "password": "x" * 12,
                "tenant": t["tenant"]["subdomain"]}, auth=(t["client_id"], t["client_secret"]), headers=spoofed)
            assert r.status_code == 400 and "retry-after" not in r.headers, (i, r.text)
        r = await client("token").post(
            "/oauth2/token", data={"grant_type": "password", "username": "yonetici@anadolu.com.tr",
                                   "password": ADMIN_PW, "tenant": t["tenant"]["subdomain"]},
            auth=(t["client_id"], t["client_secret"]), headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.23"})
        assert r.status_code == 400 and int(r.headers["retry-after"]) > 0  # that address is blocked, whatever it claims
        r = await client("token").post("/oauth2/token", data={
            "grant_type": "password", "username": "yonetici@anadolu.com.tr", "password": ADMIN_PW,
            "tenant": t["tenant"]["subdomain"]}, auth=(t["client_id"], t["client_secret"]),
            headers={"X-Forwarded-For": "198.51.100.24"})
        assert r.status_code == 200, r.text  # another address
    finally:
        monkeypatch.undo()
        reset_settings()


def test_a_given_operator_secret_must_be_as_long_as_a_minted_one():
    """The token endpoint never locks a client out for wrong secrets, so a secret an operator
    sets (KOPRU_OPERATOR_CLIENT_SECRET) must be unguessable: shorter than a minted one's random
    part is refused before anything is written."""
    from kopru import admin

    with pytest.raises(SystemExit, match="at least 43"):
        admin.ensure_platform_client("kc_operator_short", "operator-secret-1")
