"""A data subject's applications (KVKK md. 11, 13): access (export) and erasure.

Both walk the personal-data register (kopru.kvkk.register), so a table registered
there is exported, erased and purged alike.

- Opening an application checks the subject belongs to the caller's tenant (another
  tenant's subject is simply not found), writes the application with its due date
  (30 days, counted in Europe/Istanbul, to the end of that day) and emits the
  request event in the same transaction. The work runs on the event.
- The export collects every registered row of the subject (encrypted fields
  decrypted with the subject key), its consents and the texts it was shown, the third
  parties its data went to (the register's disclosures), and the audit entries about
  it; with a short summary in Turkish. It is stored in the export store with a link
  of limited life.
- The erasure withdraws the subject's open consents, deletes its exports, clears
  every registered field whose erasure action is shred/anonymise/delete, keeps what a
  legal hold keeps (and says until when and why), records which third parties had the
  data and whether the erasure could be passed on to them, and destroys the subject
  key: every live copy of its ciphertext (rows, event payloads) becomes unreadable at once,
  and copies in backups once the key epoch their key was sealed under is destroyed; the
  report says until when, per subject (copies_bound, kopru.kvkk.epochs).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from kopru.errors import KopruError
from kopru.text import business_tz, format_datetime, iso_business, iso_utc

EXPORT_REQUESTED = "kopru.export.requested.v1"
EXPORT_READY = "kopru.export.ready.v1"
ERASURE_REQUESTED = "kopru.erasure.requested.v1"
ERASURE_COMPLETED = "kopru.erasure.completed.v1"
DUE_DAYS = 30  # KVKK md. 13(2)
FORMAT = "kopru.kvkk.export.v1"


def due_at(requested_at: datetime, days: int = DUE_DAYS) -> datetime:
    """The end (23:59:59.999999 Istanbul time) of the day `days` days after the day the
    application arrived, counted in Europe/Istanbul."""
    tz = business_tz()
    day = requested_at.astimezone(tz).date() + timedelta(days=days)
    return datetime.combine(day, time.max, tzinfo=tz)


def link_ttl() -> int:
    from kopru.config import settings

    return settings().export_link_ttl


KINDS = ("export", "erasure")


async def measure_open(tx) -> None:
    """The gauges of open and overdue applications of the transaction's tenant, counted in
    the database now (kopru.metrics says why a gauge measured here, not a running sum); no
    query when metrics are off."""
    from kopru import metrics

    if not metrics.enabled():
        return
    rows = (await tx.execute(
        "select kind, count(*), count(*) filter (where due_at < now()) from subject_requests "
        "where tenant_id = %(t)s and status = 'pending' group by kind", {"t": tx.tenant_id})).all()
    counts = {r[0]: (r[1], r[2]) for r in rows}
    for kind in KINDS:
        metrics.kvkk_open(tx.tenant_id, kind, *counts.get(kind, (0, 0)))






def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, datetime):
        return iso_business(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (uuid.UUID, Decimal)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# -- opening and reading ------------------------------------------------------------

async def _resolve_subject(tx, subject_in) -> uuid.UUID:
    from kopru.kvkk.subjects import resolve_subject_row, tenant_keys

    return (await resolve_subject_row(tx, await tenant_keys(tx), subject_in)).id


async def open_application(ctx, kind: str, body) -> dict[str, Any]:
    """POST /exports and POST /erasures (kvkk:requests), in the tenant `ctx` acts in."""
    async with ctx.transaction() as tx:
        subject_id = await _resolve_subject(tx, body.subject)
        if kind == "erasure":
            erased = (await tx.execute("select key_destroyed_at from data_subjects where id = %(id)s",
                                       {"id": subject_id})).scalar()
            if erased is not None:
                raise KopruError("kvkk.subject_erased")
        # one open application of a kind per subject: a double click is not two applications
        now = (await tx.execute(
            "select now() from (select pg_advisory_xact_lock(hashtextextended(%(lock)s, 0))) l",
            {"lock": f"kvkk:{kind}:{subject_id}"})).scalar_one()
        if (await tx.execute("select id from subject_requests where subject_id = %(s)s and kind = %(k)s "
                             "and status = 'pending'", {"s": subject_id, "k": kind})).first() is not None:
            raise KopruError("kvkk.request_open")
        req_id = uuid.uuid4()
        due = due_at(now)
        await tx.conn.queue(
            "insert into subject_requests (id, tenant_id, kind, subject_id, status, requested_by, requested_at, due_at) "
            "values (%(id)s, %(t)s, %(k)s, %(s)s, 'pending', %(by)s, %(now)s, %(due)s)",
            {"id": req_id, "t": tx.tenant_id, "k": kind, "s": subject_id, "by": ctx.actor, "now": now, "due": due})
        await tx.audit(f"kvkk.{kind}.requested", target=str(req_id), details={"subject_id": str(subject_id)})
        await tx.emit(EXPORT_REQUESTED if kind == "export" else ERASURE_REQUESTED,
                      {"request_id": str(req_id), "subject_id": str(subject_id), "due_at": iso_utc(due)},
                      subject=str(req_id))
        await measure_open(tx)
    from kopru import metrics

    metrics.kvkk_opened(tx.tenant_id, kind)  # once committed
    return {"id": req_id, "kind": kind, "subject_id": subject_id, "status": "pending",
            "requested_at": iso_business(now), "due_at": iso_business(due), "due_date": due.date().isoformat()}


async def read_application(ctx, kind: str, request_id: uuid.UUID) -> dict[str, Any]:
    """GET /exports/{id} and GET /erasures/{id}: status, due date, and the export's
    link (a new one each time, never longer-lived than the export itself)."""
    async with ctx.transaction() as tx:
        row = (await tx.execute("select *, now() as _now from subject_requests where id = %(id)s and kind = %(k)s",
                                {"id": request_id, "k": kind})).first()
        if row is None:
            raise KopruError("kvkk.request_not_found")
        now = row._now
    out: dict[str, Any] = {
        "id": row.id, "kind": row.kind, "subject_id": row.subject_id, "status": row.status,
        "requested_at": iso_business(row.requested_at), "due_at": iso_business(row.due_at),
        "due_date": row.due_at.astimezone(business_tz()).date().isoformat(), "completed_at": iso_business(row.completed_at),
        "overdue": row.status == "pending" and now > row.due_at,
    }
    if kind == "export":
        out["url"] = None
        out["link_expires_at"] = iso_business(row.link_expires_at)
        if row.status == "ready" and row.object_key and row.link_expires_at and row.link_expires_at > now:
            from kopru.kvkk.store import export_store

            out["url"] = export_store().link(row.object_key, row.link_expires_at.timestamp(), str(row.id))
        elif row.status == "ready":
            out["status"] = "expired"
    else:
        out["report"] = row.report
    return out


# -- the export -----------------------------------------------------------------------

_COLUMNS: dict[str, tuple[tuple[str, bool], ...]] = {}


async def _columns(tx, names: list[str]) -> dict[str, tuple[tuple[str, bool], ...]]:
    """Each named table's columns in table order, with whether each holds bytes (bytea),
    read from the catalog once per process (the register names tables, the database their
    columns: a column a migration adds is walked without a second list to keep)."""
    missing = [n for n in names if n not in _COLUMNS]
    if missing:
        rows = (await tx.execute(
            "select c.relname as t, a.attname as col, a.atttypid = 'bytea'::regtype as is_bytes "
            "from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "where c.oid = any(select to_regclass(n) from unnest(%(n)s::text[]) n) "
            "and a.attnum > 0 and not a.attisdropped order by c.relname, a.attnum", {"n": missing})).all()
        found: dict[str, list[tuple[str, bool]]] = {}
        for r in rows:
            found.setdefault(r.t, []).append((r.col, r.is_bytes))
        for n in missing:
            if n not in found:
                raise LookupError(f"register table {n} is not in the database")
            _COLUMNS[n] = tuple(found[n])
    return {n: _COLUMNS[n] for n in names}


async def collect(tx, subject_id: uuid.UUID) -> dict[str, Any]:
    """Everything the tenant holds about the subject, from the register: the data
    document of an export (without the application block)."""
    from kopru.kvkk.register import REGISTER
    from kopru.kvkk.subjects import FieldCipher, subject_key

    key = await subject_key(tx, subject_id)
    cipher = FieldCipher(key, subject_id) if key is not None else None
    records: dict[str, list[dict[str, Any]]] = {}
    third_parties: list[dict[str, Any]] = []
    tables = [t for t in REGISTER if t.subject.kind == "customer"]
    columns = await _columns(tx, [t.name for t in tables])
    for t in tables:
        cols = columns[t.name]
        names = {c for c, _ in cols}
        spec = {c.name: c for c in t.columns}
        # oldest first (its time column), then by id; a table without either holds one row per subject
        order = [c for c in ("created_at", "granted_at", "requested_at") if c in names][:1] + \
            [c for c in ("id",) if c in names]
        rows = (await tx.execute(f"select * from {t.name} where {t.link} = %(sid)s"
                                 + (f" order by {', '.join(order)}" if order else ""),
                                 {"sid": subject_id})).mappings().all()
        # per column, once per table: what to do with its values
        plan: list[tuple[str, str, Any]] = []
        for col, is_bytes in cols:
            pc = spec.get(col)
            if col == "tenant_id" or (pc is not None and pc.store_object):
                continue
            if col.endswith("_enc"):
                field = pc.field if pc is not None else None
                plan.append((col, "enc", (col[:-4], field, field is not None and "{" in field)))
            elif is_bytes:
                if col.endswith("sha256") and t.name == "consents":
                    plan.append((col, "hex", None))  # names the consent text's version
                # other bytes (blind indexes, wrapped keys, fingerprints) are not the subject's data
            else:
                plan.append((col, "value", None))
        items = []
        for r in rows:
            item: dict[str, Any] = {}
            for col, how, extra in plan:
                val = r[col]
                if how == "value":
                    item[col] = _jsonable(val)
                elif how == "hex":
                    item[col] = bytes(val).hex() if val is not None else None
                else:
                    name, field, templated = extra
                    if cipher is not None and field and val is not None:
                        item[name] = cipher.decrypt(field.format(**r) if templated else field, val)
                    else:
                        item[name] = None
            items.append(item)
        records[t.name] = items
        for d in t.disclosures:
            agg = (await tx.execute(
                f"select count(*) as n, min({d.at}) as first, max({d.at}) as last from {t.name} "
                f"where {t.link} = %(sid)s and ({d.where})", {"sid": subject_id})).one()
            if agg.n:
                third_parties.append({"recipient": d.recipient, "purpose": d.purpose, "records": agg.n,
                                      "first": iso_business(agg.first), "last": iso_business(agg.last), "source": t.name})
    hashes = sorted({bytes.fromhex(c["text_sha256"]) for c in records.get("consents", []) if c.get("text_sha256")})
    texts = {}
    if hashes:
        for r in (await tx.execute("select sha256, text from consent_texts where sha256 = any(%(h)s)",
                                   {"h": hashes})).all():
            texts[bytes(r.sha256).hex()] = r.text
    # every entry about the subject names it: as its target, or in details (consents,
    # applications, key destruction all write subject_id there)
    audit = (await tx.execute(
        "select seq, at, actor, action, target from audit_log "
        "where target = %(s)s or details ->> 'subject_id' = %(s)s order by seq", {"s": str(subject_id)})).all()
    controller = (await tx.execute("select name, verbis_no from tenants where id = %(id)s",
                                   {"id": tx.tenant_id})).one()
    subject = (records.get("data_subjects") or [{}])[0]
    now = (await tx.execute("select now()")).scalar_one()
    return {
        "controller": {"name": controller.name, "verbis_no": controller.verbis_no},
        "subject": {"id": str(subject_id), "phone": subject.get("phone"), "email": subject.get("email"),
                    "tckn": subject.get("tckn"), "erased": key is None},
        "records": records,
        "consent_texts": texts,
        "third_parties": third_parties,
        "audit": [{"seq": a.seq, "at": iso_business(a.at), "actor": a.actor, "action": a.action, "target": a.target}
                  for a in audit],
        "register": {t.name: {"retention": t.retention.description,
                              "categories": sorted({c.category for c in t.columns}),
                              "legal_holds": [h.law for h in t.holds]}
                     for t in REGISTER if t.subject.kind == "customer"},
        "generated_at": iso_business(now),
    }


def summary_tr(doc: dict[str, Any]) -> str:
    """A short human summary in Turkish of what the export holds."""
    from kopru.text import format_date

    rec = doc["records"]
    consents = rec.get("consents", [])
    active = sum(1 for c in consents if c.get("withdrawn_at") is None)
    parts = [
        f"Bu belge, {doc['controller']['name']} (veri sorumlusu) tarafından, 6698 sayılı Kişisel Verilerin "
        f"Korunması Kanunu'nun 11. maddesi kapsamındaki başvurunuz üzerine hazırlanmıştır.",
    ]
    if doc["subject"]["erased"]:
        parts.append("Kişisel verileriniz silinmiştir; aşağıda yalnız yasal saklama yükümlülüğü kapsamında "
                     "tutulan kayıtlar yer almaktadır.")
    parts.append(f"Hakkınızda {len(consents)} rıza kaydı ({active} tanesi geri alınmamış), "
                 f"{len(rec.get('sms_messages', []))} SMS kaydı ve {len(doc['audit'])} işlem kaydı bulunmaktadır.")
    if doc["third_parties"]:
        tp = "; ".join(f"{p['recipient']} ({p['records']} kayıt, {format_date(datetime.fromisoformat(p['first']))}"
                       f" – {format_date(datetime.fromisoformat(p['last']))})" for p in doc["third_parties"])
        parts.append(f"Verileriniz şu üçüncü kişilere aktarılmıştır: {tp}.")
    else:
        parts.append("Verileriniz üçüncü kişilere aktarılmamıştır.")
    parts.append("Verilerinizin düzeltilmesini, silinmesini ya da işlenmesine itirazınızı aynı kanaldan "
                 "iletebilirsiniz (KVKK md. 11).")
    return " ".join(parts)


async def run_export(ev) -> None:
    """kopru.export.requested.v1: build, store, mark ready, emit kopru.export.ready.v1.
    A redelivery after the commit does nothing; one before it rewrites the same object."""
    from kopru.kvkk.store import export_store

    req_id = uuid.UUID(ev.data["request_id"])
    async with ev.once() as tx:
        if tx is None:
            return
        row = (await tx.execute("select * from subject_requests where id = %(id)s for update", {"id": req_id})).first()
        if row is None or row.kind != "export" or row.status != "pending":
            return
        doc = await collect(tx, row.subject_id)
        doc = {"format": FORMAT,
               "application": {"id": str(req_id), "requested_at": iso_business(row.requested_at),
                               "due_at": iso_business(row.due_at)},
               "summary_tr": "", **doc}
        doc["summary_tr"] = summary_tr(doc)
        raw = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
        key = f"{tx.tenant_id}/{req_id}.json"
        store = export_store()
        await asyncio.to_thread(store.put, key, raw)
        now = (await tx.execute("select now()")).scalar_one()
        expires = now + timedelta(seconds=link_ttl())
        await tx.execute("update subject_requests set status = 'ready', completed_at = %(now)s, object_key = %(k)s, "
                         "link_expires_at = %(x)s where id = %(id)s", {"now": now, "k": key, "x": expires, "id": req_id})
        await tx.audit("kvkk.export.ready", target=str(req_id), details={"subject_id": str(row.subject_id)})
        await tx.emit(EXPORT_READY, {"request_id": str(req_id), "subject_id": str(row.subject_id),
                                     "link_expires_at": iso_utc(expires), "bytes": len(raw)}, subject=str(req_id))
        await measure_open(tx)
    from kopru import metrics

    metrics.kvkk_completed(tx.tenant_id, "export", late=now > row.due_at)  # once committed


# -- the erasure ----------------------------------------------------------------------

async def erase_subject(tx, subject_id: uuid.UUID) -> dict[str, Any]:
    """Erase one subject of the transaction's tenant as the register says; returns the
    report (ids, tables, columns, counts, holds: no personal data)."""
    from kopru.kvkk.consents import WITHDRAWN
    from kopru.kvkk.register import REGISTER
    from kopru.kvkk.store import export_store
    from kopru.kvkk.subjects import destroy_subject_key

    now = (await tx.execute("select now()")).scalar_one()
    sealing = (await tx.execute("select key_epoch, pre_epoch_wrap, wrapped_key is not null as live from data_subjects "
                                "where id = %(id)s", {"id": subject_id})).first()
    # 1. the erasure ends every purpose: open consents are withdrawn (the grant stays as proof)
    withdrawn = (await tx.execute(
        "update consents set withdrawn_at = %(now)s where subject_id = %(s)s and withdrawn_at is null "
        "returning id, purpose, iys_type", {"now": now, "s": subject_id})).all()
    for w in withdrawn:
        await tx.emit(WITHDRAWN, {"consent_id": str(w.id), "subject_id": str(subject_id), "purpose": w.purpose,
                                  "iys_type": w.iys_type, "channel": None, "withdrawn_at": iso_utc(now)},
                      subject=str(w.id))
    cleared: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    third: list[dict[str, Any]] = []
    store = None
    for t in REGISTER:
        if t.subject.kind != "customer":
            continue
        mine = {"sid": subject_id}
        # objects in the export store first, then their keys
        for col in (pc for pc in t.columns if pc.store_object):
            keys = (await tx.execute(f"select {col.name} from {t.name} where {t.link} = %(sid)s "
                                     f"and {col.name} is not null", mine)).scalars().all()
            if keys:
                store = store or export_store()
                for k in keys:
                    await asyncio.to_thread(store.delete, k)
        clear = [pc.name for pc in t.columns if pc.erasure.action in ("shred", "anonymise", "delete")]
        if clear:
            n = (await tx.execute(
                f"update {t.name} set {', '.join(f'{x} = null' for x in clear)} where {t.link} = %(sid)s "
                f"and ({' or '.join(f'{x} is not null' for x in clear)})", mine)).rowcount
            cleared.append({"table": t.name, "columns": clear, "rows": n,
                            "action": "shredded" if any(pc.erasure.action == "shred" for pc in t.columns
                                                        if pc.name in clear) else "cleared"})
        for hold in t.holds:
            cols = [pc.name for pc in t.columns if pc.erasure.hold is not None and pc.erasure.hold.name == hold.name]
            anchor = t.retention.anchor or "created_at"
            agg = (await tx.execute(
                f"select count(*) as n, max({anchor}) + make_interval(years => %(y)s) as until "
                f"from {t.name} where {t.link} = %(sid)s", {"sid": subject_id, "y": hold.years})).one()
            if agg.n:
                kept.append({"table": t.name, "columns": cols, "rows": agg.n, "hold": hold.name, "law": hold.law,
                             "until": iso_business(agg.until), "reason": hold.reason})
        for d in t.disclosures:
            agg = (await tx.execute(
                f"select count(*) as n, min({d.at}) as first, max({d.at}) as last from {t.name} "
                f"where {t.link} = %(sid)s and ({d.where})", {"sid": subject_id})).one()
            if agg.n:
                third.append({"recipient": d.recipient, "records": agg.n, "first": iso_business(agg.first),
                              "last": iso_business(agg.last), "notified": False if d.erasure_api is None else True,
                              "how": d.erasure_api or "no erasure API", "note": d.note})
    await tx.execute("update subject_requests set status = 'expired' "
                     "where subject_id = %(s)s and kind = 'export' and status = 'ready'", {"s": subject_id})
    key_destroyed = await destroy_subject_key(tx, subject_id)
    return {"subject_id": str(subject_id), "completed_at": iso_business(now), "key_destroyed": key_destroyed,
            "consents_withdrawn": len(withdrawn), "cleared": cleared, "kept": kept, "third_parties": third,
            "copies": await asyncio.to_thread(
                copies_bound, now, sealing.key_epoch if sealing is not None else None,
                bool(sealing is not None and sealing.pre_epoch_wrap))}


# Yönetmelik (Kişisel Verilerin Silinmesi, Yok Edilmesi veya Anonim Hale Getirilmesi), md. 11:
# periodic destruction at intervals of at most six months
PERIODIC_DESTRUCTION_DAYS = 180


def copies_bound(now, key_epoch: str | None = None, pre_epoch: bool = False) -> dict[str, Any]:
    """What the erasure cannot reach at once, said honestly, for one subject: backups and WAL
    archives taken before it still hold the subject's sealed key. It was sealed under the key
    epoch `key_epoch` (kopru.kvkk.epochs), whose key lives outside PostgreSQL and is destroyed
    once its planned end plus KOPRU_BACKUP_RETENTION_DAYS (plus the KMS deletion window with
    the KMS store) has passed; from then on no earlier copy can decrypt the subject's data.
    A key once stored in the pre-epoch form (`pre_epoch`, or no epoch at all) is also in
    copies of that time that the master key opens: said too, without a date. A bound further
    away than the Regulation's periodic-destruction interval is flagged."""
    from kopru.config import settings
    from kopru.kvkk.epochs import destruction_due, find_epoch, key_store

    s = settings()
    days = s.backup_retention_days
    epoch = find_epoch(key_epoch) if key_epoch is not None else None
    store = key_store()
    window = store.destroy_delay.days
    until = destruction_due(epoch) if epoch is not None else None
    legacy = pre_epoch or key_epoch is None
    within = until is not None and not legacy and (until - now) <= timedelta(days=PERIODIC_DESTRUCTION_DAYS)
    kms_tr = f" + KMS'in {window} günlük silme bekleme süresi" if window else ""
    kms_en = f" plus KMS's {window}-day deletion window" if window else ""
    if until is not None:
        tr = (f"Bu silmeden önce alınmış yedekler ve WAL arşivleri ilgili kişinin şifreli anahtarını içerir. O "
              f"anahtarı açan, veritabanı dışında tutulan {epoch.id} anahtar döneminin anahtarı en geç "
              f"{format_datetime(until)} tarihinden sonraki ilk günlük anahtar rotasyonunda imha edilir (dönemin "
              f"planlanan sonu {format_datetime(epoch.ends_at)} + {days} günlük yedek saklama süresi{kms_tr}); "
              "o andan sonra bu kopyalar kişinin verilerini çözemez. O zamana kadar kopyalar yalnızca kurtarma "
              "için kullanılır ve saklama süresi sonunda imha edilir.")
        en = (f"Backups and WAL archives taken before this erasure hold the subject's sealed key. The key of "
              f"epoch {epoch.id} that opens it, kept outside the database, is destroyed by the first daily key "
              f"rotation at or after {iso_business(until)} (the epoch's planned end {iso_business(epoch.ends_at)} "
              f"plus the backup retention of {days} days{kms_en}); from then on those copies cannot decrypt the "
              "subject's data. Until then they serve recovery only and are destroyed when their retention ends.")
    else:
        tr = ("Bu silmeden önce alınmış yedekler ve WAL arşivleri ilgili kişinin şifreli anahtarını içerir; "
              "anahtarın imha tarihi belirlenemedi.")
        en = "Backups and WAL archives taken before this erasure hold the subject's sealed key; no destruction date is known."
    if legacy:
        tr += (" Bu kişinin anahtarı bir dönem, anahtar dönemlerinden önceki biçimde (yalnız kiracı anahtarıyla) "
               "saklandı: o dönemin kopyaları ana anahtar (veya KMS anahtarı) yenilenip eskisi imha edilene kadar "
               "verileri çözebilir.")
        en += (" This subject's key was once stored in the pre-epoch form (under the tenant key alone): copies of "
               "that time can decrypt the data until the master key (or KMS key) of that time is replaced and "
               "destroyed.")
    if not within:
        tr += f" Bu süre, Yönetmelik'in en fazla {PERIODIC_DESTRUCTION_DAYS} günlük periyodik imha süresini aşıyor."
        en += f" This exceeds the Regulation's periodic-destruction interval of at most {PERIODIC_DESTRUCTION_DAYS} days."
    return {
        "backups_may_hold_key_until": iso_business(until) if until is not None else None,
        "key_epoch": epoch.id if epoch is not None else key_epoch,
        "key_epoch_ends_at": iso_business(epoch.ends_at) if epoch is not None else None,
        "key_epoch_days": s.key_epoch_days,
        "backup_retention_days": days,
        "key_store": store.kind,
        "key_store_deletion_window_days": window,
        "pre_epoch_copies": legacy,
        "periodic_destruction_days": PERIODIC_DESTRUCTION_DAYS,
        "within_periodic_destruction": within,
        "tr": tr,
        "en": en,
    }


