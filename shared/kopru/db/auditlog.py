"""Writing the audit log: one chain per tenant, each entry MAC'd with a key the database
never holds (the design, and what it proves, is in kopru.kvkk.audit's docstring).

An entry is written in two calls inside the caller's transaction, both SECURITY DEFINER
functions of migration 0014 (the application role has no INSERT on audit_log):

1. `kopru_audit_append(action, target, details)`: PostgreSQL takes the tenant's chain lock
   (held to commit), assigns `seq` (last + 1), `prev_seq`, the previous entry's link, `at`
   from clock_timestamp() and the actor from the transaction's `app.actor` (set with the
   tenant when the transaction began, from the verified principal), inserts with `mac`
   NULL and returns what the MAC must cover;
2. `kopru_audit_seal(id, mac)`: sets that NULL mac, once. A deferred constraint trigger
   refuses to commit an entry that was never sealed.

The MAC is computed here, between the two, over what the database returned (checked
against what was asked): the clock and the sequence belong to the database, the key to
the application, and neither can make an entry the other would accept alone.

    key  = HKDF-SHA256(master key, info = "kopru/audit-mac/v1:" + tenant id)
    mac  = HMAC-SHA256(key, field("kopru-audit/v2") || field(prev link hex) || field(seq)
                             || field(tenant id) || field(at) || field(actor) || field(action)
                             || field(target) || field(details as PostgreSQL renders jsonb))

with field(v) = "<octet length>:<v>" ("-" for NULL) and `at` in UTC with microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

MAC_INFO = b"kopru/audit-mac/v1:"
VERSION = "kopru-audit/v2"


def field(value: str | None) -> bytes:
    if value is None:
        return b"-"
    raw = value.encode("utf-8")
    return str(len(raw)).encode() + b":" + raw


def canonical_at(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=4096)
def mac_key(tenant_id: uuid.UUID | str) -> bytes:
    """The tenant chain's MAC key, derived from the master key (KOPRU_MASTER_KEY, kept in the
    platform's secret store with the key that wraps the tenant keys): the database owner
    does not have it, so cannot MAC an entry of their own."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from kopru.auth.crypto import master_key

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=MAC_INFO + str(tenant_id).encode()).derive(master_key())


def entry_mac(prev: bytes | None, seq: int, tenant_id: uuid.UUID | str, at: datetime, actor: str, action: str,
              target: str | None, details_text: str, *, key: bytes | None = None) -> bytes:
    msg = b"".join(field(v) for v in (VERSION, prev.hex() if prev is not None else None, str(seq), str(tenant_id),
                                      canonical_at(at), actor, action, target, details_text))
    return hmac.new(key if key is not None else mac_key(str(tenant_id)), msg, hashlib.sha256).digest()


APPEND = ("select entry_id, entry_seq, entry_at, entry_actor, entry_prev, entry_details "
          "from kopru_audit_append(%(action)s, %(target)s, cast(%(details)s as jsonb))")
SEAL = "select kopru_audit_seal(%(id)s, %(mac)s)"


class AuditWriteError(RuntimeError):
    """The database returned an entry other than the one asked for: nothing is sealed."""


def _mac_for(row: Any, tenant_id: uuid.UUID, actor: str, action: str, target: str | None,
             details: dict[str, Any]) -> bytes:
    if row.entry_actor != actor or json.loads(row.entry_details) != json.loads(json.dumps(details)):
        raise AuditWriteError("the audit entry written is not the one asked for")
    prev = bytes(row.entry_prev) if row.entry_prev is not None else None
    return entry_mac(prev, row.entry_seq, tenant_id, row.entry_at, row.entry_actor, action, target, row.entry_details)


def _params(action: str, target: str | None, details: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "target": target, "details": json.dumps(details, ensure_ascii=False)}


async def append(conn: Any, tenant_id: uuid.UUID, actor: str, action: str, target: str | None,
                 details: dict[str, Any]) -> int:
    """Append one entry to the tenant's chain in the open transaction `conn` (an
    AsyncConn scoped to the tenant, with `app.actor` set); returns its seq. The seal
    travels with the transaction's next statement or its commit (a deferred trigger
    refuses to commit an unsealed entry)."""
    row = (await conn.execute(APPEND, _params(action, target, details))).one()
    await conn.queue(SEAL, {"id": row.entry_id, "mac": _mac_for(row, tenant_id, actor, action, target, details)})
    return row.entry_seq


def append_sync(conn: Any, tenant_id: uuid.UUID, actor: str, action: str, target: str | None,
                details: dict[str, Any]) -> int:
    """The same for a synchronous SQLAlchemy connection in a transaction (operator tools
    on the owner role): scopes the rest of the transaction to the tenant and the actor."""
    from sqlalchemy import text

    conn.execute(text("select set_config('app.tenant_id', :tid, true), set_config('app.actor', :actor, true)"),
                 {"tid": str(tenant_id), "actor": actor})
    row = conn.exec_driver_sql(APPEND, _params(action, target, details)).one()
    conn.exec_driver_sql(SEAL, {"id": row.entry_id, "mac": _mac_for(row, tenant_id, actor, action, target, details)})
    return row.entry_seq
