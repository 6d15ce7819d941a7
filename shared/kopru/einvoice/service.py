"""Issuing e-invoices: the rules behind the einvoice-submit routes, its consumer and
the status poll.

- `request_invoice` (POST /einvoices): routes the invoice (e-Fatura to a buyer on GİB's
  registered-user list, else e-Arşiv; an IHRACAT invoice e-Fatura to the customs authority's
  fixed alias urn:mail:ihracatpk@gtb.gov.tr), takes the next number of the tenant's series in
  the same transaction as the insert (a row lock on the counter: a rolled-back request
  burns no number, a number is never handed out twice), renders, signs with the tenant's
  certificate, validates with GİB's XSD + schematron (nothing is written when it fails),
  stores the signed document and emits kopru.einvoice.requested.v1.
- `submit` (the consumer): uploads the document through Nilvera. The ETTN is the
  idempotency key: a redelivered event for an invoice already submitted does nothing,
  and an upload of an ETTN Nilvera already holds comes back `already_submitted` (no
  second invoice). A transient failure raises (503: redelivered with backoff).
- `poll_statuses` (`kopru einvoice poll`, on a schedule): moves submitted invoices to
  accepted / rejected / failed from Nilvera's status (GİB's 1150/1160/1163 and the
  buyer's KABUL/RED), and tracks a TICARIFATURA's 8-day answer window.

What a real mali mühür needs: the tenant's qualified seal certificate lives on a
smart card or an HSM (PKCS#11), not in a PKCS#12: signing would go through a PKCS#11
session (or the integrator's own signing service: Nilvera signs for tenants that let it)
instead of `load_signing_key`. The PKCS#12 upload covers e-imza/mali mühür exports and
dev/test.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import hashlib
import json
import uuid
from typing import Any

from kopru.errors import KopruError
from kopru.logs import get_logger

log = get_logger("kopru.einvoice")

REQUESTED = "kopru.einvoice.requested.v1"
SUBMITTED = "kopru.einvoice.submitted.v1"
ACCEPTED = "kopru.einvoice.accepted.v1"
REJECTED = "kopru.einvoice.rejected.v1"
SOURCE = "/kopru/einvoice-submit"
PROVIDER = "nilvera"
ANSWER_WINDOW = _dt.timedelta(days=8)  # TICARIFATURA: the buyer answers within 8 days of delivery
CACHE_TTL_S = 600
CACHE_PREFIX = "kopru:efu:"
POLL_BATCH = 500
OPEN = ("queued", "submitting", "submitted")


# -- the registered-user list ---------------------------------------------------------------

def _cache_key(identifier: str) -> str:
    # a keyed hash: a TCKN is personal data and does not go into Redis as is
    return CACHE_PREFIX + hashlib.blake2b(identifier.encode(), key=b"kopru-efatura-users", digest_size=16).hexdigest()


async def registered_user(identifier: str) -> dict[str, Any] | None:
    """GİB's registered-user entry of a VKN/TCKN from the local copy (`efatura_users`),
    cached in Redis for CACHE_TTL_S: {"alias": default PK alias, "aliases": [...]} or
    None when not registered (an e-Arşiv buyer)."""
    from kopru import redis as kredis
    from kopru.db import platform_transaction

    key = _cache_key(identifier)
    r = kredis.client()
    try:
        hit = await r.get(key)
    except Exception:  # Redis down: the database answers
        hit = None
    if hit is not None:
        got = json.loads(hit)
        return got or None
    async with platform_transaction() as conn:
        row = (await conn.execute("select aliases from efatura_users where identifier = %(i)s",
                                  {"i": identifier})).first()
    out = {"alias": _default_alias(row.aliases), "aliases": list(row.aliases)} if row and row.aliases else {}
    try:
        await r.set(key, json.dumps(out), ex=CACHE_TTL_S)
    except Exception:
        pass
    return out or None


def _default_alias(aliases) -> str | None:
    for a in aliases:
        if "defaultpk@" in a.lower():
            return a
    return aliases[0] if aliases else None


async def forget_cached_users() -> int:
    """Drop the cached look-ups (after an import)."""
    from kopru import redis as kredis

    r = kredis.client()
    n = 0
    async for k in r.scan_iter(match=CACHE_PREFIX + "*", count=1000):
        n += await r.delete(k)
    return n


def import_users(path: str) -> dict[str, int]:
    """`kopru einvoice users import FILE`: load GİB's registered e-Fatura user list into
    `efatura_users` (owner role; upsert, so an import is repeatable).

    The file accepted here is a simple UTF-8 CSV with a header row
    `identifier,title,alias,first_created` and one row per alias (a user with several PK
    aliases has several rows; the `defaultpk` alias, or else the first, is the default).
    `first_created` is ISO 8601 (optional).

    GİB's real list ("Kayıtlı Kullanıcı Listesi", downloaded by integrators from
    GİB's e-Fatura portal as a zipped XML of `User` elements with `Identifier`, `Title`,
    `Type`, `FirstCreationTime` and per document type `Documents/Document/Alias` entries
    holding `Name`, `CreationTime` and `DeletionTime`) needs an adapter that: reads the zip
    stream by stream (hundreds of MB unzipped; an iterparse, never a DOM), keeps only
    Invoice (not DespatchAdvice) PK aliases without a DeletionTime, and does the same
    upsert; plus removing users no longer listed (a full import, not a delta). Not done.
    """
    import csv

    from sqlalchemy import text

    from kopru.admin import _owner_engine

    users: dict[str, dict[str, Any]] = {}
    bad = 0
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            ident = (row.get("identifier") or "").strip()
            alias = (row.get("alias") or "").strip()
            if not ident.isdigit() or len(ident) not in (10, 11) or not alias.startswith("urn:mail:"):
                bad += 1
                continue
            u = users.setdefault(ident, {"title": (row.get("title") or "").strip() or ident, "aliases": [],
                                         "first": (row.get("first_created") or "").strip() or None})
            if alias not in u["aliases"]:
                u["aliases"].append(alias)
    eng = _owner_engine()
    try:
        with eng.begin() as conn:
            for ident, u in users.items():
                aliases = sorted(u["aliases"], key=lambda a: "defaultpk@" not in a.lower())
                conn.execute(text(
                    "insert into efatura_users (identifier, title, aliases, first_created, imported_at) "
                    "values (:i, :t, :a, cast(:f as timestamptz), now()) on conflict (identifier) do update "
                    "set title = excluded.title, aliases = excluded.aliases, first_created = excluded.first_created, "
                    "imported_at = now()"), {"i": ident, "t": u["title"], "a": aliases, "f": u["first"]})
    finally:
        eng.dispose()
    return {"users": len(users), "skipped_rows": bad}


# -- settings ---------------------------------------------------------------------------------

async def check_nilvera(tenant_id: uuid.UUID, body):
    """The Nilvera connection check (kopru.providers): the certificate must open with its
    password, and Nilvera must take the API key (its company call). Stores the
    certificate's serial and expiry with the public settings."""
    from kopru.connectors import nilvera
    from kopru.work.integrations import Checked

    cert_info = None
    if body.p12 is not None:
        from kopru.einvoice.sign import load_signing_key

        try:
            p12 = base64.b64decode(body.p12, validate=True)
        except ValueError:
            raise KopruError("einvoice.certificate_invalid") from None
        cert = load_signing_key(p12, body.p12_password or None).certificate
        cert_info = {"serial_number": format(cert.serial_number, "x"),
                     "not_after": cert.not_valid_after_utc.isoformat()}
    elif body.p12_password is not None:
        raise KopruError("request.validation_failed", detail="p12_password without p12")
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor="integration:nilvera") as tx:
        own = (await tx.execute("select tax_number from tenants where id = %(id)s", {"id": tenant_id})).scalar()
    try:
        async with nilvera.NilveraClient(body.api_key) as c:
            company = await c.company()
    except (nilvera.PermanentError, nilvera.InvalidRequest):
        raise KopruError("nilvera.credentials_invalid") from None
    except nilvera.TransientError:
        raise KopruError("nilvera.unavailable") from None
    # the key must be the tenant's own company's: invoices go out under the tenant's VKN,
    # and another company's key would issue them from that company's account
    if own is None or (company.tax_number or "").strip() != own:
        raise KopruError("nilvera.account_mismatch")
    return Checked(store={"certificate": cert_info})


