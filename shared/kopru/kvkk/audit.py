"""The audit log's proofs, and their verification (`kopru audit verify`).

What it must hold against: the people who run the database. Its owner can rewrite any
row and run any function; the application role can call whatever it is granted. So:

- **A keyed chain.** Each tenant's entries form one chain, seq 1, 2, 3, … Each entry
  carries `prev_hash` (the previous entry's link) and `mac` = HMAC-SHA256 over
  (prev link, seq, tenant, at, actor, action, target, details) with a per-tenant key
  derived from the master key (kopru.db.auditlog), which lives in the platform's secret
  store with the key that wraps the tenant keys, never in PostgreSQL. The database's own
  unkeyed `kopru_audit_hash()` (migration 0004) cannot make a verifying entry any more:
  an entry written after the keyed chain began that carries only an unkeyed hash is a
  finding, and a MAC it recomputes is wrong. Entries written before migration 0014 keep
  their unkeyed hashes as a prefix; the first keyed entry MACs the prefix's head, so the
  prefix is fixed from then on.
- **The sequence belongs to the database.** `seq > 0`, unique per chain, `prev_seq =
  seq - 1` with a foreign key to the predecessor: a chain's seqs are exactly 1..n. Entries
  are written only by `kopru_audit_append` (SECURITY DEFINER; the application role has no
  INSERT), which takes `at` from clock_timestamp() and the actor from the transaction's
  `app.actor`, and `kopru_audit_seal`, which sets the MAC once; an unsealed entry cannot
  commit. A back-dated entry, or one in another actor's name with a time of its choosing,
  is refused; one the role writes through the function without the key fails its MAC.
  Why two calls: the MAC must cover `at` and `seq`, which only the database may choose,
  and its key must stay out of the database; the tenant's chain lock taken by the first
  call is held to commit, so nothing chains in between.
- **Anchors outside PostgreSQL.** A chain alone cannot show that its newest entries were
  removed. As Certificate Transparency logs publish signed tree heads (RFC 6962 §3.5,
  RFC 9162 §4.10) and Trillian's clients keep the last head they saw and check that every
  later one is consistent with it, `kopru audit anchor` (and the retention-purge schedule,
  daily) writes every chain's head (seq, link) to a store the database owner cannot
  rewrite: S3 with Object Lock (a retention the bucket enforces), or an append-only file
  in development (kopru.kvkk.anchor). Before writing, it checks that each chain still
  contains the head anchored last (the consistency check; ours is one lookup because the
  chain is linear, where a Merkle tree needs a proof); a chain that does not keeps its
  old head in the new anchor, so the finding never goes away. `verify` then compares each
  chain with the latest anchor: a tail removed (the anchored seq is gone) or rewritten (the
  entry there has another link) is found.

What remains: entries newer than the last anchor can be removed without trace (CT's
"maximum merge delay" in our terms: the anchoring interval; run `kopru audit anchor` more
often for a shorter window); someone holding both the master key and the database can
rewrite what is not anchored yet.

Verification reports every finding (up to MAX_FINDINGS per chain), in Turkish and English.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator

from kopru.db.auditlog import canonical_at, entry_mac, field as _field, mac_key

BATCH = 2000
MAX_FINDINGS = 50

# kind -> (Turkish, English); {…} are filled from the finding
MESSAGES: dict[str, tuple[str, str]] = {
    "outside_chain": ("Zincir dışı kayıt (sıra numarası yok ya da sıfır/negatif): doğrulanamaz.",
                      "An entry outside the chain (no seq, or zero/negative): it cannot be verified."),
    "deleted": ("{first}..{last} sıra numaralı kayıtlar eksik: silinmiş.",
                "Entries {first}..{last} are missing: deleted."),
    "prev_seq": ("Kayıt, önceki kaydını yanlış gösteriyor (prev_seq {prev_seq}).",
                 "The entry names the wrong predecessor (prev_seq {prev_seq})."),
    "relinked": ("Kaydın önceki bağlantısı önceki kaydınkiyle uyuşmuyor: önceki bir kayıt değiştirilmiş ya da silinmiş.",
                 "The entry's previous link is not the previous entry's: an earlier entry was changed or removed."),
    "modified": ("Kayıt, MAC değeriyle uyuşmuyor: değiştirilmiş.",
                 "The entry does not match its MAC: it was changed."),
    "legacy_modified": ("0014 öncesi kayıt, özet değeriyle uyuşmuyor: değiştirilmiş.",
                        "An entry from before migration 0014 does not match its hash: it was changed."),
    "unkeyed": ("Anahtarlı zincir başladıktan sonra yalnızca anahtarsız özetle yazılmış kayıt: uygulama dışından yazılmış.",
                "An entry with only an unkeyed hash after the keyed chain began: written around the application."),
    "unsealed": ("Mühürlenmemiş kayıt (MAC yok).", "An unsealed entry (no MAC)."),
    "truncated": ("Son çapa {anchor_seq} numaralı kaydı gösteriyor; zincir {head_seq} numarada bitiyor: son kayıtlar silinmiş.",
                  "The last anchor names entry {anchor_seq}; the chain ends at {head_seq}: its newest entries were removed."),
    "anchor_mismatch": ("Son çapadaki {anchor_seq} numaralı kayıt tablodakiyle aynı değil: yeniden yazılmış.",
                        "Entry {anchor_seq} is not the one the last anchor names: it was rewritten."),
    "anchor_invalid": ("Son çapanın MAC değeri geçersiz: çapa güvenilir değil.",
                       "The last anchor's MAC is invalid: it cannot be trusted."),
    "anchor_unreadable": ("Çapa deposu okunamadı: {error}.", "The anchor store could not be read: {error}."),
}


def entry_hash(prev_hash: bytes | None, seq: int, tenant_id: uuid.UUID | str, at: datetime, actor: str,
               action: str, target: str | None, details_text: str) -> bytes:
    """Migration 0004's unkeyed hash: entries written before 0014 only."""
    canon = b"".join(_field(v) for v in (str(seq), str(tenant_id), canonical_at(at), actor, action, target,
                                         details_text))
    return hashlib.sha256((prev_hash or b"") + canon).digest()


