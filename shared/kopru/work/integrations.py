"""Per-tenant integration settings for any provider, one mechanism.

A provider is declared once (`Provider`: its settings model, which of its fields are
secrets, its connection check). Saving checks the connection with the provider first
(nothing is stored when it fails), then keeps the public fields as JSON and the secrets
sealed under the master key (AES-256-GCM, the tenant and provider as associated data, so
a sealed blob moved to another tenant or provider does not open). Secrets are never
returned: a read says which secrets are set, not what they are.

The providers that exist are listed in `kopru.providers` (domain modules named by
string, imported when used).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from kopru.errors import KopruError


@dataclass(frozen=True)
class Checked:
    """What a connection check learnt: `store` goes into the public settings (a
    certificate's serial and expiry), `show` only into the answer (the sender names)."""

    store: dict[str, Any] = field(default_factory=dict)
    show: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    name: str
    title: str  # for people, e.g. "Netgsm (SMS)"
    model: str  # "module:Class": the PUT body
    secret_fields: tuple[str, ...]
    check: str  # "module:function": async (tenant_id, body) -> Checked; raises KopruError
    view: str | None = None  # "module:function": (tenant_id, public settings) -> extra fields of a read

    def load(self, ref: str) -> Any:
        import importlib

        mod, _, name = ref.partition(":")
        return getattr(importlib.import_module(mod), name)

    def body_model(self) -> type:
        return self.load(self.model)


def _aad(tenant_id: uuid.UUID, provider: str) -> bytes:
    return f"{tenant_id}:{provider}".encode()


async def save(ctx, provider: Provider, body: Any) -> dict[str, Any]:
    """Check, then store (sealed secrets) in the caller's tenant (`ctx`: the route's
    verified TenantContext)."""
    from kopru.auth.crypto import seal

    tenant_id = ctx.tenant_id
    check: Callable[[uuid.UUID, Any], Awaitable[Checked]] = provider.load(provider.check)
    checked = await check(tenant_id, body)
    data = body.model_dump(mode="json")
    secrets = {k: data.pop(k, None) for k in provider.secret_fields}
    public = {**data, **checked.store}
    sealed = seal(json.dumps(secrets).encode(), aad=_aad(tenant_id, provider.name))
    async with ctx.transaction() as tx:
        await tx.execute(
            "insert into tenant_integrations (tenant_id, provider, settings, secret_enc) "
            "values (%(t)s, %(p)s, %(s)s, %(e)s) on conflict (tenant_id, provider) "
            "do update set settings = excluded.settings, secret_enc = excluded.secret_enc",
            {"t": tenant_id, "p": provider.name, "s": public, "e": sealed})
        await tx.audit(f"integration.{provider.name}.saved", target=provider.name,
                       details={"fields": sorted(public)})
    return {**_view(provider, public, secrets), **checked.show, **await _extra(provider, tenant_id, public)}


async def load(tx, provider: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(public settings, secrets) of the transaction's tenant, or None when not configured."""
    from kopru.auth.crypto import unseal

    row = (await tx.execute("select settings, secret_enc from tenant_integrations where provider = %(p)s",
                            {"p": provider})).first()
    if row is None:
        return None
    return dict(row.settings), json.loads(unseal(bytes(row.secret_enc), aad=_aad(tx.tenant_id, provider)))


async def read(tx, provider: Provider) -> dict[str, Any]:
    got = await load(tx, provider.name)
    if got is None:
        raise KopruError("integration.not_configured")
    public, secrets = got
    return {**_view(provider, public, secrets), **await _extra(provider, tx.tenant_id, public)}


async def test_connection(ctx, provider: Provider) -> dict[str, Any]:
    """Run the provider's check again with what is stored."""
    tenant_id = ctx.tenant_id
    async with ctx.transaction() as tx:
        got = await load(tx, provider.name)
    if got is None:
        raise KopruError("integration.not_configured")
    public, secrets = got
    model = provider.body_model()
    stored = {k: v for k, v in {**public, **secrets}.items() if k in model.model_fields}
    body = model.model_validate(stored)
    checked = await provider.load(provider.check)(tenant_id, body)
    return {"provider": provider.name, "ok": True, **checked.show}


def _view(provider: Provider, public: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    return {"provider": provider.name, "configured": True, **public,
            "secrets_set": sorted(k for k, v in secrets.items() if v)}


async def _extra(provider: Provider, tenant_id: uuid.UUID, public: dict[str, Any]) -> dict[str, Any]:
    if provider.view is None:
        return {}
    return provider.load(provider.view)(tenant_id, public)
