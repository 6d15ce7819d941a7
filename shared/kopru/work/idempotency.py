"""Idempotent requests: an `Idempotency-Key` header stands for one request body.

The same key with the same body answers what the first request answered (its status and
body, `Idempotent-Replayed: true`), with another body 409 `request.idempotency_conflict`.
Keys live 24 hours per tenant and route. The key's slot is taken first thing in the
request's own transaction, so two concurrent requests with one key queue on it: the
second waits for the first to commit and then replays it (or, when the first rolled back,
does the work itself). Nothing of a refused request stays.

What the key stands for is a keyed HMAC of the tenant, the route and the canonical body
(not a plain hash: a body holds a phone number or a TCKN, which a bare SHA-256 would let
anyone with the table recover by trying numbers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from kopru.errors import KopruError

TTL_HOURS = 24
MAX_KEY = 100


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not all(0x21 <= ord(c) <= 0x7E for c in key):  # printable, no spaces
        raise KopruError("request.idempotency_key_invalid")
    return key


def fingerprint(tenant_id: Any, operation: str, material: Any) -> bytes:
    from kopru.auth.crypto import master_key

    k = hmac.new(master_key(), b"kopru/idempotency/v1", hashlib.sha256).digest()
    msg = json.dumps([str(tenant_id), operation, material], ensure_ascii=False, sort_keys=True,
                     separators=(",", ":"), default=str).encode()
    return hmac.new(k, msg, hashlib.sha256).digest()


@dataclass
class Slot:
    tx: Any
    operation: str
    key: str | None
    fingerprint: bytes
    replay: tuple[int, Any] | None = None

    async def save(self, status: int, response: Any) -> None:
        """Keep the answer for repeats (same transaction as the work it answers)."""
        if self.key is None:
            return
        await self.tx.conn.queue(  # goes out with the commit
            "update idempotent_requests set status = %(s)s, response = cast(%(r)s as jsonb) "
            "where operation = %(op)s and key = %(k)s",
            {"s": status, "r": json.dumps(response, default=str, ensure_ascii=False), "op": self.operation,
             "k": self.key})


async def begin(tx, operation: str, key: str | None, material: Any) -> Slot:
    """Take the key's slot in `tx` (or find the earlier answer: `slot.replay`)."""
    key = check_key(key)
    fp = fingerprint(tx.tenant_id, operation, material)
    slot = Slot(tx, operation, key, fp)
    if key is None:
        return slot
    # expired keys of this tenant are forgotten before this one is looked at: nothing outlives
    # its 24 hours by more than the tenant's next keyed request (index idempotent_requests_expiry)
    await tx.conn.queue("delete from idempotent_requests where expires_at < now()")
    fresh = (await tx.execute(
        "insert into idempotent_requests (tenant_id, operation, key, fingerprint, status, response, expires_at) "
        "values (%(t)s, %(op)s, %(k)s, %(fp)s, 0, 'null'::jsonb, now() + make_interval(hours => %(ttl)s)) "
        "on conflict do nothing returning key",
        {"t": tx.tenant_id, "op": operation, "k": key, "fp": fp, "ttl": TTL_HOURS})).first()
    if fresh is not None:
        return slot
    prior = (await tx.execute(
        "select fingerprint, status, response from idempotent_requests where operation = %(op)s and key = %(k)s",
        {"op": operation, "k": key})).one()
    if not hmac.compare_digest(bytes(prior.fingerprint), fp):
        raise KopruError("request.idempotency_conflict")
    slot.replay = (prior.status, prior.response)
    return slot
