"""The audit log's hash chain, and its verification (`kopru audit verify`).

Migration 0004 gives every entry a per-tenant `seq` (1, 2, 3, … with no gaps),
`prev_hash` (the tenant's previous entry's hash, NULL for the first) and

    hash = sha256(prev_hash || canonical(seq, tenant_id, at, actor, action, target, details))

computed by a BEFORE INSERT trigger under a per-tenant transaction advisory lock,
so concurrent writers of one tenant take turns and the chain never forks. The
canonical text is each field as `<octet length>:<value>` (`-` for NULL), with
`at` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` and `details` as PostgreSQL renders
jsonb; this module recomputes it independently of the trigger.

What verification finds: a changed entry (its hash no longer matches), a deleted
entry (a gap in `seq`), a re-linked chain (a `prev_hash` that is not the previous
entry's hash). What no chain can find on its own: the newest entries removed from
the end. `verify` reports each tenant's head hash; keep it somewhere else (a ticket,
an external log) and a later head that does not descend from it shows truncation.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

BATCH = 2000


def _field(value: str | None) -> bytes:
    if value is None:
        return b"-"
    raw = value.encode("utf-8")
    return str(len(raw)).encode() + b":" + raw


def _at(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: bytes | None, seq: int, tenant_id: uuid.UUID | str, at: datetime, actor: str,
               action: str, target: str | None, details_text: str) -> bytes:
    """The hash an entry must carry; `details_text` is the stored jsonb as text."""
    canon = b"".join(_field(v) for v in (str(seq), str(tenant_id), _at(at), actor, action, target, details_text))
    return hashlib.sha256((prev_hash or b"") + canon).digest()


@dataclass
class Problem:
    kind: str  # "modified" | "deleted" | "relinked" | "unchained"
    id: int
    seq: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "seq": self.seq, "detail": self.detail}


@dataclass
class ChainReport:
    tenant_id: uuid.UUID
    entries: int = 0
    head: bytes | None = None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tenant_id": str(self.tenant_id), "ok": self.ok, "entries": self.entries,
                               "head": self.head.hex() if self.head else None}
        if self.problem:
            out["first_broken"] = self.problem.as_dict()
        return out


@dataclass
class _Walker:
    report: ChainReport
    expected_seq: int = 1
    prev: bytes | None = field(default=None, repr=False)

    def step(self, row: Any) -> bool:
        """Check one entry (in seq order); False once the first problem is found."""
        rep = self.report
        rep.entries += 1
        prev_hash = bytes(row.prev_hash) if row.prev_hash is not None else None
        stored = bytes(row.hash) if row.hash is not None else None
        if row.seq is None or stored is None:
            rep.problem = Problem("unchained", row.id, row.seq, "entry written without its chain fields")
        elif row.seq != self.expected_seq:
            missing = (f"entry {self.expected_seq}" if row.seq == self.expected_seq + 1
                       else f"entries {self.expected_seq}..{row.seq - 1}")
            rep.problem = Problem("deleted", row.id, row.seq, f"{missing} missing before this one")
        elif entry_hash(prev_hash, row.seq, rep.tenant_id, row.at, row.actor, row.action, row.target,
                        row.details_text) != stored:
            rep.problem = Problem("modified", row.id, row.seq, "the entry no longer matches its hash")
        elif prev_hash != self.prev:
            rep.problem = Problem("relinked", row.id, row.seq,
                                  "prev_hash is not the previous entry's hash: an earlier entry was changed or removed")
        if rep.problem:
            return False
        self.prev = stored
        rep.head = stored
        self.expected_seq += 1
        return True


def verify_rows(tenant_id: uuid.UUID, rows: Iterable[Any]) -> ChainReport:
    """Walk one tenant's entries (ordered by seq, NULL seq last) and report the first
    broken one. A row needs: id, seq, at, actor, action, target, details_text,
    prev_hash, hash."""
    walker = _Walker(ChainReport(tenant_id))
    for row in rows:
        if not walker.step(row):
            break
    return walker.report


def _owner_engine():
    from sqlalchemy import create_engine, pool

    from kopru.db import database_urls

    _, owner = database_urls()
    if owner is None:
        raise SystemExit("DATABASE_OWNER_URL is required to verify the audit log")
    return create_engine(owner, poolclass=pool.NullPool)


_COLUMNS = "id, seq, at, actor, action, target, details::text as details_text, prev_hash, hash"


def _tenant_rows(conn, tenant_id: uuid.UUID) -> Iterator[Any]:
    """One tenant's entries in seq order, a batch at a time (keyset pagination), then
    any entry with no seq (written while the chain trigger was off)."""
    from sqlalchemy import text

    conn.execute(text("select set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id)})
    page = text(f"select {_COLUMNS} from audit_log where tenant_id = :tid and seq > :after order by seq limit :n")
    after = 0
    while True:
        batch = conn.execute(page, {"tid": tenant_id, "after": after, "n": BATCH}).all()
        yield from batch
        if len(batch) < BATCH:
            break
        after = batch[-1].seq
    yield from conn.execute(text(f"select {_COLUMNS} from audit_log where tenant_id = :tid and seq is null "
                                 "order by id limit 1"), {"tid": tenant_id}).all()


def verify(tenant_id: uuid.UUID | None = None) -> list[ChainReport]:
    """Verify one tenant's chain, or every tenant's (from the tenant directory), as
    the owner role with RLS scoped to each tenant in turn."""
    from sqlalchemy import text

    eng = _owner_engine()
    try:
        with eng.connect() as conn:
            if tenant_id is None:
                tenants = [r[0] for r in conn.execute(text("select tenant_id from tenant_directory order by tenant_id"))]
                conn.rollback()
            else:
                tenants = [tenant_id]
            reports = []
            for tid in tenants:
                with conn.begin():
                    reports.append(verify_rows(tid, _tenant_rows(conn, tid)))
            return reports
    finally:
        eng.dispose()
