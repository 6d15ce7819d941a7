"""One request at a time per Arvento account, at most one per interval, across every
Köprü instance (they scale out and to zero, so nothing in a process can count).

The slot is a row in PostgreSQL (`arvento_rate`: account -> next_at). Taking it is one
atomic statement (an upsert whose update only happens when next_at has passed: of two
instances racing, exactly one gets a row back), and it is held for the interval plus the
call's time-out, so no one else starts a request while ours is in flight. When our call
ends (answered or failed) next_at becomes *then* + interval: the next request starts at
least one interval after this one was answered, so it reaches Arvento at least one
interval after this one did, whatever the network did in between. A holder that dies
frees the slot when its hold runs out.

The database's clock is the one clock all instances share (`clock_timestamp()`)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime

CALL_TIMEOUT_S = 15.0


def account_key(base_url: str, username: str) -> str:
    """The account's key: a hash, so the platform table holds no user name."""
    return hashlib.sha256(f"arvento\x00{base_url.rstrip('/')}\x00{username}".encode()).hexdigest()


async def try_claim(key: str, interval_s: float, timeout_s: float = CALL_TIMEOUT_S) -> tuple[bool, float]:
    """(taken, seconds until the slot frees when not taken)."""
    from sqlalchemy import text

    from kopru.db import platform_transaction

    hold = interval_s + timeout_s + 5.0
    async with platform_transaction() as conn:
        got = (await conn.execute(text(
            "insert into arvento_rate (account_key, next_at, updated_at) "
            "values (:k, clock_timestamp() + make_interval(secs => :hold), clock_timestamp()) "
            "on conflict (account_key) do update set next_at = excluded.next_at, updated_at = excluded.updated_at "
            "where arvento_rate.next_at <= clock_timestamp() returning account_key"),
            {"k": key, "hold": hold})).first()
        if got is not None:
            return True, 0.0
        wait = (await conn.execute(text(
            "select greatest(0, extract(epoch from next_at - clock_timestamp())) from arvento_rate "
            "where account_key = :k"), {"k": key})).scalar()
    return False, float(wait or 0.0)


async def release(key: str, interval_s: float) -> None:
    """Our call is over: the next may start one interval from now."""
    from sqlalchemy import text

    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        await conn.execute(text(
            "update arvento_rate set next_at = clock_timestamp() + make_interval(secs => :iv), "
            "updated_at = clock_timestamp() where account_key = :k"), {"k": key, "iv": interval_s})


async def claim(key: str, interval_s: float, *, wait_s: float = 0.0) -> bool:
    """Take the slot, waiting up to `wait_s` for it to free (a wait, not the enforcement:
    every attempt is the same atomic statement)."""
    deadline = time.monotonic() + wait_s
    while True:
        taken, wait = await try_claim(key, interval_s)
        if taken:
            return True
        left = deadline - time.monotonic()
        if wait > left:
            return False
        await asyncio.sleep(max(0.01, wait))


async def next_at(key: str) -> datetime | None:
    from sqlalchemy import text

    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        return (await conn.execute(text("select next_at from arvento_rate where account_key = :k"),
                                   {"k": key})).scalar()
