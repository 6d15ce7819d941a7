"""The retention purge: destroys what is past its retention, as the personal-data
register says, in short batches, with a destruction record per batch.

Rules come from the register (kopru.kvkk.register), one or more per table:
- `delete`: rows whose anchor + days has passed are deleted (`Retention.expire =
  "delete"`, e.g. SMS after 90 days);
- `clear`: the columns no legal hold keeps are set to NULL (`expire = "clear"`, e.g. a
  consent's IP and user agent once it ended); the row itself is deleted once its
  longest legal hold has run out too (`delete` after the hold);
- `delete_object`: a column naming an object in the export store: the object is
  deleted, then the column cleared (an export once its link expired).

Each batch is one short transaction in one tenant (synchronous_commit off: it does not
hold its row locks while waiting for the disk, and a batch lost in a crash is due again): pick at most `batch` due rows by
ctid with `FOR UPDATE SKIP LOCKED` (rows a request holds are left for the next batch),
act on them, and insert the destruction record (what, how many, which rule, the
cutoff, when), kept at least 3 years. No lock is held across batches, so a purge of a
million rows never blocks a request for longer than one batch. The cutoffs are fixed
when the run starts: a row that becomes due during the run waits for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Action = Literal["delete", "clear", "delete_object"]


@dataclass(frozen=True)
class Rule:
    table: str
    rule: str
    action: Action
    due: str  # SQL predicate over the row, with %(cutoff)s (psycopg's placeholder; a literal % is %%)
    days: int
    hold_years: int = 0
    columns: tuple[str, ...] = ()

    def cutoff(self, now: datetime) -> datetime:
        """The instant before which rows are due: `hold_years` calendar years (a leap day
        safe: kopru.text.years_before) then `days` days before `now`."""
        from kopru.text import years_before

        years = years_before(now, self.hold_years) if self.hold_years else now
        return years - timedelta(days=self.days)


@dataclass
class Outcome:
    tenant_id: uuid.UUID
    table: str
    rule: str
    action: str
    cutoff: datetime
    rows: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": str(self.tenant_id), "table": self.table, "rule": self.rule, "action": self.action,
                "cutoff": self.cutoff.isoformat(), "rows": self.rows, "batches": self.batches}


@dataclass
class PurgeReport:
    run_id: uuid.UUID
    dry_run: bool
    started_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    complete: bool = True
    longest_batch_ms: float = 0.0
    batch_ms: list[float] = field(default_factory=list, repr=False)
    longest_lock_ms: float = 0.0  # measured in the database: row locks taken -> the batch's last statement
    longest_lock_at: tuple[str, int, int] | None = None  # (rule, batch number, rows) of that batch

    def batch_percentile(self, q: float) -> float:
        if not self.batch_ms:
            return 0.0
        ordered = sorted(self.batch_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": str(self.run_id), "dry_run": self.dry_run, "started_at": self.started_at.isoformat(),
                "complete": self.complete, "rows": sum(o.rows for o in self.outcomes),
                "longest_batch_ms": round(self.longest_batch_ms, 2), "batches": len(self.batch_ms),
                "longest_lock_ms": round(self.longest_lock_ms, 2), "longest_lock_at": self.longest_lock_at,
                "batch_ms_p50": round(self.batch_percentile(0.5), 2),
                "batch_ms_p99": round(self.batch_percentile(0.99), 2),
                "outcomes": [o.as_dict() for o in self.outcomes if o.rows or self.dry_run]}


def rules() -> list[Rule]:
    """The purge's rules, derived from the register."""
    from kopru.kvkk.register import REGISTER

    out: list[Rule] = []
    for t in REGISTER:
        r = t.retention
        if r.days is None or r.anchor is None:
            continue
        # the anchor is SQL from the register: a literal % in it is doubled for psycopg's placeholders
        due = f"({r.anchor.replace('%', '%%')}) < %(cutoff)s"
        for pc in t.columns:
            if pc.store_object:
                out.append(Rule(t.name, r.rule, "delete_object", f"{due} and {pc.name} is not null", r.days,
                                columns=(pc.name,)))
        if r.expire == "delete":
            out.append(Rule(t.name, r.rule, "delete", due, r.days))
            continue
        clear = tuple(pc.name for pc in t.columns if pc.erasure.action != "keep" and not pc.store_object)
        if clear:
            any_left = " or ".join(f"{c} is not null" for c in clear)
            out.append(Rule(t.name, r.rule, "clear", f"{due} and ({any_left})", r.days, columns=clear))
        if t.holds:
            longest = max(t.holds, key=lambda h: h.years)
            out.append(Rule(t.name, f"{r.rule}+{longest.name}", "delete", due, r.days, hold_years=longest.years))
    return out


