"""Who is calling: built only from a verified access token; and the one tenant a
request acts in, resolved once by the runtime from the route's declaration."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kopru.auth.scopes import OPERATOR_SCOPE
from kopru.errors import KopruError


@dataclass(frozen=True)
class Principal:
    subject: str  # client id or user id
    tenant_id: uuid.UUID | None  # None only for platform operators
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    issued_at: int = 0
    client_id: str | None = None
    plan: str | None = None
    family_id: str | None = None  # the refresh family a user's token came from (revoked with it)

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None and OPERATOR_SCOPE in self.scopes

    def require_operator(self) -> None:
        if not self.is_operator:
            raise KopruError("auth.forbidden")

    def require_scope(self, scope: str) -> None:
        if self.is_operator:
            return
        if scope not in self.scopes:
            raise KopruError("auth.insufficient_scope", detail=f"needs {scope}")

    def holds(self, scope: str) -> bool:
        """Whether this caller may pass `scope` on to a client it creates."""
        return self.is_operator or scope in self.scopes

    def tenant_for(self, tenant_id: uuid.UUID | None = None) -> uuid.UUID:
        """The tenant a transaction may be scoped to.

        A tenant principal only ever gets its own tenant; naming another one is
        answered as if that tenant did not exist (no hint that it does)."""
        if self.is_operator:
            if tenant_id is None:
                raise KopruError("auth.forbidden", detail="operator must name a tenant")
            return tenant_id
        assert self.tenant_id is not None
        if tenant_id is not None and tenant_id != self.tenant_id:
            raise KopruError("tenant.not_found")
        return self.tenant_id


@dataclass(frozen=True)
class TenantContext:
    """The tenant one request acts in, resolved once by the runtime (`call.tenant`):
    the library opens its transaction with it and never looks at the tenant again."""

    tenant_id: uuid.UUID
    actor: str  # who is acting, for the audit log (the token's subject)
    principal: Principal

    def transaction(self):
        """`async with ctx.transaction() as tx:` — a transaction in this tenant (RLS)."""
        from kopru.db import tenant_transaction

        return tenant_transaction(self.tenant_id, actor=self.actor)


def resolve_tenant(principal: Principal, source: str | None, path_id: str | None) -> TenantContext | None:
    """The tenant a route acts in, from where it says (`tenant=` on the route):
    "token" = the caller's own; "path" = the `{id}` path parameter (a tenant may only
    name itself, an operator must name one); None = no tenant (platform route)."""
    if source is None:
        return None
    named = None
    if source == "path":
        try:
            named = uuid.UUID(path_id or "")
        except ValueError:
            raise KopruError("tenant.not_found") from None
    return TenantContext(principal.tenant_for(named), principal.subject, principal)
