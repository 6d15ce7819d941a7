"""The key-epoch rotation (see kopru.kvkk.epochs for the design): a new epoch when the
newest reached its planned end, every live subject key re-sealed under the newest (tenant
by tenant, batches of one short transaction, resumable), then every epoch key that no live
row uses and whose planned end + backup retention has passed destroyed. Run by the
retention-purge's daily tick and by `kopru keys epochs rotate`."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from kopru.kvkk.epochs import (
    _CURRENT, _KEYS, Epoch, _newest, backup_retention, epoch_days, key_store, load_key, open_subject_key,
    seal_subject_key,
)
from kopru.logs import get_logger

log = get_logger("kopru.kvkk.epochs")


class KeyStoreMismatch(RuntimeError):
    """The configured key store holds none of the epochs the database's live keys use."""

    def __init__(self, where: str) -> None:
        super().__init__(f"key store {where} holds none of the key epochs live subject keys use; "
                         "check KOPRU_KEY_STORE")


@dataclass
class RotationReport:
    now: datetime
    store: str
    current: Epoch | None = None
    created: bool = False
    tenants: int = 0
    moved: int = 0
    unreadable: int = 0  # live rows whose epoch key is missing (left as they are, counted, logged)
    errors: int = 0
    complete: bool = True
    overdue: bool = False
    destroyed: list[str] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # due for destruction, still used by live rows
    pre_epoch_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "store": self.store,
                "current": self.current.as_dict() if self.current else None, "created": self.created,
                "tenants": self.tenants, "moved": self.moved, "unreadable": self.unreadable, "errors": self.errors,
                "complete": self.complete, "overdue": self.overdue, "destroyed": self.destroyed,
                "waiting": self.waiting, "pre_epoch_rows": self.pre_epoch_rows}


async def in_use() -> dict[str | None, int]:
    """{epoch id (None: pre-epoch form): live subject keys under it}, across every tenant."""
    from kopru.db import platform_transaction

    async with platform_transaction() as conn:
        rows = (await conn.execute("select key_epoch, rows from kopru_key_epochs_in_use()")).all()
    return {r.key_epoch: int(r.rows) for r in rows}


async def _rewrap_tenant(tid: uuid.UUID, cur: Epoch, cur_key: bytes, rep: RotationReport, *, batch: int,
                         deadline: float | None, after_batch: Callable[[uuid.UUID, int], Any] | None) -> bool:
    """Re-seal the tenant's live subject keys that are not under `cur`; False when the budget ran out."""
    from kopru.db import tenant_transaction
    from kopru.kvkk.subjects import tenant_keys

    last: uuid.UUID | None = None
    moved = 0
    n_batch = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            return False
        async with tenant_transaction(tid, actor="schedule:key-rotation") as tx:
            after = " and id > %(last)s" if last is not None else ""
            rows = (await tx.execute(
                "select id, wrapped_key, key_epoch from data_subjects "
                "where wrapped_key is not null and (key_epoch is null or key_epoch != %(epoch)s)" + after
                + " order by id limit %(n)s for update skip locked",
                {"epoch": cur.id, "last": last, "n": batch})).all()
            if not rows:
                if moved:
                    await tx.audit("subject.keys_resealed", target=cur.id, details={"rows": moved})
                return True
            keys = await tenant_keys(tx)
            changes = []
            for r in rows:
                last = r.id
                try:
                    if r.key_epoch is not None:
                        await load_key(r.key_epoch)
                    skey = open_subject_key(keys.key, tid, r.id, bytes(r.wrapped_key), r.key_epoch)
                except Exception as exc:  # its epoch key is gone, or the row is damaged: leave it, say so
                    rep.unreadable += 1
                    log.error("epochs.unreadable_subject_key",
                              extra={"fields": {"tenant_id": str(tid), "subject_id": str(r.id),
                                                "epoch": r.key_epoch, "error": type(exc).__name__}})
                    continue
                changes.append({"id": r.id, "epoch": cur.id,
                                "wrapped": seal_subject_key(keys.key, tid, r.id, skey, cur.id, cur_key)})
            if changes:  # one statement per row (executemany), in this batch's transaction
                await tx.execute("update data_subjects set wrapped_key = %(wrapped)s, key_epoch = %(epoch)s "
                                 "where id = %(id)s", changes)
            n_batch += 1
            if after_batch is not None:
                after_batch(tid, n_batch)  # tests: a rotation killed here rolls this batch back
        moved += len(changes)
        rep.moved += len(changes)


async def rotate(now: datetime | None = None, *, tenants: list[uuid.UUID] | None = None, batch: int = 500,
                 budget_s: float | None = None,
                 after_batch: Callable[[uuid.UUID, int], Any] | None = None) -> RotationReport:
    """One rotation run (see the module docstring): a new epoch when the newest reached its
    planned end, every live subject key re-sealed under the newest, then every epoch key
    that no live row uses and whose planned end + backup retention has passed destroyed.
    `tenants` limits the re-sealing (tests); the destruction check always counts every tenant."""
    from kopru.work.sweep import tenant_ids

    now = now or datetime.now(timezone.utc)
    store = key_store()
    rep = RotationReport(now=now, store=store.describe())
    deadline = time.monotonic() + budget_s if budget_s is not None else None
    epochs = await asyncio.to_thread(store.epochs)
    used = await in_use()
    known = {e.id for e in epochs}
    if any(k is not None for k in used) and not known & set(used):
        # live keys are sealed under epochs, none of them this store's: it is the wrong store (an empty
        # directory where KMS was meant, say). Re-sealing into it would leave every instance that uses
        # the right one unable to read anyone: refuse.
        raise KeyStoreMismatch(store.describe())
    cur = _newest(epochs)
    if cur is None or now >= cur.ends_at:
        if cur is not None and now >= cur.ends_at + timedelta(days=1):
            rep.overdue = True
            log.warning("epochs.rotation_overdue", extra={"fields": {"epoch": cur.id, "ends_at": cur.ends_at.isoformat()}})
        cur = await asyncio.to_thread(store.create, now, now + timedelta(days=epoch_days()))
        rep.created = True
        _CURRENT.clear()
        epochs = await asyncio.to_thread(store.epochs)
    rep.current = cur
    cur_key = await load_key(cur.id)
    for tid in (tenants if tenants is not None else await tenant_ids()):
        rep.tenants += 1
        try:
            if not await _rewrap_tenant(tid, cur, cur_key, rep, batch=batch, deadline=deadline,
                                        after_batch=after_batch):
                rep.complete = False
                break
        except Exception as exc:  # one tenant's trouble never stops the others
            rep.errors += 1
            rep.complete = False
            log.warning("epochs.tenant_failed", extra={"fields": {"tenant_id": str(tid), "error": type(exc).__name__}})
    used = await in_use()
    rep.pre_epoch_rows = used.get(None, 0)
    for e in epochs:
        if e.destroyed_at is not None or e.id == cur.id:
            continue
        due = e.ends_at + backup_retention()
        if now < due:
            continue
        if used.get(e.id):
            rep.waiting.append({"epoch": e.id, "due": due.isoformat(), "live_rows": used[e.id]})
            log.warning("epochs.destruction_held", extra={"fields": {"epoch": e.id, "live_rows": used[e.id]}})
            continue
        await asyncio.to_thread(store.destroy, e, now)
        _KEYS.pop(e.id, None)
        rep.destroyed.append(e.id)
        log.info("epochs.destroyed", extra={"fields": {"epoch": e.id, "ends_at": e.ends_at.isoformat()}})
    return rep