async def _integration(tx) -> tuple[dict[str, Any], dict[str, Any]] | None:
    from kopru.work.integrations import load

    return await load(tx, PROVIDER)


def _signing_key(secret: dict[str, Any], supplier_id: str):
    from kopru.config import settings
    from kopru.einvoice.sign import load_signing_key, test_certificate

    if secret.get("p12"):
        return load_signing_key(base64.b64decode(secret["p12"]), secret.get("p12_password") or None)
    if settings().env in ("dev", "test"):
        tc = test_certificate(vkn=supplier_id)
        return load_signing_key(tc.p12, tc.password)
    raise KopruError("einvoice.certificate_missing")


async def _supplier(tx, conf: dict[str, Any]):
    from kopru.einvoice.models import Party

    t = (await tx.execute("select name, tax_number, tax_number_kind, tax_office from tenants where id = %(id)s",
                          {"id": tx.tenant_id})).one()
    common = {"address": conf["address"], "email": conf.get("email"), "phone": conf.get("phone")}
    if t.tax_number_kind == "VKN":
        return Party.model_validate({"vkn": t.tax_number, "name": t.name, "tax_office": t.tax_office, **common})
    first, _, family = t.name.rpartition(" ")
    return Party.model_validate({"tckn": t.tax_number, "name": t.name, "tax_office": t.tax_office,
                                 "first_name": conf.get("first_name") or first or t.name,
                                 "family_name": conf.get("family_name") or family, **common})


