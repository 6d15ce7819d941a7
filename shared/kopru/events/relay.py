"""The outbox relay: publishes committed events, in commit order per tenant, then
marks them sent. A crash between publishing and marking only republishes (consumers
dedupe through their inbox); nothing committed is ever lost.

One relay works at a time (a transaction-level advisory lock), so per-tenant order
holds even when several relays run for availability. Publishers: Kafka (an
idempotent producer, acks=all) or the in-process bus of `kopru dev`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from kopru import tracing
from kopru.logs import get_logger

log = get_logger("kopru.relay")

LOCK_KEY = 0x6B6F7072  # "kopr"
BATCH = 500
SERVICE = "outbox-relay"  # its spans' service.name


class Publisher(Protocol):
    async def publish_batch(self, records: list[tuple[str, bytes | None, list[tuple[str, bytes]], bytes]]) -> None:
        """Publish (topic, key, headers, value) records in order; return once all are acknowledged."""


class KafkaPublisher:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self._producer = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
            request_timeout_ms=15000, retry_backoff_ms=200,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # a broker down at start-up: the caller tries again
            raise
        self._producer = producer

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish_batch(self, records) -> None:
        futures = [await self._producer.send(topic, value=value, key=key, headers=headers)
                   for topic, key, headers, value in records]
        await asyncio.gather(*futures)


_PENDING = ("select id, tenant_id, event_id, type, source, subject, data, extensions, created_at, published_at "
            "from outbox where published_at is null "
            # each tenant's commit order (migration 0010); rows from before it first
            "order by commit_seq asc nulls first, id limit %(limit)s")
_MARK = "update outbox set published_at = now() where id = any(%(ids)s)"


class Relay:
    def __init__(self, publisher: Publisher, catalog=None):
        self.publisher = publisher
        self.catalog = catalog
        self._pool = None

    def _connections(self):
        """The relay's own small pool (its role reads every tenant's pending outbox rows and
        nothing else), the data path's Pool and transaction all the same."""
        if self._pool is None:
            from kopru.db.engine import Pool, relay_database_url

            self._pool = Pool(relay_database_url(), size=2, overflow=0, timeout=10)
        return self._pool

    async def dispose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def run_once(self, limit: int = BATCH, *, after_publish=None) -> int:
        """Publish one batch; returns how many rows were sent (0: nothing pending or
        another relay holds the lock). `after_publish` is a test hook between
        publishing and marking (where a crash must not lose anything)."""
        from kopru.db.engine import transaction
        from kopru.events.catalog import load_catalog
        from kopru.events.envelope import from_outbox, to_kafka

        cat = self.catalog or load_catalog()
        tracing.configure(SERVICE)  # once per process: an OTLP provider when an endpoint is set
        async with transaction(self._connections()) as conn:
            locked = (await conn.execute("select pg_try_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})).scalar()
            if not locked:
                return 0
            rows = (await conn.execute(_PENDING, {"limit": limit})).all()
            if not rows:
                return 0
            records = []
            with contextlib.ExitStack() as spans:
                traced = tracing.recording(SERVICE)
                for row in rows:
                    ev, topic = from_outbox(row), cat.events[row.type].topic
                    if traced:
                        # a PRODUCER span per record, child of the transaction that wrote it, open
                        # until the broker acknowledged the batch; consumers continue from it
                        ev["traceparent"] = spans.enter_context(
                            tracing.span(f"{topic} publish", ev.get("traceparent"), "PRODUCER", SERVICE))
                    key, headers, value = to_kafka(ev)
                    records.append((topic, key, headers, value))
                await self.publisher.publish_batch(records)
            if after_publish is not None:
                await after_publish(rows)
            await conn.execute(_MARK, {"ids": [r.id for r in rows]})
        return len(rows)

    async def run(self, stop: asyncio.Event, idle: float = 1.0, health=None, probe_timeout: float = 5.0) -> None:
        """Publish until `stop` is set; wakes on the outbox's NOTIFY, or every `idle` s.

        Any database error ends the run (raised: `supervise` restarts it with backoff).
        A LISTEN connection can die without a word (a half-open socket never raises):
        every idle wake-up proves it alive with a round trip of at most `probe_timeout`
        s, and a dead one ends the run too. `health` (a supervisor's LoopHealth) is
        marked up once a batch went through."""
        import psycopg

        from kopru.db.engine import relay_database_url

        dsn = relay_database_url().replace("postgresql+psycopg://", "postgresql://")
        try:
            listen = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=max(2, int(probe_timeout))),
                probe_timeout * 2)
            async with listen:
                await asyncio.wait_for(listen.execute("listen kopru_outbox"), probe_timeout)
                while not stop.is_set():
                    n = await self.run_once()
                    if health is not None:
                        health.up()
                    if n == BATCH:
                        continue
                    woken = False
                    async for _ in listen.notifies(timeout=idle, stop_after=1):
                        woken = True
                    if not woken and not stop.is_set():
                        await asyncio.wait_for(listen.execute("select 1"), probe_timeout)
        except BaseException:
            # pooled connections may be dead too: the next run starts afresh
            await asyncio.shield(self.dispose())
            raise
