"""Events on a real Kafka broker: the chain, the faults, the bad records."""

import asyncio
import logging
import time

import pytest

from kopru.events.dispatcher import run_dispatcher
from kopru.events.relay import KafkaPublisher, Relay
from tests.eventsupport import emit_onboarded, probe_app, probe_catalog
from tests.helpers import bearer

CATALOG = probe_catalog(backoff_delay=0.05)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return probe_app(tmp_path_factory.mktemp("probe-kafka"))


@pytest.fixture
async def running(kafka, probe):
    """Relay (outbox -> Kafka) and dispatcher (Kafka -> probe) running in the background."""
    from kopru.events.topics import apply
    from kopru_tools.eventing import asgi_sender

    await apply(kafka["bootstrap"], catalog=CATALOG)
    app, fn = probe
    stop = asyncio.Event()
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    relay = Relay(pub, catalog=CATALOG)
    consumers = []
    tasks = [
        asyncio.create_task(relay.run(stop, idle=0.2)),
        asyncio.create_task(run_dispatcher(kafka["bootstrap"], {"probe": (asgi_sender(app, "probe"), "/function/probe/")},
                                           stop, catalog=CATALOG, started=consumers)),
    ]
    yield {"fn": fn, "relay": relay, "publisher": pub, "consumers": consumers, "stop": stop, "tasks": tasks}
    stop.set()
    done, pending = await asyncio.wait(tasks, timeout=30)
    for t in done:
        t.result()  # a crashed relay or dispatcher fails the test
    await relay.dispose()
    await pub.stop()


def effect_counts(db, tenant_id) -> dict[str, int]:
    rows = db.execute("select target, count(*) from audit_log where tenant_id = %s and action = 'probe.onboarded' "
                      "group by target", (str(tenant_id),)).fetchall()
    return {r[0]: r[1] for r in rows}


async def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def dlq_records(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                         group_id=None)
    await c.start()
    out = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=500)
            for recs in batch.values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