# -- POST /einvoices ------------------------------------------------------------------------

async def _history(tx, einvoice_id: uuid.UUID, status: str, code: str | None = None) -> None:
    await tx.conn.queue("insert into einvoice_status_history (tenant_id, einvoice_id, status, code) "
                        "values (%(t)s, %(e)s, %(s)s, %(c)s)",
                        {"t": tx.tenant_id, "e": einvoice_id, "s": status, "c": code})


async def _next_number(tx, series: str, year: int) -> str:
    """The next number of the series for the year, under the counter's row lock (held
    until this transaction ends: concurrent requests queue here, a rollback gives the
    number back)."""
    key = {"t": tx.tenant_id, "s": series, "y": year}
    await tx.conn.queue("insert into einvoice_series_counters (tenant_id, series, year, next_value) "
                        "values (%(t)s, %(s)s, %(y)s, 1) on conflict do nothing", key)
    n = (await tx.execute("update einvoice_series_counters set next_value = next_value + 1 "
                          "where series = %(s)s and year = %(y)s returning next_value - 1", key)).scalar_one()
    if n > 999_999_999:
        raise KopruError("einvoice.series_exhausted")
    return f"{series}{year}{n:09d}"


async def _reserve_given(tx, number: str) -> None:
    """A number the caller chose: refused if taken; the counter moves past it so the
    series never hands it out again."""
    series, year, seq = number[:3], int(number[3:7]), int(number[7:])
    await tx.conn.queue(
        "insert into einvoice_series_counters as c (tenant_id, series, year, next_value) "
        "values (%(t)s, %(s)s, %(y)s, %(n)s) on conflict (tenant_id, series, year) "
        "do update set next_value = greatest(c.next_value, excluded.next_value)",
        {"t": tx.tenant_id, "s": series, "y": year, "n": seq + 1})
    if (await tx.execute("select id from einvoices where number = %(n)s", {"n": number})).first() is not None:
        raise KopruError("einvoice.number_taken")


def _route(profile: str, user: dict[str, Any] | None) -> tuple[str, str | None]:
    if profile == "IHRACAT":
        # an export invoice is an e-Fatura to the customs authority, whose GİB alias is fixed
        # (IhracatYolcuBeraberCheck-2): no look-up in the local copy of GİB's list
        from kopru.einvoice.models import CUSTOMS_ALIAS

        return "efatura", CUSTOMS_ALIAS
    if profile == "EARSIVFATURA":
        if user is not None:
            raise KopruError("einvoice.buyer_registered")
        return "earsiv", None
    if user is None:
        raise KopruError("einvoice.buyer_not_registered")
    return "efatura", user["alias"]


