"""Tenant onboarding and look-up: the business rules behind the tenant routes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from kopru.errors import KopruError
from kopru.text import fold_email

ONBOARDED = "kopru.tenant.onboarded.v1"


TENANT_COLUMNS = ("id, name, tax_number, tax_number_kind, tax_office, subdomain, plan, language, timezone, currency, "
                  "verbis_no, created_at")


def _tenant_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "tax_number": row.tax_number,
        "tax_number_kind": row.tax_number_kind,
        "tax_office": row.tax_office,
        "subdomain": row.subdomain,
        "plan": row.plan,
        "language": row.language,
        "timezone": row.timezone,
        "currency": row.currency,
        "verbis_no": row.verbis_no,
        "created_at": row.created_at.isoformat(),
    }


async def onboard_tenant(principal, body) -> dict[str, Any]:
    """Create a tenant, its first admin user and first API client, in one transaction
    that also writes the audit entry and the onboarded event (or nothing at all).
    `principal` is the platform operator the route (operator=True) let through."""
    from kopru.auth.clients import create_tenant_client
    from kopru.auth.crypto import hash_password
    from kopru.db import tenant_transaction
    from kopru.tenancy.identifiers import tax_number_kind

    tenant_id = uuid.uuid4()
    user_id = uuid.uuid4()
    # argon2id costs ~0.1 s of CPU: keep it off the event loop and outside the transaction
    password_hash = await asyncio.to_thread(hash_password, body.admin.password)

    async with tenant_transaction(tenant_id, actor=principal.subject) as tx:
        claimed = (await tx.execute(
            "insert into tenant_directory (subdomain, tenant_id) values (%(s)s, %(t)s) "
            "on conflict (subdomain) do nothing returning tenant_id", {"s": body.subdomain, "t": tenant_id})).first()
        if claimed is None:
            raise KopruError("tenant.subdomain_taken")
        await tx.conn.queue(
            "insert into tenants (id, name, tax_number, tax_number_kind, tax_office, subdomain, plan, language, "
            "timezone, currency, verbis_no) values (%(id)s, %(name)s, %(tax_number)s, %(kind)s, %(tax_office)s, "
            "%(subdomain)s, %(plan)s, %(language)s, %(timezone)s, %(currency)s, %(verbis_no)s)",
            {"id": tenant_id, "name": body.name, "tax_number": body.tax_number,
             "kind": tax_number_kind(body.tax_number), "tax_office": body.tax_office, "subdomain": body.subdomain,
             "plan": body.plan, "language": body.language, "timezone": body.timezone, "currency": body.currency,
             "verbis_no": body.verbis_no})
        await tx.conn.queue(
            "insert into users (id, tenant_id, email, email_fold, password_hash, role) "
            "values (%(id)s, %(t)s, %(email)s, %(fold)s, %(hash)s, 'admin')",
            {"id": user_id, "t": tenant_id, "email": body.admin.email, "fold": fold_email(body.admin.email),
             "hash": password_hash})
        client_id, client_secret = await create_tenant_client(tx, "default")
        await tx.audit("tenant.onboarded", target=str(tenant_id),
                       details={"plan": body.plan, "subdomain": body.subdomain, "admin_user_id": str(user_id),
                                "client_id": client_id})
        row = (await tx.execute(f"select {TENANT_COLUMNS} from tenants where id = %(id)s", {"id": tenant_id})).one()
        await tx.emit(ONBOARDED, {
            "tenant_id": str(tenant_id), "subdomain": body.subdomain, "plan": body.plan,
            "language": body.language, "created_at": row.created_at.isoformat(),
        }, subject=str(tenant_id))
    return {
        "tenant": _tenant_out(row),
        "client_id": client_id,
        "client_secret": client_secret,
        "admin_user_id": user_id,
    }


async def get_tenant(ctx) -> dict[str, Any]:
    """The tenant `ctx` (a kopru.auth.principal.TenantContext) acts in."""
    async with ctx.transaction() as tx:
        row = (await tx.execute(f"select {TENANT_COLUMNS} from tenants where id = %(id)s",
                                {"id": ctx.tenant_id})).first()
    if row is None:
        raise KopruError("tenant.not_found")
    return _tenant_out(row)


async def list_tenants(limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """GET /tenants (operators): tenants in the order they were onboarded, a page at a time
    (`next_cursor` until the last page; kopru.pages). Each tenant is read in its own RLS
    scope, one transaction for the page."""
    from uuid import UUID

    from kopru import pages
    from kopru.db import enter_tenant, platform_transaction

    q, params = pages.keyset_sql("select tenant_id, created_at from tenant_directory where true", {}, "created_at",
                                 "tenant_id", "tenants", cursor, limit, key_type=UUID)
    items = []
    async with platform_transaction() as conn:
        rows, last = pages.page((await conn.execute(q, params)).all(), limit, lambda r: (r.created_at, r.tenant_id))
        for entry in rows:
            await enter_tenant(conn, entry.tenant_id)
            row = (await conn.execute("select * from tenants where id = %(id)s", {"id": entry.tenant_id})).first()
            if row is not None:
                items.append(_tenant_out(row))
    return {"tenants": items, "next_cursor": pages.encode("tenants", *last) if last else None}
