"""Access tokens: JWTs signed with the current key (ES256 by default), verified by one
call everywhere, both through PyJWT (no hand-written JWS).

Verification refuses kids that are not ours and headers whose `alg` is not the key's
(or that carry `crit`), then has PyJWT check the signature with the key's own algorithm,
`iss`, `aud`, `exp`/`nbf` with a small leeway and the required claims. A token verified
once is kept in the verified-token cache until it expires.
"""

from __future__ import annotations

import binascii
import json
import secrets
import time
import uuid
from typing import Any

# the verified-token cache is the key cache's (emptied when the key set changes): keys
# owns it, so the arrow runs tokens -> keys only
from kopru.auth.keys import CACHE, KID_RE, LEEWAY_SECONDS, VERIFIED_MAX, forget_verified  # noqa: F401
from kopru.auth.keys import VERIFIED as _VERIFIED
from kopru.auth.principal import Principal
from kopru.config import settings
from kopru.errors import KopruError

REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "scope"]


async def issue_access_token(subject: str, tenant_id: uuid.UUID | None, scopes: list[str], *,
                             client_id: str, plan: str | None = None, ttl: int | None = None,
                             family_id: uuid.UUID | None = None) -> tuple[str, int, str]:
    """Returns (token, expires_in, jti): a compact JWS that PyJWT signs with the current
    key (the header names it by `kid`, `typ` at+jwt, RFC 9068)."""
    s = settings()
    key = await CACHE.signing_key()
    now = int(time.time())
    ttl = ttl or s.access_token_ttl
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": s.issuer,
        "sub": subject,
        "aud": s.audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": jti,
        "scope": " ".join(sorted(scopes)),
        "client_id": client_id,
    }
    if tenant_id is not None:
        claims["tenant_id"] = str(tenant_id)
        claims["plan"] = plan
    if family_id is not None:
        claims["fam"] = str(family_id)  # its refresh family: revoking the family stops this token too
    import jwt

    token = jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})
    return token, ttl, jti


def _b64(part: str) -> bytes:
    # strict base64url without padding (RFC 7515 2): anything else is not our token
    if "=" in part:
        raise KopruError("auth.invalid_token")
    try:
        return binascii.a2b_base64((part + "=" * (-len(part) % 4)).translate(_URLSAFE), strict_mode=True)
    except (binascii.Error, ValueError):
        raise KopruError("auth.invalid_token") from None


_URLSAFE = str.maketrans("-_", "+/")


async def verify_access_token(token: str) -> Principal:
    """Verify a compact JWS access token: the key named by `kid` must be ours, the
    algorithm is the key's (the header must agree, never choose), then the
    signature, then iss, aud, exp/nbf/iat with LEEWAY_SECONDS, and the required claims."""
    now = time.time()
    hit = _VERIFIED.get(token)
    if hit is not None:
        if now > hit.expires_at + LEEWAY_SECONDS:
            _VERIFIED.pop(token, None)
            raise KopruError("auth.token_expired")
        return hit
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 8192:
        raise KopruError("auth.invalid_token")
    try:
        header = json.loads(_b64(parts[0]))
    except ValueError:
        raise KopruError("auth.invalid_token") from None
    if not isinstance(header, dict):
        raise KopruError("auth.invalid_token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID_RE.fullmatch(kid):
        raise KopruError("auth.invalid_token", detail="unknown key id")
    key = await CACHE.verify_key(kid)
    if key is None:
        raise KopruError("auth.invalid_token", detail="unknown key id")
    if header.get("alg") != key.alg or "crit" in header:
        raise KopruError("auth.invalid_token", detail="algorithm does not match the key")
    _b64(parts[1]), _b64(parts[2])  # strict base64url for every part, as for the header
    import jwt

    s = settings()
    try:
        # PyJWT checks the signature with the key's own algorithm (never the header's
        # choice), then iss, aud, exp/nbf/iat with the leeway, and that the claims are there
        claims = jwt.decode(token, key.key, algorithms=[key.alg], audience=s.audience, issuer=s.issuer,
                            leeway=LEEWAY_SECONDS, options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise KopruError("auth.token_expired") from None
    except jwt.PyJWTError:
        raise KopruError("auth.invalid_token") from None
    if not isinstance(claims, dict):
        raise KopruError("auth.invalid_token")
    now = time.time()
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat, nbf)):
        raise KopruError("auth.invalid_token")
    if now < iat - LEEWAY_SECONDS:
        raise KopruError("auth.invalid_token")  # issued in the future (PyJWT checks only its type)
    principal = principal_from_claims(claims)
    _VERIFIED[token] = principal
    if len(_VERIFIED) > VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    tid = claims.get("tenant_id")
    try:
        tenant_id = uuid.UUID(tid) if tid is not None else None
    except (TypeError, ValueError):
        raise KopruError("auth.invalid_token") from None
    scope = claims.get("scope")
    if not isinstance(scope, str) or not isinstance(claims.get("sub"), str):
        raise KopruError("auth.invalid_token")
    return Principal(
        subject=claims["sub"],
        tenant_id=tenant_id,
        scopes=frozenset(scope.split()),
        token_id=str(claims["jti"]),
        expires_at=int(claims["exp"]),
        issued_at=int(claims.get("iat") or 0),
        client_id=claims.get("client_id") if isinstance(claims.get("client_id"), str) else None,
        plan=claims.get("plan") if isinstance(claims.get("plan"), str) else None,
        family_id=claims.get("fam") if isinstance(claims.get("fam"), str) else None,
    )