def batch_size() -> int:
    from kopru.config import settings

    return settings().purge_batch


def batch_target_ms() -> float:
    from kopru.config import settings

    return settings().purge_batch_ms


MIN_BATCH, MAX_BATCH = 50, 20_000


def next_batch(n: int, took_ms: float, target_ms: float) -> int:
    """Adapt the batch to the time it took: halve it when a batch held its locks longer
    than the target, grow it by half while it stays under half the target. Row sizes,
    cascades, indexes and load vary; the lock time is what must stay short."""
    if took_ms > target_ms:
        return max(MIN_BATCH, n // 2)
    if took_ms < target_ms / 2:
        return min(MAX_BATCH, n + n // 2)
    return n


async def _tenants(only: uuid.UUID | None) -> list[uuid.UUID]:
    from kopru.db import platform_transaction

    if only is not None:
        return [only]
    async with platform_transaction() as conn:
        return list((await conn.execute("select tenant_id from tenant_directory order by tenant_id")).scalars().all())


async def _batch(tx, rule: Rule, cutoff: datetime, n: int) -> int:
    # table and column names come from the register, never from input
    pick = f"array(select ctid from {rule.table} where {rule.due} limit %(n)s for update skip locked)"
    params = {"cutoff": cutoff, "n": n}
    if rule.action == "delete":
        return (await tx.execute(f"delete from {rule.table} where ctid = any({pick})", params)).rowcount
    if rule.action == "clear":
        sets = ", ".join(f"{c} = null" for c in rule.columns)
        return (await tx.execute(f"update {rule.table} set {sets} where ctid = any({pick})", params)).rowcount
    # delete_object: the objects first (a crash leaves a key whose object is gone: deleting again is harmless)
    from kopru.kvkk.store import export_store

    col = rule.columns[0]
    keys = (await tx.execute(f"select ctid, {col} from {rule.table} where ctid = any({pick})", params)).all()
    store = export_store()
    for k in keys:
        await asyncio.to_thread(store.delete, k[1])
    if not keys:
        return 0
    return (await tx.execute(f"update {rule.table} set {col} = null where ctid = any(cast(%(ids)s as tid[]))",
                             {"ids": [k[0] for k in keys]})).rowcount


async def purge(*, dry_run: bool = False, tenant_id: uuid.UUID | None = None, budget_s: float | None = None,
                batch: int | None = None, now: datetime | None = None, adaptive: bool = True) -> PurgeReport:
    """Run every rule for every tenant (or one). `budget_s`: stop starting new batches
    after this many seconds (the report says complete=False; the next tick goes on).
    `batch`: the first batch size; later ones adapt to keep each batch's transaction
    near KOPRU_PURGE_BATCH_MS (40 ms) unless `adaptive` is False."""
    from kopru.db import platform_transaction

    first = batch or batch_size()
    target = batch_target_ms()
    if now is None:
        async with platform_transaction() as conn:
            now = (await conn.execute("select now()")).scalar_one()
    report = PurgeReport(uuid.uuid4(), dry_run, now)
    deadline = time.monotonic() + budget_s if budget_s else None
    for tid in await _tenants(tenant_id):
        mine: list[Outcome] = []
        try:
            await _purge_tenant(tid, report, mine, now, first, target, deadline, dry_run, adaptive)
        except BaseException:
            if not dry_run:
                with contextlib.suppress(Exception):  # the batches that did commit are still announced
                    await _announce(tid, report, mine)
            raise
        if not dry_run:
            await _announce(tid, report, mine)
            await _measure_applications(tid)
        if not report.complete:
            return report
    return report


async def _measure_applications(tid: uuid.UUID) -> None:
    """The tenant's open and overdue KVKK applications, counted again on each tick: an
    application turns overdue with time, with no request or event to measure it then."""
    from kopru import metrics

    if not metrics.enabled():
        return
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import measure_open

    async with tenant_transaction(tid, actor="schedule:retention-purge") as tx:
        await measure_open(tx)


async def _announce(tid: uuid.UUID, report: PurgeReport, mine: list[Outcome]) -> None:
    """kopru.retention.purged.v1 for one tenant and run: counts per rule, written with
    tx.emit in its own tenant transaction after the batches it counts have committed
    (each batch is its own transaction; the counts are of committed batches only). A
    crash between the last batch and this leaves the destruction records, which stay
    the proof, without their announcement. This transaction commits synchronously, which
    flushes the WAL of the batches before it (committed with synchronous_commit off): once
    the announcement is durable, so is everything it counts. Nothing is announced when
    nothing was purged."""
    from kopru.db import tenant_transaction

    done = [o for o in mine if o.rows]
    if not done:
        return
    async with tenant_transaction(tid, actor="schedule:retention-purge") as tx:
        await tx.emit("kopru.retention.purged.v1", {
            "run_id": str(report.run_id), "purged_at": report.started_at.isoformat(),
            "complete": report.complete, "rows": sum(o.rows for o in done),
            "rules": [{"rule": o.rule, "table": o.table, "action": o.action, "rows": o.rows,
                       "batches": o.batches, "cutoff": o.cutoff.isoformat()} for o in done]},
            subject=str(report.run_id), source="/kopru/retention-purge")


async def _purge_tenant(tid: uuid.UUID, report: PurgeReport, mine: list[Outcome], now: datetime, first: int,
                        target: float, deadline: float | None, dry_run: bool, adaptive: bool) -> None:
    from kopru.db import tenant_transaction

    for rule in rules():
        cutoff = rule.cutoff(now)
        out = Outcome(tid, rule.table, rule.rule, rule.action, cutoff)
        report.outcomes.append(out)
        mine.append(out)
        n = first
        if dry_run:
            async with tenant_transaction(tid, actor="schedule:retention-purge") as tx:
                out.rows = (await tx.execute(f"select count(*) from {rule.table} where {rule.due}",
                                             {"cutoff": cutoff})).scalar_one()
            continue
        while True:
            if deadline is not None and time.monotonic() > deadline:
                report.complete = False
                return
            started = time.perf_counter()
            async with tenant_transaction(tid, actor="schedule:retention-purge") as tx:
                # a batch need not wait for its WAL flush: after a crash, a lost batch (rows
                # and its destruction record together) is simply due again on the next run (sent with
                # the next statement: nothing reads its answer)
                await tx.conn.queue("set local synchronous_commit to off")
                t0 = (await tx.execute("select clock_timestamp()")).scalar_one()
                done = await _batch(tx, rule, cutoff, n)
                if done:
                    held = (await tx.execute(
                        "insert into destruction_records (tenant_id, run_id, rule, table_name, action, rows, cutoff, "
                        "started_at) values (%(tenant_id)s, %(run_id)s, %(rule)s, %(table_name)s, %(action)s, "
                        "%(rows)s, %(cutoff)s, %(started_at)s) returning clock_timestamp() - %(started_at)s",
                        {"tenant_id": tid, "run_id": report.run_id, "rule": rule.rule, "table_name": rule.table,
                         "action": rule.action, "rows": done, "cutoff": cutoff, "started_at": t0})).scalar_one()
                    held_ms = held.total_seconds() * 1000
                    if held_ms > report.longest_lock_ms:
                        report.longest_lock_ms = held_ms
                        report.longest_lock_at = (rule.rule, out.batches + 1, done)
            took = (time.perf_counter() - started) * 1000
            report.longest_batch_ms = max(report.longest_batch_ms, took)
            report.batch_ms.append(took)
            out.rows += done
            out.batches += 1 if done else 0
            if done < n:
                break
            if adaptive:
                n = next_batch(n, took, target)
