"""Refresh tokens: opaque, single use, rotated on every use, grouped in families.

Presenting a spent token revokes its whole family and emits
kopru.auth.token_reuse_detected.v1; the only exception is the immediately previous
token within GRACE seconds of its rotation (two tabs refreshing at once), which
gets the same successor again (kept sealed on the spent row until it is used itself;
never a new sibling, so a stolen token replayed in the grace mints nothing new). Older
generations never do.

Format: rt_<tenant id, 32 hex>_<256 random bits>. Only a SHA-256 of it is stored;
the tenant part lets the transaction enter the tenant before looking it up.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from kopru.auth.crypto import hash_secret

REFRESH_TTL = timedelta(days=30)
GRACE = timedelta(seconds=10)
REUSE_EVENT = "kopru.auth.token_reuse_detected.v1"
_FORMAT = re.compile(r"^rt_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")


class InvalidGrant(Exception):
    pass


@dataclass(frozen=True)
class Rotated:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    scopes: list[str]
    refresh_token: str
    family_id: uuid.UUID


def tenant_of(token: str) -> uuid.UUID | None:
    m = _FORMAT.fullmatch(token)
    return uuid.UUID(m.group(1)) if m else None


def _new_token(tenant_id: uuid.UUID) -> str:
    return f"rt_{tenant_id.hex}_{secrets.token_urlsafe(32)}"


async def issue(tx, *, client_id: str, user_id: uuid.UUID, scopes: list[str],
                family_id: uuid.UUID | None = None, parent_id: uuid.UUID | None = None, generation: int = 0,
                expires_at: datetime | None = None) -> tuple[str, uuid.UUID]:
    """A new refresh token: (the token, its family)."""
    token = _new_token(tx.tenant_id)
    family_id = family_id or uuid.uuid4()
    await tx.execute(
        "insert into refresh_tokens (id, tenant_id, family_id, parent_id, generation, token_hash, client_id, "
        "user_id, scopes, expires_at) values (%(id)s, %(t)s, %(f)s, %(p)s, %(g)s, %(h)s, %(c)s, %(u)s, %(s)s, %(x)s)",
        {"id": uuid.uuid4(), "t": tx.tenant_id, "f": family_id, "p": parent_id, "g": generation,
         "h": hash_secret(token), "c": client_id, "u": user_id, "s": list(scopes),
         "x": expires_at or datetime.now(timezone.utc) + REFRESH_TTL})
    return token, family_id


def _successor_aad(row_id: uuid.UUID) -> bytes:
    return f"refresh-successor:{row_id}".encode()


async def rotate(client_id: str, client_tenant: uuid.UUID | None, token: str) -> Rotated:
    """Spend `token` and return its successor, or raise InvalidGrant (after revoking
    the family when the token was already spent)."""
    from kopru.db import tenant_transaction

    tenant_id = tenant_of(token)
    if tenant_id is None or tenant_id != client_tenant:
        raise InvalidGrant("unknown refresh token")
    reuse = False
    async with tenant_transaction(tenant_id, actor=client_id) as tx:
        row = (await tx.execute("select * from refresh_tokens where token_hash = %(h)s for update",
                                {"h": hash_secret(token)})).first()
        if row is None:
            raise InvalidGrant("unknown refresh token")
        if row.client_id != client_id:
            raise InvalidGrant("the refresh token was issued to another client")
        now = datetime.now(timezone.utc)
        if row.revoked_at is not None:
            raise InvalidGrant("the refresh token was revoked")
        if row.expires_at <= now:
            raise InvalidGrant("the refresh token expired")
        if row.used_at is not None:
            newest = (await tx.execute("select max(generation) from refresh_tokens where family_id = %(f)s",
                                       {"f": row.family_id})).scalar()
            if now - row.used_at <= GRACE and row.generation == newest - 1 and row.successor_enc is not None:
                # two tabs: the immediately previous token, just rotated: the same successor
                from kopru.auth.crypto import unseal

                successor = unseal(bytes(row.successor_enc), aad=_successor_aad(row.id)).decode()
                return Rotated(tenant_id, row.user_id, list(row.scopes), successor, row.family_id)
            else:
                reuse = True
                await tx.execute("update refresh_tokens set revoked_at = %(now)s "
                                 "where family_id = %(f)s and revoked_at is null", {"now": now, "f": row.family_id})
                await tx.audit("auth.refresh_reuse_detected", target=str(row.family_id),
                               details={"client_id": client_id, "generation": row.generation})
                await tx.emit(REUSE_EVENT, {
                    "family_id": str(row.family_id), "client_id": client_id, "user_id": str(row.user_id),
                    "generation": row.generation, "detected_at": now.isoformat(),
                }, subject=str(row.user_id), source="/kopru/token")
        if not reuse:
            from kopru.auth.crypto import seal

            successor, _ = await issue(tx, client_id=client_id, user_id=row.user_id, scopes=list(row.scopes),
                                       family_id=row.family_id, parent_id=row.id, generation=row.generation + 1,
                                       expires_at=row.expires_at)  # a family never outlives its first token
            await tx.execute("update refresh_tokens set used_at = %(now)s, successor_enc = %(s)s where id = %(id)s",
                             {"now": now, "s": seal(successor.encode(), aad=_successor_aad(row.id)), "id": row.id})
            if row.parent_id is not None:  # the parent's grace is over: its answer is forgotten
                await tx.execute("update refresh_tokens set successor_enc = null where id = %(id)s",
                                 {"id": row.parent_id})
    if reuse:
        from kopru.auth.limits import cut_off

        await cut_off("family", str(row.family_id))  # the family's access tokens stop too
        raise InvalidGrant("the refresh token was already used; its family is revoked")
    return Rotated(tenant_id, row.user_id, list(row.scopes), successor, row.family_id)


async def revoke_family(client_id: str, client_tenant: uuid.UUID | None, token: str) -> bool:
    from kopru.db import tenant_transaction

    tenant_id = tenant_of(token)
    if tenant_id is None or tenant_id != client_tenant:
        return False
    async with tenant_transaction(tenant_id, actor=client_id) as tx:
        row = (await tx.execute("select family_id, client_id from refresh_tokens where token_hash = %(h)s",
                                {"h": hash_secret(token)})).first()
        if row is None or row.client_id != client_id:
            return False
        await tx.execute("update refresh_tokens set revoked_at = now() where family_id = %(f)s and revoked_at is null",
                         {"f": row.family_id})
        await tx.audit("auth.refresh_revoked", target=str(row.family_id), details={"client_id": client_id})
    from kopru.auth.limits import cut_off

    await cut_off("family", str(row.family_id))  # and the access tokens it gave
    return True


async def describe(client_tenant: uuid.UUID | None, is_operator: bool, token: str) -> dict | None:
    """Introspection of a refresh token: None when it is not active for this caller."""
    from kopru.db import tenant_transaction

    tenant_id = tenant_of(token)
    if tenant_id is None or (not is_operator and tenant_id != client_tenant):
        return None
    async with tenant_transaction(tenant_id, actor="introspect") as tx:
        row = (await tx.execute("select * from refresh_tokens where token_hash = %(h)s",
                                {"h": hash_secret(token)})).first()
    now = datetime.now(timezone.utc)
    if row is None or row.used_at is not None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return {"active": True, "token_type": "refresh_token", "client_id": row.client_id, "sub": str(row.user_id),
            "scope": " ".join(sorted(row.scopes)), "tenant_id": str(tenant_id),
            "exp": int(row.expires_at.timestamp()), "iat": int(row.created_at.timestamp())}