async def test_chain_onboarding_to_consumer_with_one_trace(running, client, operator_token, db):
    from tests.helpers import tenant_body

    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = await client("tenant-onboarding").post("/tenants", json=tenant_body(),
                                               headers={**bearer(operator_token), "traceparent": tp})
    assert r.status_code == 201
    tid = r.json()["tenant"]["id"]
    await wait_until(lambda: effect_counts(db, tid), 60, "the consumer's effect")
    details = db.execute("select details from audit_log where tenant_id = %s and action = 'probe.onboarded'",
                         (tid,)).fetchone()[0]
    assert details["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


async def test_transient_failures_then_success(running, onboard, db):
    t = await onboard()
    ids = await emit_onboarded(t["id"], 1, subdomain="flaky-three") + await emit_onboarded(t["id"], 1)
    await wait_until(lambda: set(ids) <= set(effect_counts(db, t["id"])), 60, "both effects")
    assert running["fn"].calls.count(ids[0]) == 4
    eff = effect_counts(db, t["id"])
    assert eff[ids[0]] == eff[ids[1]] == 1


async def test_always_failing_handler_dead_letters_and_the_partition_moves_on(running, kafka, onboard, db):
    t = await onboard()
    doomed = (await emit_onboarded(t["id"], 1, subdomain="always-fail"))[0]
    after = (await emit_onboarded(t["id"], 1))[0]  # same tenant, so the same partition, behind it
    await wait_until(lambda: after in effect_counts(db, t["id"]), 60, "the next event")
    recs = await dlq_records(kafka["bootstrap"], "kopru.deadletter.probe", 1)
    mine = [r for r in recs if dict(r.headers).get("ce_id") == doomed.encode()]
    assert mine, "dead-lettered record"
    h = dict(mine[0].headers)
    assert h["ce_knativeerrorcode"] == b"500" and h["ce_knativeerrordest"] == b"/function/probe/"
    assert running["fn"].calls.count(doomed) == 1 + CATALOG.delivery.retry
    assert doomed not in effect_counts(db, t["id"])


async def test_bad_records_are_dead_lettered_without_retry_or_payload_in_logs(running, kafka, onboard, caplog):
    from aiokafka import AIOKafkaProducer

    t = await onboard()
    secret = b"+905321234567"
    base = [("ce_specversion", b"1.0"), ("ce_source", b"/kopru/test"), ("ce_type", b"kopru.tenant.onboarded.v1"),
            ("ce_tenantid", str(t["id"]).encode()), ("content-type", b"application/json")]
    p = AIOKafkaProducer(bootstrap_servers=kafka["bootstrap"])
    await p.start()
    key = str(t["id"]).encode()
    await p.send_and_wait("kopru.tenant", value=b"not a cloudevent " + secret, key=key)
    await p.send_and_wait("kopru.tenant", value=b'{"phone": "%s"}' % secret, key=key, headers=base)  # no ce_id
    await p.send_and_wait("kopru.tenant", value=b'{"tenant_id": "nope", "phone": "%s"}' % secret, key=key,
                          headers=base + [("ce_id", b"bad-schema-1")])
    await p.stop()
    caplog.set_level(logging.INFO)
    recs = []

    async def three():
        nonlocal recs
        recs = [r for r in await dlq_records(kafka["bootstrap"], "kopru.deadletter.probe", 50, timeout=5)
                if secret in (r.value or b"")]
        return len(recs) >= 3

    deadline = time.monotonic() + 60
    while not await three():
        assert time.monotonic() < deadline, "three dead-lettered records"
    codes = sorted(dict(r.headers)["ce_knativeerrorcode"] for r in recs)
    assert codes == [b"400", b"400", b"400"]
    assert "bad-schema-1" not in running["fn"].calls  # refused before the handler, once
    assert secret.decode() not in caplog.text


async def test_relay_killed_between_publish_and_mark(kafka, probe, onboard, db):
    """Publish, crash before marking, publish again: the consumer sees the event
    twice and applies it once."""
    t = await onboard()
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    relay = Relay(pub, catalog=CATALOG)
    ids = await emit_onboarded(t["id"], 20)

    async def crash(rows):
        raise RuntimeError("killed")

    # drain everything older first so the crash hits our batch
    with pytest.raises(RuntimeError):
        while True:
            await relay.run_once(after_publish=crash)
    await relay.dispose()
    await pub.stop()
    assert db.execute("select count(*) from outbox where tenant_id = %s and published_at is null",
                      (str(t["id"]),)).fetchone()[0] == 21
    from kopru_tools.eventing import asgi_sender

    app, fn = probe
    stop = asyncio.Event()
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    relay = Relay(pub, catalog=CATALOG)
    tasks = [asyncio.create_task(relay.run(stop, idle=0.2)),
             asyncio.create_task(run_dispatcher(kafka["bootstrap"], {"probe": (asgi_sender(app, "probe"), "d")},
                                                stop, catalog=CATALOG))]
    try:
        await wait_until(lambda: set(ids) <= set(effect_counts(db, t["id"])), 90, "20 effects")
        await asyncio.sleep(2)  # let the duplicates arrive too
        assert sum(fn.calls.count(i) for i in ids) >= 40  # every event delivered twice
        eff = effect_counts(db, t["id"])
        assert all(eff[i] == 1 for i in ids)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=30)
        await relay.dispose()
        await pub.stop()


async def test_broker_restart_while_5000_events_flow(running, kafka, onboard, db):
    if kafka["broker"] is None:
        pytest.fail("this test restarts the broker: run it with the broker scripts/test starts")
    t = await onboard()
    ids = await emit_onboarded(t["id"], 5000, per_tx=500)
    await wait_until(lambda: len(effect_counts(db, t["id"])) >= 500, 120, "the first 500 effects")
    assert len(effect_counts(db, t["id"])) < 5000, "the restart must happen while events flow"
    await asyncio.to_thread(kafka["broker"].stop)
    await asyncio.sleep(2)
    await asyncio.to_thread(kafka["broker"].start)
    await wait_until(lambda: set(ids) <= set(effect_counts(db, t["id"])), 300, "all 5000 effects")
    eff = effect_counts(db, t["id"])
    assert set(eff) == set(ids) | {e for e in eff if e not in ids} and all(eff[i] == 1 for i in ids)
    inbox = db.execute("select count(*) from inbox where tenant_id = %s and consumer = 'probe' and event_id = any(%s)",
                       (str(t["id"]), ids)).fetchone()[0]
    assert inbox == 5000


