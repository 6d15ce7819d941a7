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
        if await limits.is_denied(principal.token_id):
            raise KopruError("auth.token_revoked")
    except KopruError as err:
        err.headers.setdefault("WWW-Authenticate", 'Bearer realm="kopru", error="invalid_token"')
        raise
    if principal.tenant_id is not None:
        from kopru.tenancy.plans import PLANS

        plan = PLANS.get(principal.plan or "trial", PLANS["trial"])
        await limits.check_rate(str(principal.tenant_id), plan.requests_per_minute)
    return principal


__all__ = ["OPERATOR_SCOPE", "Principal", "authenticate"]
