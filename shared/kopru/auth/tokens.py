"""Access tokens: JWTs signed with the current key, verified by one call everywhere.

Verification takes the algorithm from the key (never from the token header),
checks the signature, `iss`, `aud`, `exp`/`nbf`/`iat` with a small leeway, and
refuses kids that are not ours.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from kopru.auth.keys import CACHE, KID_RE, LEEWAY_SECONDS
from kopru.auth.principal import Principal
from kopru.config import settings
from kopru.errors import KopruError

REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "scope"]


async def issue_access_token(subject: str, tenant_id: uuid.UUID | None, scopes: list[str], *,
                             client_id: str, plan: str | None = None, ttl: int | None = None) -> tuple[str, int, str]:
    """Returns (token, expires_in, jti)."""
    import jwt

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
    token = jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})
    return token, ttl, jti


async def verify_access_token(token: str) -> Principal:
    import jwt

    s = settings()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise KopruError("auth.invalid_token") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID_RE.fullmatch(kid):
        raise KopruError("auth.invalid_token", detail="unknown key id")
    key = await CACHE.verify_key(kid)
    if key is None:
        raise KopruError("auth.invalid_token", detail="unknown key id")
    if header.get("alg") != key.alg:
        raise KopruError("auth.invalid_token", detail="algorithm does not match the key")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.alg],
            audience=s.audience,
            issuer=s.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise KopruError("auth.token_expired") from None
    except jwt.PyJWTError:
        raise KopruError("auth.invalid_token") from None
    return principal_from_claims(claims)


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
    )