async def test_broker_restart_turns_the_dispatcher_unready_then_ready(kafka, probe, onboard, db):
    """The supervised dispatcher's loop goes down while no broker answers and up once
    it does again, without a restart of anything but the broker; every effect once."""
    from kopru.events.supervisor import Backoff, Health, supervise
    from kopru.events.topics import apply
    from kopru_tools.eventing import asgi_sender

    if kafka["broker"] is None:
        pytest.fail("this test restarts the broker: run it with the broker scripts/test starts")
    await apply(kafka["bootstrap"], catalog=CATALOG)
    app, fn = probe
    reg = Health()
    fast = Backoff(initial=0.2, maximum=2.0)
    stop = asyncio.Event()
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    relay = Relay(pub, catalog=CATALOG)

    async def relay_loop(health):
        await relay.run(stop, idle=0.2, health=health)

    tasks = [
        asyncio.create_task(supervise("relay", relay_loop, stop, registry=reg, backoff=fast)),
        asyncio.create_task(run_dispatcher(kafka["bootstrap"], {"probe": (asgi_sender(app, "probe"), "/function/probe/")},
                                           stop, catalog=CATALOG, registry=reg, backoff=fast, probe_every=0.5)),
    ]
    t = await onboard()
    try:
        await wait_until(lambda: reg.ready() and "dispatcher:probe" in reg.snapshot(), 60, "loops up")
        before = await emit_onboarded(t["id"], 50)
        await wait_until(lambda: set(before) <= set(effect_counts(db, t["id"])), 60, "effects before the restart")
        await asyncio.to_thread(kafka["broker"].stop)
        await wait_until(lambda: "dispatcher:probe" in reg.down(), 30, "the dispatcher to go red")
        assert reg.get("dispatcher:probe").last_error
        during = await emit_onboarded(t["id"], 50)  # committed to the outbox while the broker is down
        await asyncio.sleep(1)
        await asyncio.to_thread(kafka["broker"].start)
        await wait_until(lambda: reg.ready() and "dispatcher:probe" in reg.snapshot(), 120, "green again")
        after = await emit_onboarded(t["id"], 50)
        ids = before + during + after
        await wait_until(lambda: set(ids) <= set(effect_counts(db, t["id"])), 120, "every effect")
        await asyncio.sleep(1)
        eff = effect_counts(db, t["id"])
        assert all(eff[i] == 1 for i in ids)
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=30)
        assert not pending
        for task in done:
            task.result()  # supervised: never raises
        await relay.dispose()
        await pub.stop()


def _own_topic_catalog(topic: str):
    """The probe catalog with onboarding events on a topic of their own (fresh offsets)."""
    import dataclasses

    from kopru.events.catalog import Topic

    cat = probe_catalog(backoff_delay=0.05)
    events = dict(cat.events)
    events["kopru.tenant.onboarded.v1"] = dataclasses.replace(events["kopru.tenant.onboarded.v1"], topic=topic)
    return dataclasses.replace(cat, events=events, topics={**cat.topics, topic: Topic(topic, 1, 3600_000)})


