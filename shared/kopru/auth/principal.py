"""Who is calling: built only from a verified access token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kopru.errors import KopruError

OPERATOR_SCOPE = "platform:admin"


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
