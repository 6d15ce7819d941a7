"""Scheduled work over every tenant, written once: the report and status polls and the
recovery of stalled side effects all walk the tenants the same way, each tenant in its
own transactions, one tenant's failure logged and counted without stopping the others."""

from __future__ import annotations

import uuid
from typing import Any, Awaitable, Callable

from kopru.logs import get_logger

log = get_logger("kopru.work")

STALL_AFTER_S = 300  # a `pending` effect nobody tried for 5 minutes (its event lost or dead-lettered, say)


async def tenant_ids() -> list[uuid.UUID]:
    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        return list((await conn.execute("select tenant_id from tenant_directory")).scalars().all())


async def for_each_tenant(fn: Callable[[uuid.UUID], Awaitable[Any]], *, name: str) -> dict[str, int]:
    """Run fn(tenant_id) for every tenant; counts `tenants` and `errors`."""
    counts = {"tenants": 0, "errors": 0}
    for tid in await tenant_ids():
        counts["tenants"] += 1
        try:
            await fn(tid)
        except Exception as exc:  # one tenant's trouble never stops the sweep
            counts["errors"] += 1
            log.warning("sweep.tenant_failed", extra={"fields": {"sweep": name, "tenant_id": str(tid),
                                                               "error": type(exc).__name__}})
    return counts


async def stalled(tenant_id: uuid.UUID, provider: str, *, limit: int = 200) -> list[tuple[str, str]]:
    """(operation, ref) of the tenant's effects at `provider` that nobody is finishing: an
    `in_flight` one whose lease ran out (its holder died), or a `pending` one untouched
    for STALL_AFTER_S."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor="schedule:work-recover") as tx:
        rows = (await tx.execute(
            "select operation, ref from outward_calls where provider = %(p)s and ("
            " (state = 'in_flight' and lease_until < now())"
            " or (state = 'pending' and updated_at < now() - make_interval(secs => %(stall)s)))"
            " order by updated_at limit %(limit)s", {"p": provider, "stall": STALL_AFTER_S, "limit": limit})).all()
    return [(r.operation, r.ref) for r in rows]


async def measure(tenant_id: uuid.UUID, provider: str) -> None:
    """The gauges of the tenant's effects at `provider` (kopru.metrics.outward): parked
    `unknown` (an operator's to settle), owed (pending or in flight) and the oldest owed
    one's age, counted in the database after the sweep's takeover; no query when metrics
    are off. Both counts read partial indexes (outward_calls_open, outward_calls_parked)."""
    from kopru import metrics

    if not metrics.enabled():
        return
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor="schedule:work-measure") as tx:
        row = (await tx.execute(
            "select (select count(*) from outward_calls where provider = %(p)s and state = 'unknown') as parked, "
            "count(*) as owed, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest "
            "from outward_calls where provider = %(p)s and state in ('pending', 'in_flight')",
            {"p": provider})).one()
    metrics.outward(tenant_id, provider, row.parked, row.owed, row.oldest)


async def recover(provider: str, make_effect: Callable[[uuid.UUID, str, str], Any], *, actor: str) -> dict[str, int]:
    """Take every stalled effect at `provider` over through `perform` (which reconciles an
    ambiguous one before anything is sent). Counts outcomes."""
    from kopru.errors import KopruError
    from kopru.work.outward import perform

    counts: dict[str, int] = {}

    async def one_tenant(tid: uuid.UUID) -> None:
        for operation, ref in await stalled(tid, provider):
            try:
                state = await perform(tid, make_effect(tid, operation, ref), actor=actor)
            except KopruError:
                state = "retry_later"
            counts[state] = counts.get(state, 0) + 1
        await measure(tid, provider)

    counts.update({f"sweep_{k}": v for k, v in (await for_each_tenant(one_tenant, name=f"recover:{provider}")).items()})
    return counts
