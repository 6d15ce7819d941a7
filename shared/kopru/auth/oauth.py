"""The OAuth 2.0 token endpoint (RFC 6749) with its own error form (section 5.2)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote_plus

from kopru.errors import KopruError
from kopru.runtime.function import json_response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class OAuthError(Exception):
    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def response(self):
        return json_response({"error": self.error, "error_description": self.description},
                             self.status, {**NO_STORE, **self.headers})


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", 401,
                         {"WWW-Authenticate": 'Basic realm="kopru"'}) from None
    cid, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401,
                         {"WWW-Authenticate": 'Basic realm="kopru"'})
    # RFC 6749 2.3.1: id and secret are form-urlencoded before base64
    return unquote_plus(cid), unquote_plus(secret)


async def _client(call, form: dict[str, str]):
    from kopru.auth.clients import authenticate_client

    basic = _basic_credentials(call.headers.get("authorization"))
    posted = "client_secret" in form
    if basic and posted:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    if basic:
        cid, secret = basic
        if form.get("client_id") not in (None, cid):
            raise OAuthError("invalid_request", "client_id does not match the Basic credentials")
    elif posted:
        cid, secret = form.get("client_id", ""), form["client_secret"]
    else:
        raise OAuthError("invalid_client", "client authentication required", 401,
                         {"WWW-Authenticate": 'Basic realm="kopru"'})
    client = await authenticate_client(cid, secret)
    if client is None:
        from kopru.auth import limits

        # guessing a client's secret is hopeless (256 bits: new_client_secret; a given operator
        # secret must be as long, kopru.admin), so the throttle never stands between a client and
        # its right secret: nobody who knows a client id can lock its integration out by spraying
        # wrong secrets, and a grant with the right secret makes no Redis round trip. Past
        # MAX_FAILS_CLIENT failures in the window a wrong secret gets 429 with Retry-After instead
        # of 401: it slows a misconfigured or guessing caller, it does not guard the secret.
        key = limits.client_key(cid)
        wait = await limits.login_blocked(key, None, max_fails=limits.MAX_FAILS_CLIENT)
        if wait:
            raise OAuthError("invalid_client", "too many failed client authentications; retry later", 429,
                             {"Retry-After": str(wait)})
        await limits.record_login_failure(key, None)
        # on every 401, whichever method was tried (RFC 6749 5.2 requires it for Basic; RFC 7235 for any 401)
        raise OAuthError("invalid_client", "client authentication failed", 401,
                         {"WWW-Authenticate": 'Basic realm="kopru"'})
    return client


def _scopes(requested: str | None, allowed: frozenset[str]) -> list[str]:
    """What a token gets: the requested scopes (default: all), within what the client
    was granted and what Köprü knows (kopru.auth.scopes: a scope dropped from the
    table is never issued again, whatever a stored grant says)."""
    allowed = _known(allowed)
    if requested is None or not requested.strip():
        return sorted(allowed)
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise OAuthError("invalid_scope", "the requested scope exceeds what the client was granted")
    return sorted(wanted)


@lru_cache(maxsize=4096)
def _known(granted: frozenset[str]) -> frozenset[str]:
    """A client's granted scopes that Köprü still knows (one client's grant is the same
    frozenset on every grant while its record is cached)."""
    from kopru.auth.scopes import SCOPES

    return frozenset(s for s in granted if s in SCOPES)


def _form_error(err: KopruError) -> OAuthError:
    if err.code == "request.too_large":
        raise err
    return OAuthError("invalid_request", err.detail or "the body must be application/x-www-form-urlencoded")


async def _read_form(call) -> dict[str, str]:
    try:
        return await call.form()
    except KopruError as err:
        raise _form_error(err) from None


def _token_response(access: str, expires_in: int, scopes: list[str], refresh: str | None = None):
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "scope": " ".join(scopes)}
    if refresh:
        body["refresh_token"] = refresh
    return json_response(body, 200, NO_STORE)


async def token_endpoint(call):
    from kopru.auth.tokens import issue_access_token

    try:
        form = await _read_form(call)
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant not in ("client_credentials", "password", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"grant_type {grant[:40]!r} is not supported")
        client = await _client(call, form)
        if grant == "client_credentials":
            scopes = _scopes(form.get("scope"), client.scopes)
            token, expires_in, _ = await issue_access_token(client.client_id, client.tenant_id, scopes,
                                                             client_id=client.client_id, plan=client.plan)
            return _token_response(token, expires_in, scopes)
        if grant == "password":
            return await _password_grant(call, form, client)
        return await _refresh_grant(form, client)
    except OAuthError as err:
        return err.response()



@lru_cache(maxsize=1)
def _pseudonym_key() -> bytes:
    from kopru.auth.crypto import master_key

    return hmac.new(master_key(), b"kopru/login-limit/v1", hashlib.sha256).digest()


def _pseudonym(value: str) -> str:
    """A keyed fingerprint (HMAC-SHA256 with a master-key-derived key) for the login limiter's keys."""
    return hmac.new(_pseudonym_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


async def _password_grant(call, form: dict[str, str], client):
    import asyncio

    from kopru.auth import limits
    from kopru.auth.clients import ROLE_SCOPES
    from kopru.auth.crypto import dummy_password_check, verify_password
    from kopru.auth.refresh import issue as issue_refresh
    from kopru.auth.tokens import issue_access_token
    from kopru.db import platform_transaction, tenant_transaction
    from kopru.text import fold_email

    username, password, subdomain = form.get("username"), form.get("password"), form.get("tenant")
    if not username or not password or not subdomain:
        raise OAuthError("invalid_request", "username, password and tenant are required")
    if len(username) > 254 or len(password) > 256 or len(subdomain) > 63:
        raise OAuthError("invalid_request", "a parameter is too long")
    if client.tenant_id is None:
        raise OAuthError("unauthorized_client", "platform clients cannot use the password grant")
    async with platform_transaction() as conn:
        tenant_id = (await conn.execute("select tenant_id from tenant_directory where subdomain = %(s)s",
                                        {"s": subdomain})).scalar()
    if tenant_id != client.tenant_id:
        # another tenant's (or no) subdomain: indistinguishable from a wrong password
        await asyncio.to_thread(dummy_password_check)
        raise OAuthError("invalid_grant", "invalid username or password")
    fold = fold_email(username)
    # no e-mail and no address in Redis, and no plain hash of them either (one could try
    # candidate addresses against it): keyed fingerprints
    user_key = f"{tenant_id}:{_pseudonym(f'{tenant_id}:{fold}')}"
    ip = _pseudonym(call.client_ip) if call.client_ip else None
    wait = await limits.login_blocked(user_key, ip)
    if wait:
        raise OAuthError("invalid_grant", "too many failed attempts; try again later", 400,
                         {"Retry-After": str(wait)})
    async with tenant_transaction(tenant_id, actor=client.client_id) as tx:
        user = (await tx.execute("select id, password_hash, role from users where email_fold = %(f)s",
                                 {"f": fold})).first()
        plan = (await tx.execute("select plan from tenants where id = %(id)s", {"id": tenant_id})).scalar()
    ok = await asyncio.to_thread(verify_password, password, user.password_hash) if user else \
        await asyncio.to_thread(dummy_password_check)
    if not ok or user is None:
        await limits.record_login_failure(user_key, ip)
        raise OAuthError("invalid_grant", "invalid username or password")
    await limits.clear_login_failures(user_key)
    allowed = ROLE_SCOPES[user.role] & client.scopes
    scopes = _scopes(form.get("scope"), frozenset(allowed))
    async with tenant_transaction(tenant_id, actor=client.client_id) as tx:
        refresh, family = await issue_refresh(tx, client_id=client.client_id, user_id=user.id, scopes=scopes)
    token, expires_in, _ = await issue_access_token(str(user.id), tenant_id, scopes, client_id=client.client_id, plan=plan,
                                                    family_id=family)
    return _token_response(token, expires_in, scopes, refresh)


async def _refresh_grant(form: dict[str, str], client):
    from kopru.auth.refresh import InvalidGrant, rotate
    from kopru.auth.tokens import issue_access_token
    from kopru.db import tenant_transaction

    token = form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required")
    try:
        rotated = await rotate(client.client_id, client.tenant_id, token)
    except InvalidGrant as exc:
        raise OAuthError("invalid_grant", str(exc)) from None
    scopes = rotated.scopes
    if form.get("scope"):
        scopes = _scopes(form["scope"], frozenset(rotated.scopes))  # may narrow, never widen (RFC 6749 6)
    async with tenant_transaction(rotated.tenant_id, actor=client.client_id) as tx:
        plan = (await tx.execute("select plan from tenants where id = %(id)s", {"id": rotated.tenant_id})).scalar()
    access, expires_in, _ = await issue_access_token(str(rotated.user_id), rotated.tenant_id, scopes,
                                                      client_id=client.client_id, plan=plan, family_id=rotated.family_id)
    return _token_response(access, expires_in, scopes, rotated.refresh_token)


async def _client_and_token(call):
    """RFC 7009/7662 requests: an authenticated client and the `token` it names."""
    form = await _read_form(call)
    client = await _client(call, form)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    return client, token, client.tenant_id is None and "platform:admin" in client.scopes


async def _access_principal(token: str):
    from kopru.auth.tokens import verify_access_token

    try:
        return await verify_access_token(token)
    except KopruError:
        return None


async def revoke_endpoint(call):
    """RFC 7009: always 200 for a well-formed request by an authenticated client;
    a token that is unknown, invalid or not the client's is simply not revoked."""
    from kopru.auth import limits
    from kopru.auth.refresh import revoke_family

    try:
        client, token, is_operator = await _client_and_token(call)
        if token.startswith("rt_"):
            await revoke_family(client.client_id, client.tenant_id, token)
        else:
            p = await _access_principal(token)
            if p is not None and (p.client_id == client.client_id or is_operator):
                await limits.deny(p.token_id, p.expires_at)
        return json_response({}, 200, NO_STORE)
    except OAuthError as err:
        return err.response()


async def introspect_endpoint(call):
    """RFC 7662, for confidential clients. A tenant's client sees only its tenant's tokens."""
    from kopru.auth import limits
    from kopru.auth.refresh import describe
    from kopru.config import settings

    try:
        client, token, is_operator = await _client_and_token(call)
        if token.startswith("rt_"):
            return json_response(await describe(client.tenant_id, is_operator, token) or {"active": False}, 200, NO_STORE)
        p = await _access_principal(token)
        if p is None or (not is_operator and p.tenant_id != client.tenant_id) or await limits.is_denied(p.token_id):
            return json_response({"active": False}, 200, NO_STORE)
        s = settings()
        body = {"active": True, "token_type": "Bearer",  # RFC 7662 2.2: the type of RFC 6749 7.1
                "scope": " ".join(sorted(p.scopes)), "client_id": p.client_id, "sub": p.subject, "exp": p.expires_at, "iat": p.issued_at,
                "jti": p.token_id, "iss": s.issuer, "aud": s.audience}
        if p.tenant_id:
            body["tenant_id"] = str(p.tenant_id)
        return json_response(body, 200, NO_STORE)
    except OAuthError as err:
        return err.response()


async def jwks_endpoint(call):
    from kopru.auth.keys import CACHE

    return json_response(await CACHE.jwks(), 200, {"Cache-Control": "public, max-age=300"},
                         media_type="application/jwk-set+json")


def metadata() -> dict:
    """RFC 8414 authorization-server metadata: the issuer (KOPRU_ISSUER, the public URL the
    token function is served at), its endpoints under it, and what it supports. Served at
    `/.well-known/oauth-authorization-server` and, for clients that only know OpenID
    Connect discovery, `/.well-known/openid-configuration` (the same document: Köprü issues
    no ID tokens, so it claims no OpenID Provider fields)."""
    from kopru.auth.scopes import SCOPES
    from kopru.config import settings

    issuer = settings().issuer.rstrip("/")
    methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", "password", "refresh_token"],
        "response_types_supported": [],  # no authorization endpoint: token-endpoint grants only
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "scopes_supported": sorted(SCOPES),
    }