async def run_erasure(ev) -> None:
    """kopru.erasure.requested.v1: erase, store the report, emit kopru.erasure.completed.v1."""
    req_id = uuid.UUID(ev.data["request_id"])
    async with ev.once() as tx:
        if tx is None:
            return
        row = (await tx.execute("select * from subject_requests where id = %(id)s for update", {"id": req_id})).first()
        if row is None or row.kind != "erasure" or row.status != "pending":
            return
        report = await erase_subject(tx, row.subject_id)
        now = (await tx.execute("select now()")).scalar_one()
        await tx.execute("update subject_requests set status = 'completed', completed_at = %(now)s, report = %(r)s "
                         "where id = %(id)s", {"now": now, "r": report, "id": req_id})
        await tx.audit("kvkk.erasure.completed", target=str(req_id), details={"subject_id": str(row.subject_id)})
        await tx.emit(ERASURE_COMPLETED, {
            "request_id": str(req_id), "subject_id": str(row.subject_id), "completed_at": iso_utc(now),
            "cleared": sum(x["rows"] for x in report["cleared"]), "kept": sum(x["rows"] for x in report["kept"]),
        }, subject=str(req_id))
        await measure_open(tx)
    from kopru import metrics

    metrics.kvkk_completed(tx.tenant_id, "erasure", late=now > row.due_at)  # once committed