async def test_dispatcher_cancelled_mid_batch_redelivers_from_the_first_unanswered_record(kafka, probe, onboard, db):
    """The dispatcher is cancelled while a partition's batch is half delivered, then runs
    again: every record's effect exactly once. Committing before delivery (the batch's
    offsets on receipt, or a record's before its answer) loses the rest: this fails."""
    import secrets

    from aiokafka import AIOKafkaProducer

    from kopru.events.dispatcher import FunctionConsumer
    from kopru.events.topics import apply
    from kopru_tools.eventing import asgi_sender

    cat = _own_topic_catalog(f"kopru.test-commit-{secrets.token_hex(4)}")
    await apply(kafka["bootstrap"], catalog=cat)
    app, fn = probe
    t = await onboard()
    ids = await emit_onboarded(t["id"], 30)
    # publish exactly our 30 events onto the fresh topic (the outbox keeps other rows for other tests)
    from psycopg.rows import namedtuple_row

    from kopru.events.envelope import from_outbox, to_kafka

    rows = db.cursor(row_factory=namedtuple_row).execute(
        "select * from outbox where event_id = any(%s::uuid[]) order by id", (ids,)).fetchall()
    assert len(rows) == 30
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    await pub.publish_batch([(cat.events[r.type].topic, *to_kafka(from_outbox(r))) for r in rows])
    await pub.stop()
    real = asgi_sender(app, "probe")
    cut = asyncio.Event()
    answered = []

    async def send_until_cut(headers, body):
        if len(answered) == 12:  # the 13th record: the process dies before the function answers
            cut.set()
            await asyncio.sleep(3600)
        status, out = await real(headers, body)
        answered.append(headers["ce-id"])
        return status, out

    producer = AIOKafkaProducer(bootstrap_servers=kafka["bootstrap"])
    await producer.start()
    group = f"kopru-probe-{secrets.token_hex(4)}"
    try:
        first = FunctionConsumer("probe", kafka["bootstrap"], send_until_cut, "/function/probe/", catalog=cat,
                                 group=group)
        first._producer = producer
        stop = asyncio.Event()
        task = asyncio.create_task(first.run(stop, producer))
        await asyncio.wait_for(cut.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert answered == ids[:12]  # one partition, in order, cut in the middle
        assert set(effect_counts(db, t["id"])) & set(ids) == set(ids[:12])

        second = FunctionConsumer("probe", kafka["bootstrap"], real, "/function/probe/", catalog=cat, group=group)
        second._producer = producer
        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop, producer))
        try:
            await wait_until(lambda: set(ids) <= set(effect_counts(db, t["id"])), 60, "every record's effect")
            await asyncio.sleep(1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        eff = effect_counts(db, t["id"])
        assert all(eff[i] == 1 for i in ids)
        # the answered prefix was committed: the second run started at the cut record
        redelivered = [c for c in fn.calls if c in set(ids[:12])]
        assert len(redelivered) == 12, "answered records were redelivered: their offsets were not committed"
    finally:
        await producer.stop()


async def test_records_arriving_while_their_partition_is_delivered_wait_their_turn(kafka, onboard, db):
    """A partition keeps being fetched while its worker delivers: records that arrive
    meanwhile are delivered after the ones before them, one at a time, in order, and
    committed. A second worker started for a busy partition (records overtaking, two
    deliveries at once) fails this."""
    import secrets

    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition
    from psycopg.rows import namedtuple_row

    from kopru.events.dispatcher import FunctionConsumer
    from kopru.events.envelope import from_outbox, to_kafka
    from kopru.events.topics import apply

    topic = f"kopru.test-turn-{secrets.token_hex(4)}"
    cat = _own_topic_catalog(topic)
    await apply(kafka["bootstrap"], catalog=cat)
    t = await onboard()
    ids = await emit_onboarded(t["id"], 20)
    rows = db.cursor(row_factory=namedtuple_row).execute(
        "select * from outbox where event_id = any(%s::uuid[]) order by id", (ids,)).fetchall()
    records = [(topic, *to_kafka(from_outbox(r))) for r in rows]
    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    seen: list[str] = []
    active = [0, 0]  # now, most at once
    held, release = asyncio.Event(), asyncio.Event()

    async def send(headers, body):
        active[0] += 1
        active[1] = max(active)
        seen.append(headers["ce-id"])
        if len(seen) == 1:
            held.set()
            await release.wait()
        await asyncio.sleep(0.005)
        active[0] -= 1
        return 200, b""

    group = f"kopru-probe-{secrets.token_hex(4)}"
    consumer = FunctionConsumer("probe", kafka["bootstrap"], send, "/function/probe/", catalog=cat, group=group)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop, None))
    try:
        await pub.publish_batch(records[:3])
        await asyncio.wait_for(held.wait(), 60)
        await pub.publish_batch(records[3:])
        await asyncio.sleep(1.5)  # fetched while the first record's delivery is held
        release.set()
        await wait_until(lambda: len(seen) >= 20, 30, "every record delivered")
        await asyncio.sleep(0.5)
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 30)
        await pub.stop()
    assert seen == ids
    assert active[1] == 1
    check = AIOKafkaConsumer(bootstrap_servers=kafka["bootstrap"], group_id=group, enable_auto_commit=False)
    await check.start()
    try:
        assert await check.committed(TopicPartition(topic, 0)) == 20
    finally:
        await check.stop()
