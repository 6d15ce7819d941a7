"""Credit reports on a counterparty: the rules behind the credit-report function.

    requested --(the partner's report, kopru.work)--> obtained
        |                                          +-> failed (no consent any more, unknown identity,
        |                                          |           the partner's own consent check, refused)
        +------------------------------------------+-> unknown (an operator decides: kopru work)
    (upload) -----------------------------------------> obtained

- **Consent first.** A report is asked for only on an explicit consent of the person for
  the `credit_report` purpose, neither withdrawn nor expired: looked up (and share-locked,
  so a withdrawal waits for this transaction) in the transaction that records the request,
  and again in the claim transaction right before the call. No consent: refused with
  `credit.no_consent`, nothing recorded, no call. The consent's id, grant time and text hash
  are copied onto the report row: the evidence of lawful processing that outlives the report.
- **A paid call, once.** The request is recorded with its `outward_calls` row and its event
  (kopru.credit.requested.v1) in one transaction; the consumer asks the partner through
  `kopru.work.perform`. The partner has no idempotency key; an attempt whose answer was lost
  is reconciled by looking the report up under our reference (the row's id), and asked
  again only when the partner still has nothing under it after
  KOPRU_CREDIT_ABSENT_AFTER_SECONDS.
- **Kept under the subject key.** The report (JSON), the uploaded PDF and the identity number
  asked about are AES-GCM under the subject's key (kopru.kvkk.subjects); a withdrawal of the
  consent clears them (kopru.consent.withdrawn.v1), an erasure shreds them, and the retention
  purge clears them 180 days after the request (kopru.kvkk.register: `credit_reports`). What a
  legal hold keeps is only the fact: which consent, when asked, when obtained, from whom.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import uuid
from typing import Any

from kopru.errors import KopruError

REQUESTED = "kopru.credit.requested.v1"
OBTAINED = "kopru.credit.obtained.v1"
FAILED = "kopru.credit.failed.v1"
SOURCE = "/kopru/credit-report"
PROVIDER = "credit-partner"
PURPOSE = "credit_report"


def _field(kind: str, report_id: uuid.UUID | str) -> str:
    return f"credit_reports.{kind}:{report_id}"


# -- consent ----------------------------------------------------------------------------------

async def _subject(tx, body):
    """The person whose consent the request rests on: the TCKN's own subject, or the
    `subject` named (required with a VKN); the same one when both are given. Their
    data_subjects row (id, wrapped_key, key_epoch): the key is opened once, by the caller
    that seals (`_open_key`), never while resolving."""
    from kopru.kvkk.subjects import find_subject_row, resolve_subject_row, tenant_keys

    keys = await tenant_keys(tx)
    named = await resolve_subject_row(tx, keys, body.subject) if body.subject is not None else None
    if body.scheme == "TCKN":
        ref = await find_subject_row(tx, keys, "tckn", body.number)
        if ref is None:
            if named is None:
                raise KopruError("credit.no_consent")  # no subject, so no consent of theirs
            raise KopruError("credit.subject_mismatch")
        if named is not None and named.id != ref.id:
            raise KopruError("credit.subject_mismatch")
        return ref
    return named


async def _open_key(tx, person) -> bytes:
    """The subject's key, opened once for the transaction (kopru.kvkk.subjects.open_subject_key);
    kvkk.subject_erased once it is destroyed."""
    from kopru.kvkk.subjects import open_subject_key, tenant_keys

    if person.wrapped_key is None:
        raise KopruError("kvkk.subject_erased")
    return await open_subject_key(await tenant_keys(tx), person.id, person.wrapped_key, person.key_epoch)


async def active_consent(tx, subject_id: uuid.UUID, consent_id: uuid.UUID | None = None, *, lock: bool = True):
    """The subject's newest explicit consent for credit reports that is neither withdrawn nor
    expired (or exactly `consent_id`, if it is one), share-locked; None when there is none
    or the subject is erased."""
    from kopru.kvkk.vocabulary import CONSENT_BASES

    live = (await tx.execute("select wrapped_key is not null from data_subjects where id = %(id)s",
                             {"id": subject_id})).scalar()
    if not live:
        return None
    return (await tx.execute(
        "select id, granted_at, text_sha256 from consents "
        "where subject_id = %(s)s and purpose = %(purpose)s and legal_basis = any(%(bases)s) "
        "and withdrawn_at is null and expires_at > now()"
        + (" and id = %(c)s" if consent_id is not None else "")
        + " order by granted_at desc limit 1" + (" for share" if lock else ""),
        {"s": subject_id, "purpose": PURPOSE, "bases": sorted(CONSENT_BASES), "c": consent_id})).first()


async def _consenting(tx, body):
    """(the subject's row, its active consent) or KopruError; the subject's key stays closed."""
    person = await _subject(tx, body)
    wanted = uuid.UUID(body.consent_id) if body.consent_id else None
    consent = await active_consent(tx, person.id, wanted) if person is not None else None
    if consent is None:
        raise KopruError("credit.consent_mismatch" if wanted is not None else "credit.no_consent")
    return person, consent


async def _consented(tx, body):
    """(subject id, its active consent) or KopruError (the workflow action's preview)."""
    person, consent = await _consenting(tx, body)
    return person.id, consent


def _material(body) -> list[Any]:
    return [body.scheme, body.number, body.subject.model_dump() if body.subject else None, body.consent_id]


_SEALED = ("report_enc", "document_enc")  # the columns `_insert`'s `sealed` may fill


async def _insert(tx, report_id: uuid.UUID, body, subject_id: uuid.UUID, key: bytes, consent, *, source: str,
                  provider: str, status: str, actor: str, obtained: bool = False,
                  sealed: dict[str, str] | None = None) -> None:
    """The report's row; `sealed` ({column: text}) encrypted under the subject key, `obtained`:
    obtained_at is now()."""
    from kopru.kvkk.subjects import encrypt_field

    values: dict[str, Any] = {
        "id": report_id, "tenant_id": tx.tenant_id, "subject_id": subject_id, "consent_id": consent.id,
        "consent_granted_at": consent.granted_at, "consent_text_sha256": bytes(consent.text_sha256).hex(),
        "source": source, "provider": provider, "scheme": body.scheme, "status": status, "requested_by": actor,
        "identity_enc": encrypt_field(key, subject_id, _field("identity", report_id), body.number)}
    for k, v in (sealed or {}).items():
        if k not in _SEALED:
            raise ValueError(k)  # column names come from this module, never from input
        values[k] = encrypt_field(key, subject_id, _field(k.removesuffix("_enc"), report_id), v)
    cols = list(values) + (["obtained_at"] if obtained else [])
    vals = [f"%({k})s" for k in values] + (["now()"] if obtained else [])
    await tx.execute(f"insert into credit_reports ({', '.join(cols)}) values ({', '.join(vals)})", values)


# -- POST /credit-reports --------------------------------------------------------------------------

async def request_report(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Record the request (202) after the consent check; the partner is asked on
    kopru.credit.requested.v1. A repeat with the same Idempotency-Key answers the same one."""
    from kopru.work import idempotency
    from kopru.work.integrations import load
    from kopru.work.outward import intend

    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /credit-reports", idempotency_key, _material(body))
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        if await load(tx, PROVIDER) is None:
            raise KopruError("credit.not_configured")
        person, consent = await _consenting(tx, body)
        subject_id, key = person.id, await _open_key(tx, person)
        report_id = uuid.uuid4()
        await _insert(tx, report_id, body, subject_id, key, consent, source="partner", provider=PROVIDER,
                      status="requested", actor=ctx.actor)
        await tx.audit("credit.requested", target=str(report_id),
                       details={"subject_id": str(subject_id), "consent_id": str(consent.id)})
        await intend(tx, CreditFetch.provider, CreditFetch.operation, str(report_id))
        await tx.emit(REQUESTED, {"report_id": str(report_id), "subject_id": str(subject_id),
                                  "consent_id": str(consent.id)}, subject=str(report_id), source=SOURCE)
        out = {"id": str(report_id), "status": "requested", "subject_id": str(subject_id),
               "consent_id": str(consent.id), "source": "partner"}
        await slot.save(202, out)
    return out


async def deliver(ev) -> str:
    """kopru.credit.requested.v1: ask the partner once (kopru.work.perform). Raises
    KopruError("credit_partner.unavailable") (503: redelivered with backoff)."""
    from kopru.work import perform

    rid = uuid.UUID(ev.data["report_id"])
    return await perform(ev.tenant_id, CreditFetch(ev.tenant_id, rid), actor="event:credit-report")


async def recover_stalled() -> dict[str, int]:
    """Requests nobody is finishing (a holder killed mid-call, an event dead-lettered) are
    taken over, reconciled with the partner first."""
    from kopru.work.sweep import recover

    return await recover(PROVIDER, lambda tid, _op, ref: CreditFetch(tid, uuid.UUID(ref)),
                         actor="schedule:credit-report")


class CreditFetch:
    """One report at the partner as an outward call (kopru.work): claim -> call -> record.

    Reconcile: the partner's look-up by our reference (the report's id). Found: recorded as
    obtained (code `reconciled`). Nothing under it: asked again once the request had
    KOPRU_CREDIT_ABSENT_AFTER_SECONDS to land (before that, it waits)."""

    provider = PROVIDER
    operation = "credit.report"
    unavailable_code = "credit_partner.unavailable"
    source = SOURCE

    def __init__(self, tenant_id: uuid.UUID, report_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.report_id, self.ref = tenant_id, report_id, str(report_id)
        self.lease_s = settings().outward_lease_seconds
        self.absent_after = settings().credit_absent_after_seconds
        self.row = None

    async def prepare(self, tx, *, first: bool):
        from kopru.kvkk.subjects import decrypt_field, subject_key
        from kopru.work import Outcome
        from kopru.work.integrations import load

        row = (await tx.execute("select * from credit_reports where id = %(id)s for update",
                                {"id": self.report_id})).first()
        if row is None:
            return Outcome.failed("credit.not_found")
        if row.status != "requested":
            return Outcome("succeeded" if row.status == "obtained" else "failed", "already_recorded")
        self.row = row
        # the consent again, right before the call: a withdrawal since the request ends it here
        consent = await active_consent(tx, row.subject_id, row.consent_id)
        if consent is None:
            return Outcome.failed("credit.no_consent")
        self.creds = await load(tx, PROVIDER)
        if self.creds is None:
            return Outcome.failed("credit.not_configured")
        key = await subject_key(tx, row.subject_id)
        if key is None or row.identity_enc is None:
            return Outcome.failed("kvkk.subject_erased")
        self.number = decrypt_field(key, row.subject_id, _field("identity", row.id), row.identity_enc)
        self.consent = {"reference": str(row.consent_id), "granted_at": row.consent_granted_at.isoformat(),
                        "text_sha256": row.consent_text_sha256}
        return None

    def _client(self):
        from kopru.connectors.credit_partner import CreditPartnerClient

        public, secrets = self.creds
        return CreditPartnerClient(secrets["api_key"], public["customer_code"])

    async def call(self):
        from kopru.connectors import credit_partner as cp
        from kopru.work import Outcome, Transient

        try:
            async with self._client() as c:
                rep = await c.request_report(client_reference=self.ref, scheme=self.row.scheme, number=self.number,
                                             consent=self.consent)
        except cp.TransientError as err:
            raise Transient(err.code, ambiguous=err.ambiguous) from None
        except cp.PermanentError as err:
            return Outcome.failed(err.code)
        return Outcome.ok(rep.report_id, detail=rep.raw)

    async def reconcile(self, *, quiet_for: float):
        from kopru.connectors import credit_partner as cp
        from kopru.work import Outcome, Transient

        try:
            async with self._client() as c:
                rep = await c.find_report(self.ref)
        except cp.PartnerError:
            raise Transient("credit_partner.unavailable", ambiguous=True) from None
        if rep is not None:
            return Outcome.ok(rep.report_id, "reconciled", detail=rep.raw)
        if quiet_for < self.absent_after:
            raise Transient("credit_partner.unavailable", ambiguous=True)
        return None  # nothing under our reference long after the attempt: it never took it

    async def record(self, tx, outcome) -> None:
        from kopru.kvkk.subjects import encrypt_field, subject_key

        row = self.row
        if row is None or outcome.code == "already_recorded":
            return
        if outcome.state == "succeeded":
            key = await subject_key(tx, row.subject_id)
            # the consent once more, share-locked till this commits: withdrawn while the partner answered
            # (its clearing may already have run for this row), the report is not kept; a withdrawal
            # after this waits for the commit, and its clearing then finds the content
            consent = await active_consent(tx, row.subject_id, row.consent_id)
            sealed = None
            if key is not None and consent is not None and isinstance(outcome.detail, dict):  # erased meanwhile: not kept
                sealed = encrypt_field(key, row.subject_id, _field("report", row.id),
                                       json.dumps(outcome.detail, ensure_ascii=False, separators=(",", ":")))
            await tx.execute(
                "update credit_reports set status = 'obtained', report_enc = %(report)s, "
                "partner_report_id = %(partner)s, error_code = null, obtained_at = now(), updated_at = now() "
                "where id = %(id)s",
                {"report": sealed, "partner": outcome.external_ref, "id": self.report_id})
            await tx.audit("credit.obtained", target=self.ref,
                           details={"subject_id": str(row.subject_id), "consent_id": str(row.consent_id)})
            await tx.emit(OBTAINED, {"report_id": self.ref, "subject_id": str(row.subject_id),
                                     "consent_id": str(row.consent_id), "source": "partner", "provider": PROVIDER},
                          subject=self.ref, source=SOURCE)
            return
        status = "unknown" if outcome.state == "unknown" else "failed"
        await tx.execute("update credit_reports set status = %(status)s, error_code = %(code)s, updated_at = now() "
                         "where id = %(id)s", {"status": status, "code": outcome.code, "id": self.report_id})
        if status == "failed":  # an unknown one has its own event (kopru.work.outcome_unknown.v1)
            await tx.emit(FAILED, {"report_id": self.ref, "subject_id": str(row.subject_id), "code": outcome.code},
                          subject=self.ref, source=SOURCE)


# -- POST /credit-reports/uploads ---------------------------------------------------------------

async def upload_report(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Keep the Findeks PDF the counterparty shared, on the same consent rule as a request
    (201): checked (kopru.credit.pdf), sealed under the subject key, its facts beside it.
    In this order: the Idempotency-Key (a replay answers the saved answer, nothing parsed),
    the consent (none: credit.no_consent, the document never read), then the PDF's checks."""
    from kopru.credit.models import MAX_PDF_BYTES
    from kopru.credit.pdf import check
    from kopru.work import idempotency

    try:
        data: bytes | None = base64.b64decode(body.pdf_base64, validate=True)
    except (binascii.Error, ValueError):
        data = None  # refused as credit.pdf_invalid once the consent is known
    # the key stands for the document's bytes (its SHA-256, as PdfFacts.sha256), not their parse
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /credit-reports/uploads", idempotency_key,
                                       [*_material(body), digest])
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        person, consent = await _consenting(tx, body)
        if data is None:
            raise KopruError("credit.pdf_invalid")
        facts = await asyncio.to_thread(check, data, MAX_PDF_BYTES)
        report_id = uuid.uuid4()
        summary = {"kind": "findeks_pdf", "pages": facts.pages, "bytes": facts.bytes, "sha256": facts.sha256,
                   "pdf_version": facts.pdf_version, "findeks_mentioned": facts.findeks_mentioned}
        subject_id, key = person.id, await _open_key(tx, person)
        await _insert(tx, report_id, body, subject_id, key, consent, source="upload", provider="upload",
                      status="obtained", actor=ctx.actor, obtained=True,
                      sealed={"report_enc": json.dumps(summary), "document_enc": body.pdf_base64})
        await tx.audit("credit.uploaded", target=str(report_id),
                       details={"subject_id": str(subject_id), "consent_id": str(consent.id)})
        await tx.emit(OBTAINED, {"report_id": str(report_id), "subject_id": str(subject_id),
                                 "consent_id": str(consent.id), "source": "upload", "provider": "upload"},
                      subject=str(report_id), source=SOURCE)
        out = {"id": str(report_id), "status": "obtained", "subject_id": str(subject_id),
               "consent_id": str(consent.id), "source": "upload", "pages": facts.pages, "bytes": facts.bytes}
        await slot.save(201, out)
    return out


# -- reading ----------------------------------------------------------------------------------

async def _row(tx, report_id: uuid.UUID):
    row = (await tx.execute("select * from credit_reports where id = %(id)s", {"id": report_id})).first()
    if row is None:
        raise KopruError("credit.not_found")
    return row


def _summary(row, content_gone: bool) -> dict[str, Any]:
    """What GET /credit-reports shows of a report, and the single GET starts from: the fact
    of it and its outcome, never its content or the identity number."""
    from kopru.connectors.words import describe
    from kopru.text import iso_business

    return {
        "id": row.id, "status": row.status, "source": row.source, "provider": row.provider,
        "scheme": row.scheme, "subject_id": row.subject_id,
        "consent": {"id": row.consent_id, "granted_at": iso_business(row.consent_granted_at),
                    "text_sha256": row.consent_text_sha256},
        "requested_at": iso_business(row.requested_at), "obtained_at": iso_business(row.obtained_at),
        "error": describe(row.error_code),
        "content_gone": content_gone,
    }


async def get_report(ctx, report_id: uuid.UUID) -> dict[str, Any]:
    """GET /credit-reports/{id}: status, the consent it rests on, and the report itself
    (decrypted) while it is kept; `content` null once gone (content_gone true). Who looked
    is kept in the audit chain (`credit.viewed`, ids only), committed with the read."""
    from kopru.kvkk.subjects import FieldCipher, subject_key

    async with ctx.transaction() as tx:
        row = await _row(tx, report_id)
        key = await subject_key(tx, row.subject_id)
        await tx.audit("credit.viewed", target=str(row.id),
                       details={"view": "report", "subject_id": str(row.subject_id), "consent_id": str(row.consent_id)})
    cipher = FieldCipher(key, row.subject_id) if key is not None else None
    number = cipher.decrypt(_field("identity", row.id), row.identity_enc) if cipher else None
    content = cipher.decrypt(_field("report", row.id), row.report_enc) if cipher else None
    return {
        **_summary(row, row.status == "obtained" and content is None),
        "number": (number[:2] + "*" * (len(number) - 4) + number[-2:]) if number else None,
        "partner_report_id": row.partner_report_id,
        "report": json.loads(content) if content else None,
        "document": bool(cipher and row.document_enc is not None),
    }


STATUSES = ("requested", "obtained", "failed", "unknown")  # credit_reports.status's CHECK (kopru.credit.models)


async def listing(ctx, limit: int, cursor: str | None, status: str | None = None) -> dict[str, Any]:
    """GET /credit-reports: the tenant's reports, newest request first, as summaries
    (`_summary`): no ciphertext is read, nothing is decrypted. `content_gone` is told from
    the row and the subject's key without opening either. A cursor is bound to the tenant
    and the status filter it was given for."""
    from kopru import pages

    if status is not None and status not in STATUSES:
        raise KopruError("request.validation_failed", detail="status: " + ", ".join(STATUSES),
                         errors=[{"field": "status", "type": "enum", "message": "one of " + ", ".join(STATUSES)}])
    scope = f"credit-reports:{ctx.tenant_id}:{status or '*'}"
    q, params = pages.keyset_sql(
        "select cr.id, cr.status, cr.source, cr.provider, cr.scheme, cr.subject_id, cr.consent_id, "
        "cr.consent_granted_at, cr.consent_text_sha256, cr.requested_at, cr.obtained_at, cr.error_code, "
        "(cr.report_enc is not null and ds.wrapped_key is not null) as content_kept "
        "from credit_reports cr left join data_subjects ds on ds.id = cr.subject_id "
        + ("where cr.status = %(status)s" if status else "where true"),
        {"status": status} if status else {}, "cr.requested_at", "cr.id", scope, cursor, limit,
        newest_first=True, key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.requested_at, r.id))
    return {"credit_reports": [_summary(r, r.status == "obtained" and not r.content_kept) for r in rows],
            "next_cursor": pages.encode(scope, *last) if last else None}