@dataclass
class Finding:
    kind: str
    id: int | None = None
    seq: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def tr(self) -> str:
        return MESSAGES[self.kind][0].format(**self.params)

    @property
    def en(self) -> str:
        return MESSAGES[self.kind][1].format(**self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "seq": self.seq, "tr": self.tr, "en": self.en}


@dataclass
class ChainReport:
    tenant_id: uuid.UUID
    entries: int = 0
    keyed: int = 0
    head_seq: int | None = None
    head: bytes | None = None
    anchored_seq: int | None = None
    findings: list[Finding] = field(default_factory=list)
    more_findings: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def problem(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)
        else:
            self.more_findings += 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tenant_id": str(self.tenant_id), "ok": self.ok, "entries": self.entries,
                               "keyed": self.keyed, "head_seq": self.head_seq,
                               "head": self.head.hex() if self.head else None, "anchored_seq": self.anchored_seq}
        if self.findings:
            out["findings"] = [f.as_dict() for f in self.findings]
            out["first_broken"] = self.findings[0].as_dict()
            if self.more_findings:
                out["more_findings"] = self.more_findings
        return out


@dataclass
class _Walker:
    report: ChainReport
    key: bytes = field(repr=False)
    anchor: tuple[int, bytes] | None = None
    expected_seq: int = 1
    prev: bytes | None = field(default=None, repr=False)
    keyed_seen: bool = False
    anchor_found: bool = False

    def step(self, row: Any) -> None:
        rep = self.report
        rep.entries += 1
        if row.seq is None or row.seq < 1:
            rep.add(Finding("outside_chain", row.id, row.seq))
            return
        prev_hash = bytes(row.prev_hash) if row.prev_hash is not None else None
        mac = bytes(row.mac) if row.mac is not None else None
        legacy = bytes(row.hash) if row.hash is not None else None
        if row.seq > self.expected_seq:
            rep.add(Finding("deleted", row.id, row.seq, {"first": self.expected_seq, "last": row.seq - 1}))
        elif prev_hash != self.prev:
            rep.add(Finding("relinked", row.id, row.seq))
        if row.prev_seq != (row.seq - 1 if row.seq > 1 else None):
            rep.add(Finding("prev_seq", row.id, row.seq, {"prev_seq": row.prev_seq}))
        if mac is not None:
            self.keyed_seen = True
            rep.keyed += 1
            want = entry_mac(prev_hash, row.seq, rep.tenant_id, row.at, row.actor, row.action, row.target,
                             row.details_text, key=self.key)
            if not hmac.compare_digest(want, mac):
                rep.add(Finding("modified", row.id, row.seq))
            link = mac
        elif legacy is not None:
            if self.keyed_seen:
                rep.add(Finding("unkeyed", row.id, row.seq))
            elif entry_hash(prev_hash, row.seq, rep.tenant_id, row.at, row.actor, row.action, row.target,
                            row.details_text) != legacy:
                rep.add(Finding("legacy_modified", row.id, row.seq))
            link = legacy
        else:
            rep.add(Finding("unsealed", row.id, row.seq))
            link = None
        if self.anchor is not None and row.seq == self.anchor[0]:
            self.anchor_found = True
            if link is None or not hmac.compare_digest(link, self.anchor[1]):
                rep.add(Finding("anchor_mismatch", row.id, row.seq, {"anchor_seq": self.anchor[0]}))
        self.prev = link
        rep.head, rep.head_seq = link, row.seq
        self.expected_seq = row.seq + 1

    def finish(self) -> None:
        if self.anchor is not None and not self.anchor_found:
            self.report.add(Finding("truncated", None, self.anchor[0],
                                    {"anchor_seq": self.anchor[0], "head_seq": self.report.head_seq or 0}))


