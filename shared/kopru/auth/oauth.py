"""The OAuth 2.0 token endpoint (RFC 6749) with its own error form (section 5.2)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
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
        headers = {"WWW-Authenticate": 'Basic realm="kopru"'} if basic else {}
        raise OAuthError("invalid_client", "client authentication failed", 401, headers)
    return client


def _scopes(requested: str | None, allowed: frozenset[str]) -> list[str]:
    if requested is None or not requested.strip():
        return sorted(allowed)
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise OAuthError("invalid_scope", "the requested scope exceeds what the client was granted")
    return sorted(wanted)


async def token_endpoint(call):
    from kopru.auth.tokens import issue_access_token

    try:
        try:
            form = await call.form()
        except KopruError as err:
            if err.code == "request.too_large":
                raise
            raise OAuthError("invalid_request", err.detail or "the body must be application/x-www-form-urlencoded") from None
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant == "client_credentials":
            client = await _client(call, form)
            scopes = _scopes(form.get("scope"), client.scopes)
            token, expires_in, _ = await issue_access_token(client.client_id, client.tenant_id, scopes,
                                                             extra={"client_id": client.client_id})
            return json_response(
                {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": " ".join(scopes)},
                200, NO_STORE,
            )
        raise OAuthError("unsupported_grant_type", f"grant_type {grant[:40]!r} is not supported")
    except OAuthError as err:
        return err.response()


async def jwks_endpoint(call):
    from kopru.auth.keys import CACHE

    return json_response(await CACHE.jwks(), 200, {"Cache-Control": "public, max-age=300"},
                         media_type="application/jwk-set+json")
