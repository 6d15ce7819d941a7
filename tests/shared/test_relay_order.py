"""The relay's promise: each tenant's events reach the bus in the order their
transactions committed, even when concurrent transactions commit in another order
than they wrote their outbox rows (an identity column is taken at insert, not at
commit)."""

import asyncio
import datetime
import random

import pytest

from kopru.events.relay import Relay


class Recording:
    """A publisher that remembers the order of what it was given (the bus)."""

    def __init__(self):
        self.ids: list[str] = []

    async def publish_batch(self, records):
        for _topic, _key, headers, _value in records:
            self.ids.append(dict(headers)["ce_id"].decode())


async def drain(relay):
    while await relay.run_once():
        pass


def onboarded(tenant_id) -> dict:
    return {"tenant_id": str(tenant_id), "subdomain": "order-x", "plan": "trial", "language": "tr-TR",
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}


async def open_transactions(tenant_id, n: int):
    """n transactions of one tenant, each emitting one event, in order (so their outbox
    ids grow with i), each left open until its gate is set. Returns (ids, gates, tasks)."""
    from kopru.db import tenant_transaction
    from kopru.events import current_source

    current_source.set("/kopru/tenant-onboarding")
    ids: list[str | None] = [None] * n
    gates = [asyncio.Event() for _ in range(n)]
    tasks = []
    for i in range(n):
        emitted = asyncio.Event()

        async def txn(i=i, emitted=emitted):
            async with tenant_transaction(tenant_id, actor="test") as tx:
                ids[i] = await tx.emit("kopru.tenant.onboarded.v1", onboarded(tenant_id))
                # the outbox insert is queued in the transaction's pipeline (kopru.db.engine): a
                # statement that reads an answer sends it, so the row is written before the next
                # transaction writes its own (the ids then grow with i, as the test means)
                await tx.execute("select 1")
                emitted.set()
                await gates[i].wait()

        tasks.append(asyncio.create_task(txn()))
        await asyncio.wait_for(emitted.wait(), 30)
    return ids, gates, tasks


async def test_events_reach_the_bus_in_commit_order_per_tenant(onboard, db):
    t = await onboard()
    bus = Recording()
    relay = Relay(bus)
    await drain(relay)
    ids, gates, tasks = await open_transactions(t["id"], 5)
    commit_order = [4, 2, 0, 3, 1]
    for k, i in enumerate(commit_order):
        gates[i].set()
        await asyncio.wait_for(tasks[i], 30)
        if k == 1:
            await drain(relay)  # the relay runs between commits too
    await drain(relay)
    await relay.dispose()
    written = [db.execute("select id from outbox where event_id = %s", (i,)).fetchone()[0] for i in ids]
    assert written == sorted(written)  # the outbox ids follow the order of writing, not of committing
    assert [x for x in bus.ids if x in ids] == [ids[i] for i in commit_order]
    # every row this session wrote took its place at commit (none slipped past the trigger)
    assert db.execute("select count(*) from outbox where commit_seq is null").fetchone()[0] == 0


async def test_commit_order_with_the_relay_running_meanwhile(onboard):
    """Ten concurrent transactions of one tenant commit in a shuffled order while
    the relay runs in the background: the bus sees them in that order."""
    t = await onboard()
    bus = Recording()
    relay = Relay(bus)
    await drain(relay)
    ids, gates, tasks = await open_transactions(t["id"], 10)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop, idle=0.02))
    order = list(range(10))
    random.Random(7).shuffle(order)
    try:
        for i in order:
            gates[i].set()
            await asyncio.wait_for(tasks[i], 30)
            await asyncio.sleep(random.Random(i).choice([0, 0.01, 0.05]))
        deadline = asyncio.get_running_loop().time() + 30
        while len([x for x in bus.ids if x in ids]) < 10:
            assert asyncio.get_running_loop().time() < deadline, "every event published"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await relay.dispose()
    assert [x for x in bus.ids if x in ids] == [ids[i] for i in order]


@pytest.mark.parametrize("n", [3])
async def test_an_uncommitted_transaction_holds_back_nothing_else(onboard, n):
    """A transaction left open does not stop the relay from publishing what others
    committed (no head-of-line blocking on the outbox)."""
    t = await onboard()
    bus = Recording()
    relay = Relay(bus)
    await drain(relay)
    ids, gates, tasks = await open_transactions(t["id"], n)
    gates[1].set()
    await asyncio.wait_for(tasks[1], 30)
    await drain(relay)
    assert [x for x in bus.ids if x in ids] == [ids[1]]
    for i in (0, 2):
        gates[i].set()
        await asyncio.wait_for(tasks[i], 30)
    await drain(relay)
    await relay.dispose()
    assert [x for x in bus.ids if x in ids] == [ids[1], ids[0], ids[2]]