def _build(invoice, supplier, key, ettn: uuid.UUID, number: str) -> tuple[bytes, Any]:
    """Render, sign and validate (CPU work, run in a thread): the signed document and its totals."""
    from kopru.einvoice.sign import render_signed
    from kopru.einvoice.validate import raise_for_report, validate

    doc = render_signed(invoice, key, supplier, ettn=ettn, number=number)
    raise_for_report(validate(doc.xml))
    return doc.xml, doc.totals


async def request_invoice(ctx, invoice, idempotency_key: str | None) -> dict[str, Any]:
    """Accept an invoice (202); see the module docstring."""
    from kopru.kvkk import find_or_create_subject
    from kopru.work import idempotency
    from kopru.work.outward import intend

    if invoice.supplier is not None:
        raise KopruError("request.validation_failed", detail="supplier comes from the tenant's profile",
                         errors=[{"field": "supplier", "type": "value_error", "message": "not allowed here"}])
    cust = invoice.accounting_customer  # IHRACAT: the customs authority
    user = None if invoice.profile == "IHRACAT" else await registered_user(cust.identifier)
    kind, alias = _route(invoice.profile, user)
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /einvoices", idempotency_key, invoice.model_dump(mode="json"))
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        got = await _integration(tx)
        if got is None:
            raise KopruError("einvoice.not_configured")
        conf, secret = got
        supplier = await _supplier(tx, conf)
        key = _signing_key(secret, supplier.identifier)
        ettn = invoice.uuid or uuid.uuid4()
        if (await tx.execute("select id from einvoices where ettn = %(e)s", {"e": ettn})).first() is not None:
            raise KopruError("einvoice.uuid_taken")
        if invoice.number is not None:
            number = invoice.number
            await _reserve_given(tx, number)
        else:
            number = await _next_number(tx, conf["series"], invoice.issue_date.year)
        xml, totals = await asyncio.to_thread(_build, invoice, supplier, key, ettn, number)
        subject_id = None
        if cust.scheme == "TCKN":
            subject_id = (await find_or_create_subject(tx, {"tckn": cust.tckn})).id
        name = cust.name if cust.vkn is not None else f"{cust.first_name} {cust.family_name}"
        inv_id = uuid.uuid4()
        await tx.conn.queue(
            "insert into einvoices (id, tenant_id, ettn, number, series, year, profile, type, kind, status, "
            "receiver_alias, subject_id, customer_scheme, customer_tax_number, customer_name, currency, "
            "payable_amount, xml, issue_date, attempts) values (%(id)s, %(tenant_id)s, %(ettn)s, %(number)s, "
            "%(series)s, %(year)s, %(profile)s, %(type)s, %(kind)s, 'queued', %(receiver_alias)s, %(subject_id)s, "
            "%(customer_scheme)s, %(customer_tax_number)s, %(customer_name)s, %(currency)s, %(payable_amount)s, "
            "%(xml)s, %(issue_date)s, 0)",
            {"id": inv_id, "tenant_id": tx.tenant_id, "ettn": ettn, "number": number, "series": number[:3],
             "year": int(number[3:7]), "profile": invoice.profile, "type": invoice.type, "kind": kind,
             "receiver_alias": alias, "subject_id": subject_id, "customer_scheme": cust.scheme,
             "customer_tax_number": cust.identifier, "customer_name": name, "currency": invoice.currency,
             "payable_amount": totals.payable, "xml": xml, "issue_date": invoice.issue_date})
        await _history(tx, inv_id, "queued")
        await intend(tx, InvoiceUpload.provider, InvoiceUpload.operation, str(inv_id))
        await tx.emit(REQUESTED, {"einvoice_id": str(inv_id), "ettn": str(ettn)}, subject=str(inv_id))
        await tx.audit("einvoice.requested", target=str(inv_id), details={"number": number, "kind": kind})
        out = {"id": str(inv_id), "uuid": str(ettn), "number": number, "status": "queued", "kind": kind,
               "profile": invoice.profile, "payable_amount": str(totals.payable), "currency": invoice.currency}
        await slot.save(202, out)
    return out


