"""API clients: tenant clients (RLS-scoped) and platform operator clients.

Secrets are shown once, at creation, and stored only as a SHA-256 hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kopru.auth.crypto import hash_secret, new_client_id, new_client_secret, secret_matches
from kopru.auth.scopes import ROLE_SCOPES, TENANT_SCOPES
from kopru.errors import KopruError

DEFAULT_TENANT_SCOPES = tuple(sorted(TENANT_SCOPES))

__all__ = ["DEFAULT_TENANT_SCOPES", "ROLE_SCOPES", "TENANT_SCOPES", "add_client", "list_clients", "revoke_client"]


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    tenant_id: uuid.UUID | None
    scopes: frozenset[str]
    plan: str | None


async def create_tenant_client(tx, name: str, scopes: tuple[str, ...] = DEFAULT_TENANT_SCOPES) -> tuple[str, str]:
    """(client_id, client_secret); the secret is never stored or shown again."""
    unknown = set(scopes) - TENANT_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}")
    client_id, secret = new_client_id(), new_client_secret()
    p = {"cid": client_id, "t": tx.tenant_id, "name": name, "h": hash_secret(secret), "scopes": list(scopes)}
    await tx.conn.queue("insert into client_directory (client_id, tenant_id) values (%(cid)s, %(t)s)", p)
    await tx.conn.queue("insert into api_clients (client_id, tenant_id, name, secret_hash, scopes) "
                        "values (%(cid)s, %(t)s, %(name)s, %(h)s, %(scopes)s)", p)
    return client_id, secret


# The grant's look-ups (plain SQL: the token function's first grant imports no SQLAlchemy).
_LOOKUP = {
    "dir": "select tenant_id from client_directory where client_id = %(cid)s",
    "platform": "select secret_hash, scopes, revoked_at from platform_clients where client_id = %(cid)s",
    "tenant": "select c.secret_hash, c.scopes, c.revoked_at, t.plan from api_clients c "
              "join tenants t on t.id = c.tenant_id where c.client_id = %(cid)s",
}


# Client records read for the token endpoint, kept KOPRU_CLIENT_CACHE_TTL seconds (5): a
# serverless token function would otherwise pay a database transaction per grant.
# A revoked client can thus still get tokens for at most that long on a warm
# instance (its earlier access tokens live up to 15 minutes anyway); revoking
# through this process forgets it at once.
_CACHE: dict[str, tuple[float, bytes, AuthenticatedClient]] = {}


def forget_client(client_id: str) -> None:
    _CACHE.pop(client_id, None)


async def authenticate_client(client_id: str, secret: str) -> AuthenticatedClient | None:
    """None for any failure: unknown id, wrong secret, revoked (callers can't tell which)."""
    import time

    from kopru.config import settings

    if not (0 < len(client_id) <= 64) or not (0 < len(secret) <= 128):
        return None
    hit = _CACHE.get(client_id)
    now = time.monotonic()
    if hit is None or hit[0] < now:
        found = await _load_client(client_id)
        if found is None:
            hash_secret(secret)  # the same work as a hit, so timing does not reveal ids
            return None
        hit = (now + settings().client_cache_ttl, *found)
        _CACHE[client_id] = hit
        if len(_CACHE) > 10_000:
            _CACHE.clear()
    _, secret_hash, client = hit
    return client if secret_matches(secret, secret_hash) else None


async def _load_client(client_id: str) -> tuple[bytes, AuthenticatedClient] | None:
    """One transaction: the platform directory says which tenant owns the id, then the
    transaction enters that tenant and RLS shows its client row. None when unknown or revoked."""
    from kopru.db import enter_tenant, platform_transaction

    st = _LOOKUP
    plan = None
    async with platform_transaction() as conn:
        entry = (await conn.execute(st["dir"], {"cid": client_id})).first()
        if entry is None:
            return None
        if entry.tenant_id is None:
            row = (await conn.execute(st["platform"], {"cid": client_id})).first()
        else:
            await enter_tenant(conn, entry.tenant_id)
            row = (await conn.execute(st["tenant"], {"cid": client_id})).first()
            plan = row.plan if row is not None else None
    if row is None or row.revoked_at is not None:
        return None
    return bytes(row.secret_hash), AuthenticatedClient(client_id, entry.tenant_id, frozenset(row.scopes), plan)


# -- tenant admins manage their own clients ------------------------------------
# `ctx` is the TenantContext the runtime resolved for a tenant:admin route.

async def list_clients(ctx, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """The tenant's API clients, oldest first, a page at a time (kopru.pages)."""
    from kopru import pages

    scope = f"clients:{ctx.tenant_id}"
    q, params = pages.keyset_sql("select client_id, name, scopes, created_at, revoked_at from api_clients where true",
                                 {}, "created_at", "client_id", scope, cursor, limit)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.client_id))
    return {"clients": [{"client_id": r.client_id, "name": r.name, "scopes": sorted(r.scopes),
                         "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows],
            "next_cursor": pages.encode(scope, *last) if last else None}


async def add_client(ctx, name: str, scopes: list[str] | None) -> dict[str, Any]:
    """A new API client of the tenant. It may be granted only scopes the caller holds
    (a platform operator may grant any tenant scope); without `scopes`, it gets every
    tenant scope the caller holds."""
    from kopru.tenancy.plans import PLANS

    caller = ctx.principal
    wanted = tuple(sorted(set(scopes))) if scopes else tuple(s for s in DEFAULT_TENANT_SCOPES if caller.holds(s))
    if not set(wanted) <= TENANT_SCOPES:
        raise KopruError("auth.unknown_scope")
    if not all(caller.holds(s) for s in wanted):
        raise KopruError("auth.scope_not_held")
    async with ctx.transaction() as tx:
        plan = (await tx.execute("select plan from tenants where id = %(id)s for update",
                                 {"id": ctx.tenant_id})).scalar()
        if plan is None:
            raise KopruError("tenant.not_found")
        live = (await tx.execute("select count(*) from api_clients where revoked_at is null")).scalar()
        if live >= PLANS[plan].api_clients:
            raise KopruError("tenant.plan_limit", detail=f"plan {plan} allows {PLANS[plan].api_clients} API clients")
        cid, secret = await create_tenant_client(tx, name, wanted)
        await tx.audit("client.created", target=cid, details={"scopes": list(wanted)})
    return {"client_id": cid, "client_secret": secret, "name": name, "scopes": list(wanted)}


async def revoke_client(ctx, client_id: str) -> None:
    async with ctx.transaction() as tx:
        res = await tx.execute("update api_clients set revoked_at = now() "
                               "where client_id = %(c)s and revoked_at is null", {"c": client_id})
        if res.rowcount == 0:
            raise KopruError("auth.client_not_found")
        forget_client(client_id)
        await tx.execute("update refresh_tokens set revoked_at = now() "
                         "where client_id = %(c)s and revoked_at is null", {"c": client_id})
        await tx.audit("client.revoked", target=client_id)
    from kopru.auth.limits import cut_off

    await cut_off("client", client_id)  # after the commit: its access tokens stop now, not at their expiry
