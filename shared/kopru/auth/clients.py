"""API clients: tenant clients (RLS-scoped) and platform operator clients.

Secrets are shown once, at creation, and stored only as a SHA-256 hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kopru.auth.crypto import hash_secret, new_client_id, new_client_secret, secret_matches

# what a tenant's API client may be granted
TENANT_SCOPES = frozenset(
    {
        "tenant:read", "tenant:admin", "sms:send", "sms:read", "einvoice:write", "einvoice:read",
        "consent:write", "consent:read", "kvkk:requests",
    }
)
DEFAULT_TENANT_SCOPES = tuple(sorted(TENANT_SCOPES))


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    tenant_id: uuid.UUID | None
    scopes: frozenset[str]


async def create_tenant_client(tx, name: str, scopes: tuple[str, ...] = DEFAULT_TENANT_SCOPES) -> tuple[str, str]:
    """(client_id, client_secret); the secret is never stored or shown again."""
    from kopru.db.schema import api_clients, client_directory

    unknown = set(scopes) - TENANT_SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}")
    client_id, secret = new_client_id(), new_client_secret()
    await tx.execute(client_directory.insert().values(client_id=client_id, tenant_id=tx.tenant_id))
    await tx.execute(
        api_clients.insert().values(
            client_id=client_id, tenant_id=tx.tenant_id, name=name,
            secret_hash=hash_secret(secret), scopes=list(scopes),
        )
    )
    return client_id, secret


async def authenticate_client(client_id: str, secret: str) -> AuthenticatedClient | None:
    """None for any failure: unknown id, wrong secret, revoked (callers can't tell which)."""
    from sqlalchemy import select

    from kopru.db import platform_transaction, tenant_transaction
    from kopru.db.schema import api_clients, client_directory, platform_clients

    if not (0 < len(client_id) <= 64) or not (0 < len(secret) <= 128):
        return None
    async with platform_transaction() as conn:
        entry = (await conn.execute(
            select(client_directory.c.tenant_id).where(client_directory.c.client_id == client_id)
        )).first()
        if entry is None:
            hash_secret(secret)  # same work as a hit, so timing does not reveal ids
            return None
        if entry.tenant_id is None:
            row = (await conn.execute(
                select(platform_clients.c.secret_hash, platform_clients.c.scopes, platform_clients.c.revoked_at)
                .where(platform_clients.c.client_id == client_id)
            )).first()
    if entry.tenant_id is not None:
        async with tenant_transaction(entry.tenant_id, actor=client_id) as tx:
            row = (await tx.execute(
                select(api_clients.c.secret_hash, api_clients.c.scopes, api_clients.c.revoked_at)
                .where(api_clients.c.client_id == client_id)
            )).first()
    if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_hash):
        return None
    return AuthenticatedClient(client_id, entry.tenant_id, frozenset(row.scopes))
