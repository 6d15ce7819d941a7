"""token: client_credentials (RFC 6749), JWKS, and the verification every function uses."""

import base64
import json
import time
from urllib.parse import quote

import jwt
import pytest

from tests.helpers import bearer, grant


async def test_client_credentials_basic_and_post(client, operator):
    basic = await grant(client, operator["client_id"], operator["client_secret"])
    assert basic["token_type"] == "Bearer" and basic["expires_in"] == 900 and basic["scope"] == "platform:admin"
    r = await client("token").post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": operator["client_id"],
        "client_secret": operator["client_secret"]})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert set(claims) >= {"iss", "sub", "aud", "exp", "iat", "jti", "scope"}
    assert claims["exp"] - claims["iat"] == 900 and "tenant_id" not in claims
    header = jwt.get_unverified_header(r.json()["access_token"])
    assert header["alg"] == "ES256" and header["kid"] and header["typ"] == "at+jwt"  # the default algorithm


async def test_basic_credentials_are_form_urlencoded_first(client, onboard):
    t = await onboard()
    # RFC 6749 2.3.1: id and secret are form-urlencoded, then base64'd
    raw = f"{quote(t['client_id'], safe='')}:{quote(t['client_secret'], safe='')}"
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   headers={"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()})
    assert r.status_code == 200
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["tenant_id"] == str(t["id"]) and "tenant:read" in claims["scope"].split()


async def test_scope_narrowing_and_refusal(client, onboard):
    t = await onboard()
    r = await grant(client, t["client_id"], t["client_secret"], scope="tenant:read")
    assert r["scope"] == "tenant:read"
    resp = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "platform:admin"},
                                      auth=(t["client_id"], t["client_secret"]))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("form,auth,status,error", [
    ({"grant_type": "client_credentials"}, ("kc_nope", "ks_nope"), 401, "invalid_client"),
    ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "x"}, "operator", 400, "unsupported_grant_type"),
    ({}, "operator", 400, "invalid_request"),
])
async def test_token_errors_in_rfc6749_form(client, operator, form, auth, status, error):
    if auth == "operator":
        auth = (operator["client_id"], operator["client_secret"])
    r = await client("token").post("/oauth2/token", data=form, auth=auth)
    assert r.status_code == status
    assert r.json()["error"] == error and "error_description" in r.json()
    if status == 401 and auth is not None:
        assert r.headers["www-authenticate"].startswith("Basic")


