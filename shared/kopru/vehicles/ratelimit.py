"""One request at a time per Arvento account, at most one per interval, across every
Köprü instance (they scale out and to zero, so nothing in a process can count).

The slot is a row in PostgreSQL (`arvento_rate`: account -> next_at). Taking it is one
atomic statement (an upsert whose update only happens when next_at has passed: of two
instances racing, exactly one gets a row back), and it is held for the interval plus the
call's time-out, so no one else starts a request while ours is in flight. The holder gets
the `next_at` it wrote back (its hold: no two holds share it), and gives the slot back with
a compare-and-set on it: when our call ends (answered or failed) next_at becomes *then* +
interval, but only while next_at is still ours. A holder whose hold ran out (its call
outlived it) and was taken over by another finds the slot no longer its own and changes
nothing: it never cuts short the new holder's hold. So the next request starts at least one
interval after this one was answered, and reaches Arvento at least one interval after this
one did, whatever the network did in between. A holder that dies frees the slot when its
hold runs out.

What the account's last request changed (a login's session) is read after the slot is taken
(kopru.vehicles.service.poll_tenant): a poller that waited for the slot acts on what the
previous holder left, not on what it read before.

The database's clock is the one clock all instances share (`clock_timestamp()`)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime

from kopru.logs import get_logger

log = get_logger("kopru.vehicles.ratelimit")

CALL_TIMEOUT_S = 15.0
GRACE_S = 5.0  # added to a hold: the answer's own way back

Hold = datetime  # the next_at a claim wrote: the holder's token


def account_key(base_url: str, username: str) -> str:
    """The account's key: a hash, so the platform table holds no user name."""
    return hashlib.sha256(f"arvento\x00{base_url.rstrip('/')}\x00{username}".encode()).hexdigest()


async def try_claim(key: str, interval_s: float, timeout_s: float = CALL_TIMEOUT_S) -> tuple[Hold | None, float]:
    """(our hold when taken, else None and the seconds until the current hold runs out)."""
    from kopru.db import platform_transaction

    hold = interval_s + timeout_s + GRACE_S
    async with platform_transaction() as conn:
        got = (await conn.execute(
            "insert into arvento_rate (account_key, next_at, updated_at) "
            "values (%(k)s, clock_timestamp() + make_interval(secs => %(hold)s), clock_timestamp()) "
            "on conflict (account_key) do update set next_at = excluded.next_at, updated_at = excluded.updated_at "
            "where arvento_rate.next_at <= clock_timestamp() returning next_at",
            {"k": key, "hold": hold})).first()
        if got is not None:
            return got.next_at, 0.0
        wait = (await conn.execute(
            "select greatest(0, extract(epoch from next_at - clock_timestamp())) from arvento_rate "
            "where account_key = %(k)s", {"k": key})).scalar()
    return None, float(wait or 0.0)


async def release(key: str, interval_s: float, held: Hold) -> bool:
    """Our call is over: the next may start one interval from now, if the slot is still ours
    (one compare-and-set). False when our hold had run out and another took the slot: its
    hold is left as it is."""
    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        done = (await conn.execute(
            "update arvento_rate set next_at = clock_timestamp() + make_interval(secs => %(iv)s), "
            "updated_at = clock_timestamp() where account_key = %(k)s and next_at = %(held)s",
            {"k": key, "iv": interval_s, "held": held})).rowcount
    if not done:
        log.warning("vehicles.arvento_slot_lost", extra={"fields": {"account_key": key[:12]}})
    return bool(done)


async def claim(key: str, interval_s: float, *, wait_s: float = 0.0,
                timeout_s: float = CALL_TIMEOUT_S) -> Hold | None:
    """Take the slot, waiting up to `wait_s` for it to free (a wait, not the enforcement:
    every attempt is the same atomic statement). A holder usually gives the slot back long
    before its hold runs out, so a waiter looks again at least every quarter interval."""
    deadline = time.monotonic() + wait_s
    while True:
        held, wait = await try_claim(key, interval_s, timeout_s)
        if held is not None:
            return held
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(max(0.01, min(wait, left, max(0.05, interval_s / 4))))


async def next_at(key: str) -> datetime | None:
    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        return (await conn.execute("select next_at from arvento_rate where account_key = %(k)s",
                                   {"k": key})).scalar()