def verify_rows(tenant_id: uuid.UUID, rows: Iterable[Any], anchor: tuple[int, bytes] | None = None) -> ChainReport:
    """Walk one tenant's entries (entries outside the chain first, then by seq) and report
    every finding. A row needs: id, seq, prev_seq, at, actor, action, target,
    details_text, prev_hash, hash, mac. `anchor`: the (seq, link) the latest anchor names."""
    walker = _Walker(ChainReport(tenant_id, anchored_seq=anchor[0] if anchor else None), mac_key(str(tenant_id)),
                     anchor)
    for row in rows:
        walker.step(row)
    walker.finish()
    return walker.report


def _owner_engine():
    from kopru.db.engine import owner_engine

    return owner_engine("verifying the audit log")


_COLUMNS = "id, seq, prev_seq, at, actor, action, target, details::text as details_text, prev_hash, hash, mac"


def _tenant_rows(conn, tenant_id: uuid.UUID) -> Iterator[Any]:
    """One tenant's entries: any outside the chain (no seq, or seq < 1: the database
    refuses them since 0014, but one may predate it or come from around it), then the
    chain in seq order, a batch at a time (keyset pagination)."""
    from sqlalchemy import text

    conn.execute(text("select set_config('app.tenant_id', :tid, true)"), {"tid": str(tenant_id)})
    yield from conn.execute(text(f"select {_COLUMNS} from audit_log where tenant_id = :tid "
                                 "and (seq is null or seq < 1) order by id limit :n"),
                            {"tid": tenant_id, "n": MAX_FINDINGS}).all()
    page = text(f"select {_COLUMNS} from audit_log where tenant_id = :tid and seq > :after order by seq limit :n")
    after = 0
    while True:
        batch = conn.execute(page, {"tid": tenant_id, "after": after, "n": BATCH}).all()
        yield from batch
        if len(batch) < BATCH:
            break
        after = batch[-1].seq


@dataclass
class Verification:
    reports: list[ChainReport]
    anchor: dict[str, Any] | None = None  # the latest anchor: name, at, chains (None: none written yet)
    findings: list[Finding] = field(default_factory=list)  # about the anchors themselves

    @property
    def ok(self) -> bool:
        return not self.findings and all(r.ok for r in self.reports)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "anchor": self.anchor, "findings": [f.as_dict() for f in self.findings],
                "chains": [r.as_dict() for r in self.reports]}


def verify(tenant_id: uuid.UUID | None = None, *, anchors: bool = True) -> Verification:
    """Verify one tenant's chain, or every tenant's (the directory's, and any the latest
    anchor names), as the owner role with RLS scoped to each tenant in turn, against the
    latest anchor (`anchors=False`: the chains alone)."""
    from sqlalchemy import text

    from kopru.kvkk import anchor as anchoring

    result = Verification([])
    heads: dict[str, tuple[int, bytes]] = {}
    if anchors:
        try:
            latest = anchoring.latest_anchor()
        except Exception as exc:  # the store is down or unreachable: that is a finding, not a pass
            result.findings.append(Finding("anchor_unreadable", params={"error": type(exc).__name__}))
            latest = None
        if latest is not None:
            result.anchor = {"name": latest.name, "at": latest.at, "chains": len(latest.heads)}
            if not latest.valid:
                result.findings.append(Finding("anchor_invalid"))
            else:
                heads = latest.heads
    eng = _owner_engine()
    try:
        with eng.connect() as conn:
            if tenant_id is None:
                listed = [r[0] for r in conn.execute(text("select tenant_id from tenant_directory order by tenant_id"))]
                conn.rollback()
                tenants = sorted(set(listed) | {uuid.UUID(t) for t in heads})
            else:
                tenants = [tenant_id]
            for tid in tenants:
                with conn.begin():
                    result.reports.append(verify_rows(tid, _tenant_rows(conn, tid), heads.get(str(tid))))
    finally:
        eng.dispose()
    return result