async def test_wrong_secret_and_two_auth_methods(client, operator):
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(operator["client_id"], operator["client_secret"] + "x"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client("token").post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_secret": operator["client_secret"]},
        auth=(operator["client_id"], operator["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_token_endpoint_takes_forms_only(client, operator):
    r = await client("token").post("/oauth2/token", json={"grant_type": "client_credentials"},
                                   auth=(operator["client_id"], operator["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    form = {"content-type": "application/x-www-form-urlencoded"}
    basic = (operator["client_id"], operator["client_secret"])
    # a parameter sent twice is refused (RFC 6749 3.1), an empty one among them too
    for body in (b"grant_type=client_credentials&grant_type=password",
                 b"grant_type=client_credentials&scope=&scope=platform%3Aadmin",
                 b"grant_type=client_credentials&scope=platform%3Aadmin&scope"):
        r = await client("token").post("/oauth2/token", content=body, headers=form, auth=basic)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", (body, r.text)
    # a parameter without a value is treated as omitted: the client's own scopes
    r = await client("token").post("/oauth2/token", content=b"grant_type=client_credentials&scope=", headers=form,
                                   auth=basic)
    assert r.status_code == 200 and r.json()["scope"] == "platform:admin", r.text


async def test_jwks_publishes_the_signing_key(client, operator):
    tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    r = await client("token").get("/.well-known/jwks.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/jwk-set+json")
    keys = {k["kid"]: k for k in r.json()["keys"]}
    kid = jwt.get_unverified_header(tok)["kid"]
    assert keys[kid]["kty"] == "EC" and keys[kid]["crv"] == "P-256" and "d" not in keys[kid]
    # a third party verifies our token with nothing but the JWKS
    pub = jwt.PyJWK(keys[kid]).key
    claims = jwt.decode(tok, pub, algorithms=["ES256"], audience="kopru")
    assert claims["scope"] == "platform:admin"


# -- attacks on verification: every function uses the same call ----------------

def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


async def _valid_parts(client, operator):
    tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    header = jwt.get_unverified_header(tok)
    claims = jwt.decode(tok, options={"verify_signature": False})
    return tok, header, claims


async def _sign_with_real_key(header_over: dict, claims: dict) -> str:
    from kopru.auth.keys import CACHE

    key = await CACHE.signing_key()
    return jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, **header_over})


async def _get(client, token):
    return await client("tenant-onboarding").get("/tenants/00000000-0000-4000-8000-000000000000",
                                                 headers=bearer(token))


async def test_alg_none_is_refused(client, operator):
    _, header, claims = await _valid_parts(client, operator)
    forged = _b64({"alg": "none", "kid": header["kid"], "typ": "JWT"}) + "." + _b64(claims) + "."
    r = await _get(client, forged)
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"


async def test_hs256_signed_with_the_public_key_is_refused(client, operator):
    _, header, claims = await _valid_parts(client, operator)
    jwks = (await client("token").get("/.well-known/jwks.json")).json()
    public_x = next(k for k in jwks["keys"] if k["kid"] == header["kid"])["x"]  # the key's public material
    import hashlib
    import hmac

    signing_input = _b64({"alg": "HS256", "kid": header["kid"]}) + "." + _b64(claims)
    for secret in (public_x.encode(), base64.urlsafe_b64decode(public_x + "==")):
        sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        forged = signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        r = await _get(client, forged)
        assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"


@pytest.mark.parametrize("kid", ["unknown-kid-123", "../../../../etc/passwd", "' or 1=1 --", "a" * 200, 7])
async def test_unknown_or_path_like_kid_is_refused(client, operator, kid):
    _, _, claims = await _valid_parts(client, operator)
    from kopru.auth.keys import CACHE

    key = await CACHE.signing_key()
    # the real key, a valid signature, only the kid is wrong (PyJWT signs whatever kid it is given)
    if isinstance(kid, str):
        forged = jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": kid})
    else:  # not a string: no library writes it, so the header is swapped in by hand
        real = jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid})
        forged = _b64({"alg": key.alg, "kid": kid}) + "." + real.split(".", 1)[1]
    r = await _get(client, forged)
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"


@pytest.mark.parametrize("change,code", [
    ({"exp": -120}, "auth.token_expired"),
    ({"nbf": 3600, "iat": 0}, "auth.invalid_token"),
    ({"aud": "someone-else"}, "auth.invalid_token"),
    ({"iss": "https://evil.example"}, "auth.invalid_token"),
    ({"jti": None}, "auth.invalid_token"),
])
async def test_claims_are_checked(client, operator, change, code):
    _, _, claims = await _valid_parts(client, operator)
    now = int(time.time())
    for k, v in change.items():
        if v is None:
            claims.pop(k)
        elif k in ("exp", "nbf", "iat"):
            claims[k] = now + v
        else:
            claims[k] = v
    r = await _get(client, await _sign_with_real_key({}, claims))
    assert r.status_code == 401 and r.json()["code"] == code


async def test_expiry_leeway_is_small(client, operator):
    _, _, claims = await _valid_parts(client, operator)
    claims["exp"] = int(time.time()) - 10  # inside the 30 s leeway
    r = await _get(client, await _sign_with_real_key({}, claims))
    assert r.status_code == 404  # authenticated; the tenant just doesn't exist


async def test_tampered_payload_is_refused(client, operator, onboard):
    t = await onboard()
    tok = t["token"]
    h, p, s = tok.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    claims["scope"] = "platform:admin"
    claims.pop("tenant_id")
    r = await _get(client, f"{h}.{_b64(claims)}.{s}")
    assert r.status_code == 401


async def test_garbage_bearer(client):
    for token in ("", "abc", "a.b.c", "Bearer"):
        r = await client("tenant-onboarding").get("/tenants/x", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


async def test_a_cached_verification_still_expires(client, operator):
    import asyncio

    from kopru.auth.tokens import verify_access_token
    from kopru.errors import KopruError

    _, _, claims = await _valid_parts(client, operator)
    claims["exp"] = int(time.time()) - 28  # inside the 30 s leeway, for 2 more seconds
    tok = await _sign_with_real_key({}, claims)
    assert (await verify_access_token(tok)).token_id == claims["jti"]  # verified and cached
    await asyncio.sleep(3)
    with pytest.raises(KopruError) as e:
        await verify_access_token(tok)
    assert e.value.code == "auth.token_expired"


async def test_strict_base64_and_shape(client, operator):
    tok = (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]
    h, p, s = tok.split(".")
    for bad in (f"{h}.{p}.{s}=", f"{h}.{p}!.{s}", f"{h}.{p}", f"{h}.{p}.{s}.x", f"{h}=.{p}.{s}"):
        r = await _get(client, bad)
        assert r.status_code == 401, bad