async def get_invoice(ctx, einvoice_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        # what a caller may see: no XML, no customer identifiers, no internal links
        row = (await tx.execute(
            "select id, ettn, number, series, year, profile, type, kind, status, error_code, gib_code, answer, "
            "customer_scheme, currency, payable_amount, issue_date, attempts, submitted_at, delivered_at, "
            "answer_due_at, created_at, updated_at from einvoices where id = %(id)s", {"id": einvoice_id})
        ).mappings().first()
        if row is None:
            raise KopruError("einvoice.not_found")
        hist = (await tx.execute("select status, code, at from einvoice_status_history where einvoice_id = %(id)s "
                                 "order by id", {"id": einvoice_id})).all()
    from kopru.connectors.words import describe

    out = dict(row)
    out["error"] = describe(out.get("error_code"))  # the code in Turkish and English
    out["uuid"] = out.pop("ettn")
    out["payable_amount"] = str(out["payable_amount"])
    out["history"] = [{"status": r.status, "code": r.code, "at": r.at} for r in hist]
    return out


async def get_xml(ctx, einvoice_id: uuid.UUID) -> bytes:
    async with ctx.transaction() as tx:
        xml = (await tx.execute("select xml from einvoices where id = %(id)s", {"id": einvoice_id})).scalar()
    if xml is None:
        raise KopruError("einvoice.not_found")
    return bytes(xml)


# -- the consumer -----------------------------------------------------------------------------

_FINISH_COLUMNS = frozenset({"error_code", "gib_code", "answer", "delivered_at"})


async def _finish(tx, row_id: uuid.UUID, ettn, status: str, code: str | None, **values: Any) -> None:
    # the columns a final status may set; delivered_at keeps the first delivery's time
    sets = ["status = %(status)s", "updated_at = now()"]
    for col in values:
        if col not in _FINISH_COLUMNS:
            raise ValueError(col)
        sets.append(f"{col} = coalesce({col}, %({col})s)" if col == "delivered_at" else f"{col} = %({col})s")
    await tx.execute(f"update einvoices set {', '.join(sets)} where id = %(_id)s",
                     {**values, "status": status, "_id": row_id})
    from kopru import metrics

    metrics.einvoice(tx.tenant_id, status)
    await _history(tx, row_id, status, code)
    data = {"einvoice_id": str(row_id), "ettn": str(ettn)}
    if status == "accepted":
        await tx.emit(ACCEPTED, {**data, "code": code}, subject=str(row_id), source=SOURCE)
    elif status in ("rejected", "failed"):
        await tx.emit(REJECTED, {**data, "status": status, "code": code or status}, subject=str(row_id), source=SOURCE)


class InvoiceUpload:
    """One invoice's upload to Nilvera as an outward call (kopru.work). The ETTN is our
    reference at Nilvera: after an ambiguous attempt its status is asked first (found:
    `submitted` without a second upload; unknown to Nilvera: proven absent, uploaded)."""

    provider, operation = PROVIDER, "einvoice.upload"
    unavailable_code = "nilvera.unavailable"
    source = SOURCE

    def __init__(self, tenant_id: uuid.UUID, einvoice_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.einvoice_id, self.ref = tenant_id, einvoice_id, str(einvoice_id)
        self.lease_s = settings().outward_lease_seconds

    async def prepare(self, tx, *, first: bool):
        from kopru.work import Outcome

        row = (await tx.execute("select id, ettn, kind, status, xml, receiver_alias, profile from einvoices "
                                "where id = %(id)s for update", {"id": self.einvoice_id})).first()
        if row is None:
            return Outcome.failed("einvoice.not_found")
        if row.status not in ("queued", "submitting", "unknown"):  # unknown: only an operator reaches it
            return Outcome(row.status if row.status in ("failed", "unknown") else "succeeded", "already_recorded")
        self.row = row
        got = await _integration(tx)
        if got is None:
            return Outcome.failed("einvoice.not_configured")
        self.api_key = got[1]["api_key"]
        await tx.execute("update einvoices set status = 'submitting', attempts = attempts + 1, updated_at = now() "
                         "where id = %(id)s", {"id": self.einvoice_id})
        if row.status == "queued":
            await _history(tx, self.einvoice_id, "submitting")
        return None

    async def call(self):
        from kopru.connectors import nilvera
        from kopru.work import Outcome, Transient

        row, ettn = self.row, str(self.row.ettn)
        try:
            async with nilvera.NilveraClient(self.api_key) as c:
                if row.kind == "efatura":
                    res = await c.send_einvoice(bytes(row.xml), ettn, row.receiver_alias)
                else:
                    res = await c.send_earchive(bytes(row.xml), ettn)
        except nilvera.TransientError as err:
            raise Transient(f"nilvera.{err.code}", ambiguous=err.ambiguous) from None
        except (nilvera.PermanentError, nilvera.InvalidRequest) as err:
            return Outcome.failed(f"nilvera.{err.code}")
        return Outcome.ok(ettn, "already_submitted" if res.already_submitted else None,
                          detail={"already_submitted": res.already_submitted})

    async def reconcile(self, *, quiet_for: float):
        from kopru.connectors import nilvera
        from kopru.connectors.nilvera import codes as nc
        from kopru.work import Outcome, Transient

        kind = nc.EINVOICE if self.row.kind == "efatura" else nc.EARCHIVE
        try:
            async with nilvera.NilveraClient(self.api_key) as c:
                await c.get_status(kind, str(self.row.ettn), profile=self.row.profile)
        except nilvera.DocumentNotFound:
            return None  # Nilvera never took it: safe to upload
        except nilvera.TransientError as err:
            raise Transient(f"nilvera.{err.code}", ambiguous=True) from None
        except (nilvera.PermanentError, nilvera.InvalidRequest):
            return None
        return Outcome.ok(str(self.row.ettn), "reconciled", detail={"already_submitted": True})

    async def record(self, tx, outcome) -> None:
        if getattr(self, "row", None) is None:
            return  # no row of ours to move (gone, or ended before)
        if outcome.state == "succeeded":
            from kopru import metrics

            metrics.einvoice(self.tenant_id, "submitted")
            await tx.execute("update einvoices set status = 'submitted', submitted_at = now(), updated_at = now() "
                             "where id = %(id)s", {"id": self.einvoice_id})
            await _history(tx, self.einvoice_id, "submitted", outcome.code)
            await tx.emit(SUBMITTED, {"einvoice_id": self.ref, "ettn": str(self.row.ettn), "kind": self.row.kind,
                                      "already_submitted": bool((outcome.detail or {}).get("already_submitted"))},
                          subject=self.ref, source=SOURCE)
        elif outcome.state == "unknown":
            await tx.execute("update einvoices set status = 'unknown', error_code = %(c)s, updated_at = now() "
                             "where id = %(id)s", {"id": self.einvoice_id, "c": outcome.code})
            await _history(tx, self.einvoice_id, "unknown", outcome.code)
        else:
            await _finish(tx, self.einvoice_id, self.row.ettn, "failed", outcome.code, error_code=outcome.code)


async def submit(ev) -> str:
    """kopru.einvoice.requested.v1: upload once (kopru.work.perform). Returns the final
    state, "done" (a redelivery: no call, no history, no event) or "busy"; raises
    KopruError("nilvera.unavailable") (503: redelivered with backoff) when Nilvera could
    not be reached."""
    from kopru.work import perform

    inv_id = uuid.UUID(ev.data["einvoice_id"])
    return await perform(ev.tenant_id, InvoiceUpload(ev.tenant_id, inv_id), actor="event:einvoice-submit")


async def recover_stalled() -> dict[str, int]:
    """The sweep: uploads nobody is finishing are taken over (status asked first)."""
    from kopru.work.sweep import recover

    return await recover(PROVIDER, lambda tid, _op, ref: InvoiceUpload(tid, uuid.UUID(ref)),
                         actor="schedule:einvoice-status")


# -- the status poll --------------------------------------------------------------------------

def _failure_code(st) -> str:
    if st.gib_code is not None:
        return f"gib.{st.gib_code}"  # 1150 schematron, 1160 XSD, 1163 duplicate at GİB, ...
    return f"nilvera.{st.code}"


async def poll_statuses(now: _dt.datetime | None = None) -> dict[str, int]:
    """`kopru einvoice poll` (run on a schedule): for every tenant with Nilvera, ask for
    the status of each submitted invoice and move it on. Counts what changed."""
    from kopru.connectors import nilvera
    from kopru.connectors.nilvera import codes as nc
    from kopru.db import tenant_transaction
    from kopru.work.sweep import for_each_tenant

    counts = {"accepted": 0, "rejected": 0, "failed": 0, "pending": 0, "awaiting_answer": 0}
    actor = "schedule:einvoice-poll"
    async def one_tenant(tenant_id: uuid.UUID) -> None:
        async with tenant_transaction(tenant_id, actor=actor) as tx:
            got = await _integration(tx)
            if got is None:
                return
            rows = (await tx.execute(
                "select id, ettn, kind, profile, gib_code, delivered_at, answer_due_at, now() as _now from einvoices "
                "where status = 'submitted' order by submitted_at limit %(n)s", {"n": POLL_BATCH})).all()
        if not rows:
            return
        clock = now or rows[0]._now
        seen = []
        async with nilvera.NilveraClient(got[1]["api_key"]) as c:
            for r in rows:
                kind = nc.EINVOICE if r.kind == "efatura" else nc.EARCHIVE
                try:
                    seen.append((r, await c.get_status(kind, str(r.ettn), profile=r.profile)))
                except (nilvera.TransientError, nilvera.PermanentError):
                    counts["pending"] += 1  # the next tick asks again
        async with tenant_transaction(tenant_id, actor=actor) as tx:
            for r, st in seen:
                if st.outcome == nc.ACCEPTED or (st.outcome == nc.DELIVERED and st.final):
                    await _finish(tx, r.id, r.ettn, "accepted", st.code, gib_code=st.code, answer=st.answer,
                                  delivered_at=clock)  # kept when an earlier poll set it
                    counts["accepted"] += 1
                elif st.outcome == nc.REJECTED:
                    await _finish(tx, r.id, r.ettn, "rejected", nc.RED, answer=nc.RED, error_code="einvoice.answer_red")
                    counts["rejected"] += 1
                elif st.final:  # failed, duplicate at GİB (1163), cancelled
                    code = _failure_code(st)
                    await _finish(tx, r.id, r.ettn, "failed", code, gib_code=st.code, error_code=code)
                    counts["failed"] += 1
                elif st.awaiting_answer:  # a TICARIFATURA at the buyer: the 8-day window runs
                    if r.delivered_at is None:
                        await tx.execute(
                            "update einvoices set gib_code = %(g)s, delivered_at = %(d)s, answer_due_at = %(due)s, "
                            "updated_at = now() where id = %(id)s",
                            {"g": st.code, "d": clock, "due": clock + ANSWER_WINDOW, "id": r.id})
                        await _history(tx, r.id, "submitted", "awaiting_answer")
                    elif r.answer_due_at is not None and clock > r.answer_due_at:
                        # no answer in the window: GİB's portal no longer takes one; the invoice stands
                        await _finish(tx, r.id, r.ettn, "accepted", "answer_window_elapsed")
                        counts["accepted"] += 1
                        continue
                    counts["awaiting_answer"] += 1
                else:
                    if st.code != r.gib_code:
                        await tx.execute("update einvoices set gib_code = %(g)s, updated_at = now() where id = %(id)s",
                                         {"g": st.code, "id": r.id})
                        await _history(tx, r.id, "submitted", st.code)
                    counts["pending"] += 1
    await for_each_tenant(one_tenant, name="einvoice-status")
    return counts
