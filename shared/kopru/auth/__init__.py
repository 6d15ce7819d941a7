"""Authentication and authorisation: tokens, keys, clients, the verified principal."""

from __future__ import annotations

from kopru.auth.principal import OPERATOR_SCOPE, Principal
from kopru.errors import KopruError


async def authenticate(authorization: str | None) -> Principal:
    """The one call every function uses to turn an Authorization header into a principal."""
    if not authorization:
        raise KopruError("auth.missing_token", headers={"WWW-Authenticate": 'Bearer realm="kopru"'})
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise KopruError("auth.missing_token", headers={"WWW-Authenticate": 'Bearer realm="kopru"'})
    from kopru.auth import limits
    from kopru.auth.tokens import verify_access_token

    try:
        principal = await verify_access_token(token.strip())
    except KopruError as err:
        err.headers.setdefault("WWW-Authenticate", 'Bearer realm="kopru", error="invalid_token"')
        raise
    per_minute = None
    if principal.tenant_id is not None:
        from kopru.tenancy.plans import PLANS

        per_minute = PLANS.get(principal.plan or "trial", PLANS["trial"]).requests_per_minute
    try:
        await limits.admit(principal.token_id, str(principal.tenant_id) if principal.tenant_id else None, per_minute,
                           client_id=principal.client_id, family_id=principal.family_id,
                           issued_at=principal.issued_at)
    except KopruError as err:
        if err.code == "auth.token_revoked":
            err.headers.setdefault("WWW-Authenticate", 'Bearer realm="kopru", error="invalid_token"')
        raise
    return principal


__all__ = ["OPERATOR_SCOPE", "Principal", "authenticate"]