async def get_document(ctx, report_id: uuid.UUID) -> bytes:
    """GET /credit-reports/{id}/document: the uploaded PDF while it is kept. Handing it out
    is kept in the audit chain (`credit.viewed`, ids only); a refusal writes nothing."""
    from kopru.kvkk.subjects import decrypt_field, subject_key

    async with ctx.transaction() as tx:
        row = await _row(tx, report_id)
        if row.source != "upload":
            raise KopruError("credit.not_found")
        key = await subject_key(tx, row.subject_id)
        if key is None or row.document_enc is None:
            raise KopruError("credit.content_gone")
        await tx.audit("credit.viewed", target=str(row.id),
                       details={"view": "document", "subject_id": str(row.subject_id),
                                "consent_id": str(row.consent_id)})
    return base64.b64decode(decrypt_field(key, row.subject_id, _field("document", row.id), row.document_enc))


# -- a withdrawn consent ---------------------------------------------------------------------------

async def consent_withdrawn(ev) -> int:
    """kopru.consent.withdrawn.v1 of a credit_report consent: the content of the reports
    resting on it is cleared (the fact stays, as the register's hold says), and requests not
    yet sent end at their claim (CreditFetch.prepare). Returns the reports cleared."""
    if ev.data.get("purpose") != PURPOSE:
        return 0
    consent_id = uuid.UUID(ev.data["consent_id"])
    async with ev.once() as tx:
        if tx is None:
            return 0
        ids = [r.id for r in (await tx.execute(
            "update credit_reports set report_enc = null, document_enc = null, identity_enc = null, "
            "partner_report_id = null, updated_at = now() "
            "where consent_id = %(c)s and (report_enc is not null or document_enc is not null "
            "or identity_enc is not null) returning id", {"c": consent_id})).all()]
        for rid in ids:
            await tx.audit("credit.content_cleared", target=str(rid),
                           details={"subject_id": ev.data.get("subject_id"), "consent_id": str(consent_id),
                                    "reason": "consent_withdrawn"})
    return len(ids)


# -- the partner settings (kopru.providers) -----------------------------------------------------------

async def check_partner(tenant_id: uuid.UUID, body):
    """The connection check on save: the partner's ping with the tenant's key and customer code."""
    from kopru.connectors import credit_partner as cp
    from kopru.work.integrations import Checked

    try:
        async with cp.CreditPartnerClient(body.api_key, body.customer_code) as c:
            await c.ping()
    except cp.AuthError:
        raise KopruError("credit_partner.credentials_invalid") from None
    except cp.TransientError:
        raise KopruError("credit_partner.unavailable") from None
    except cp.PermanentError:
        raise KopruError("credit_partner.credentials_invalid") from None
    return Checked()
