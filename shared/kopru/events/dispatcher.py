"""The dispatcher (`kopru dispatch`): Kafka -> functions, as Knative's KafkaSource does it.

One consumer group per consuming function (`kopru-<function>`), subscribed to the
topics of the event types it consumes. Records of one partition are delivered one
at a time, in order (the next waits for the sink's answer); partitions proceed in
parallel. The offset is committed only after the sink answered (or the record was
dead-lettered). The consumer keeps polling while partitions are worked on (a long
handler never gets it kicked out of its group): records of a busy partition wait for
its worker, in order, and the partition is paused only when BACKLOG_MAX of them wait.
A partition keeps being fetched while its worker delivers, so a record arriving at a
steady rate waits for the records before it, not for a poll or fetch to come round.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kopru.events.catalog import DeliveryPolicy, load_catalog
from kopru.events.delivery import Outcome, Sender, dead_letter_attributes, deliver
from kopru.logs import get_logger

log = get_logger("kopru.dispatcher")


def http_sender(client: Any, url: str, function: str, sender: str = "dispatcher") -> Sender:
    """POST binary-mode CloudEvents with an httpx.AsyncClient (to a URL, or to an
    ASGI app through httpx.ASGITransport), carrying the platform's sender token for
    `function` (kopru.events.ingress) unless the caller set an Authorization header."""
    from kopru.events.ingress import bearer

    async def send(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if not any(k.lower() == "authorization" for k in headers):
            headers = {**headers, "authorization": bearer(function, sender)}
        r = await client.post(url, headers=headers, content=body)
        return r.status_code, r.content

    return send


@dataclass
class FunctionConsumer:
    function: str
    bootstrap: str
    sender: Sender
    destination: str
    policy: DeliveryPolicy | None = None
    group: str | None = None
    catalog: Any = None  # default: the repository's catalog
    delivered: int = 0
    dead_lettered: int = 0
    _tasks: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        cat = self.catalog or load_catalog()
        self.topics = cat.consumed_by(self.function)
        self.types = frozenset(t for ts in self.topics.values() for t in ts)
        self.policy = self.policy or cat.delivery
        self.group = self.group or f"kopru-{self.function}"
        self.dlq_topic = cat.dead_letter_topic(self.function)
        self._backlog: dict = {}  # records of busy partitions, waiting for their worker

    async def run(self, stop: asyncio.Event, producer, health=None, probe_every: float = 2.0,
                  probe_timeout: float = 5.0) -> None:
        """Consume until `stop` is set. An error ends the run (after the partitions'
        workers were waited for or cancelled, their exceptions retrieved), and
        `supervise` starts it again; nothing uncommitted is lost, it is redelivered.
        aiokafka rides out a broker restart by itself, so every `probe_every` s the
        cluster is asked for its metadata: `health` goes down while no broker answers."""
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        outer = self

        class Drain(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                # records not yet started are the next owner's; let in-flight deliveries of
                # revoked partitions finish and commit
                for tp in revoked:
                    outer._backlog.pop(tp, None)
                pending = [t for tp, t in outer._tasks.items() if tp in revoked]
                if pending:
                    await asyncio.wait(pending, timeout=outer.policy.timeout)

            async def on_partitions_assigned(self, assigned):
                pass

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_interval_ms=300_000, session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000, isolation_level="read_committed",
        )
        consumer.subscribe(list(self.topics), listener=Drain())
        self._tasks, self._backlog = {}, {}
        try:
            await consumer.start()
            loop = asyncio.get_running_loop()
            next_probe = loop.time()
            while not stop.is_set():
                if health is not None and loop.time() >= next_probe:
                    await self._probe(consumer, health, probe_timeout)
                    next_probe = loop.time() + probe_every
                batches = await self._poll(consumer)
                failed = await self._reap_done(consumer)
                for tp, records in batches.items():
                    if tp in failed:
                        continue  # fetched before the seek back: delivered again from the committed offset
                    if tp in self._tasks:  # busy: its worker takes them next, in order
                        backlog = self._backlog.setdefault(tp, [])
                        backlog.extend(records)
                        if len(backlog) >= self.BACKLOG_MAX:
                            consumer.pause(tp)
                    else:
                        self._start(consumer, tp, records)
            if self._tasks:
                await asyncio.wait(list(self._tasks.values()), timeout=self.policy.timeout)
        finally:
            await self._reap()
            await consumer.stop()

    BACKLOG_MAX = 500  # records held for a busy partition before it is paused

    def _start(self, consumer, tp, records) -> None:
        task = self._tasks[tp] = asyncio.create_task(self._drain(consumer, tp, records))
        task.add_done_callback(self._worker_done)

    async def _reap_done(self, consumer) -> set:
        """Retire the partitions' workers that finished: a failed one's partition goes
        back to its committed offset (its records are delivered again); records that
        came for a finished one while it was committing start a new worker. Returns the
        partitions sent back."""
        failed = set()
        for tp, task in list(self._tasks.items()):
            if not task.done():
                continue
            del self._tasks[tp]
            exc = None if task.cancelled() else task.exception()
            if exc is not None or task.cancelled():
                log.error("partition worker failed; its records will be redelivered",
                          extra={"fields": {"topic": tp.topic, "partition": tp.partition,
                                            "error": type(exc).__name__ if exc else "CancelledError"}})
                self._backlog.pop(tp, None)
                await consumer.seek_to_committed(tp)
                failed.add(tp)
            elif self._backlog.get(tp):
                self._start(consumer, tp, self._backlog.pop(tp))
                continue
            if tp in consumer.assignment() and tp in consumer.paused():
                consumer.resume(tp)
        return failed

    def _worker_done(self, _task) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _poll(self, consumer) -> dict:
        """The next records: waits up to 100 ms for them, but no longer than until a
        partition's worker finishes (it is retired, and its partition resumed, at once)."""
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.clear()
        if not self._tasks:
            return await consumer.getmany(timeout_ms=100, max_records=500)
        if any(t.done() for t in self._tasks.values()):
            return await consumer.getmany(timeout_ms=0, max_records=500)
        get = asyncio.ensure_future(consumer.getmany(timeout_ms=100, max_records=500))
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((get, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            if not get.done():
                # records not yet handed over stay in aiokafka's buffer for the next poll
                get.cancel()
                try:
                    await get
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():
                        raise  # this task itself was cancelled
        return {} if get.cancelled() else get.result()

    _wake = None  # set on the run's loop

    async def _probe(self, consumer, health, timeout: float) -> None:
        try:
            await asyncio.wait_for(consumer.topics(), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no broker answered: down, aiokafka keeps reconnecting
            health.down(type(exc).__name__)
        else:
            health.up()

    async def _reap(self) -> None:
        """Cancel the partitions' workers still running (their records were not
        committed: redelivered) and retrieve every worker's outcome."""
        tasks = list(self._tasks.values())
        self._tasks = {}
        for t in tasks:
            if not t.done():
                t.cancel()
        if tasks:
            await asyncio.wait(tasks)
            for t in tasks:
                if not t.cancelled():
                    t.exception()

    async def _drain(self, consumer, tp, records) -> None:
        """Deliver a partition's records one by one, then commit: every offset committed
        has been answered (delivered or dead-lettered); records that came for the
        partition meanwhile are delivered next, then committed in turn. An error or a
        cancellation mid-batch commits the answered prefix only; the rest is
        redelivered, which the consumers' inboxes make harmless, and none is skipped."""
        from aiokafka.structs import OffsetAndMetadata

        last = committed = None
        try:
            while records:
                for rec in records:
                    await self.handle(rec, producer=self._producer)
                    last = rec.offset
                await consumer.commit({tp: OffsetAndMetadata(last + 1, "")})
                committed = last
                records = self._backlog.pop(tp, None)
        finally:
            if last is not None and last != committed:
                await consumer.commit({tp: OffsetAndMetadata(last + 1, "")})

    async def handle(self, rec, producer) -> Outcome | None:
        """Deliver one record; dead-letter it when it can't be. Returns the outcome
        (None for a record of a type this function doesn't consume)."""
        from kopru.events.envelope import MalformedRecord, from_kafka, to_http

        headers = list(rec.headers or ())
        try:
            event = from_kafka(headers, rec.key, rec.value)
        except MalformedRecord as exc:
            # never retried; logged without its payload
            log.warning("malformed record dead-lettered", extra={"fields": {
                "topic": rec.topic, "partition": rec.partition, "offset": rec.offset, "reason": str(exc)}})
            outcome = Outcome(False, 400, 0, str(exc).encode())
            await self._dead_letter(producer, rec, headers, outcome)
            return outcome
        if event["type"] not in self.types:
            return None
        http_headers, body = to_http(event)
        outcome = await deliver(self.sender, http_headers, body, self.policy)
        if outcome.delivered:
            self.delivered += 1
        else:
            await self._dead_letter(producer, rec, headers, outcome)
        return outcome

    async def _dead_letter(self, producer, rec, headers, outcome: Outcome) -> None:
        extra = [(f"ce_{k}", v.encode()) for k, v in dead_letter_attributes(outcome, self.destination).items()]
        await producer.send_and_wait(self.dlq_topic, value=rec.value, key=rec.key,
                                     headers=[h for h in headers if not h[0].startswith("ce_knativeerror")] + extra)
        self.dead_lettered += 1

    _producer: Any = None


class _SharedProducer:
    """The dead-letter producer the consumers share, (re)started on demand: a broker
    that is down at start-up fails the run, and `supervise` tries again."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.producer = None
        self._lock = asyncio.Lock()

    async def get(self):
        async with self._lock:
            if self.producer is None:
                from aiokafka import AIOKafkaProducer

                p = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all")
                try:
                    await p.start()
                except BaseException:
                    await p.stop()
                    raise
                self.producer = p
            return self.producer

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None


async def run_dispatcher(bootstrap: str, sinks: dict[str, tuple[Sender, str]], stop: asyncio.Event,
                         catalog: Any = None, policy: DeliveryPolicy | None = None,
                         started: list | None = None, registry: Any = None, backoff: Any = None,
                         probe_every: float = 2.0) -> list[FunctionConsumer]:
    """Run one consumer per function in `sinks` ({function: (sender, destination)}) until
    stop, each supervised as the loop `dispatcher:<function>` (restarted with backoff
    after any error; its state in the health registry)."""
    from kopru.events.supervisor import supervise

    shared = _SharedProducer(bootstrap)
    consumers = []
    for fn, (sender, dest) in sinks.items():
        c = FunctionConsumer(fn, bootstrap, sender, dest, policy=policy, catalog=catalog)
        if c.topics:
            consumers.append(c)
    if started is not None:
        started.extend(consumers)

    def loop(c: FunctionConsumer):
        async def run(health) -> None:
            producer = await shared.get()
            c._producer = producer
            await c.run(stop, producer, health=health, probe_every=probe_every)
        return run

    try:
        await asyncio.gather(*(supervise(f"dispatcher:{c.function}", loop(c), stop, registry=registry,
                                         backoff=backoff) for c in consumers))
    finally:
        await shared.stop()
    return consumers
