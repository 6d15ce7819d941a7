"""The consent ledger: one row per consent (one purpose each), withdrawals recorded on
the row and never deleted, the exact text shown stored once per version and named by
its SHA-256, the request's IP and user agent encrypted under the subject's key.

Every grant and withdrawal writes an audit entry (ids only) and an event that carries
no personal data (subject id, purpose and the like)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from kopru.errors import KopruError
from kopru.text import iso_business, iso_utc
from kopru.kvkk.identifiers import InvalidIdentifier, Kind, detect, mask
from kopru.kvkk.vocabulary import CONSENT_BASES, LEGAL_BASES

RECORDED = "kopru.consent.recorded.v1"
WITHDRAWN = "kopru.consent.withdrawn.v1"
USER_AGENT_MAX = 512






async def record_consent(tx, body, *, ip: str | None = None, user_agent: str | None = None) -> dict[str, Any]:
    """Record one consent (body: kopru.kvkk.models.ConsentIn) in the caller's tenant
    transaction. Returns the id and expires_at (stored in UTC, answered in
    Europe/Istanbul)."""
    from kopru.kvkk.subjects import encrypt_field, find_or_create_subject

    subject = await find_or_create_subject(tx, body.subject)
    consent_id = uuid.uuid4()
    text_hash = hashlib.sha256(body.consent_text.encode("utf-8")).digest()
    await tx.conn.queue("insert into consent_texts (tenant_id, sha256, text) values (%(t)s, %(h)s, %(text)s) "
                        "on conflict (tenant_id, sha256) do nothing",
                        {"t": tx.tenant_id, "h": text_hash, "text": body.consent_text})
    row = (await tx.execute(
        "insert into consents (id, tenant_id, subject_id, purpose, legal_basis, data_categories, channel, iys_type, "
        "iys_recipient_type, iys_source, text_sha256, ip_enc, user_agent_enc, granted_at, retention_days, expires_at) "
        "values (%(id)s, %(t)s, %(s)s, %(purpose)s, %(basis)s, %(cats)s, %(channel)s, %(iys_type)s, %(iys_rt)s, "
        "%(iys_source)s, %(h)s, %(ip)s, %(ua)s, now(), %(days)s, now() + make_interval(days => %(days)s)) "
        "returning granted_at, expires_at",
        {"id": consent_id, "t": tx.tenant_id, "s": subject.id, "purpose": body.purpose, "basis": body.legal_basis,
         "cats": list(body.data_categories), "channel": body.channel,
         "iys_type": body.iys.type if body.iys else None,
         "iys_rt": body.iys.recipient_type if body.iys else None,
         "iys_source": body.iys.source if body.iys else None, "h": text_hash,
         "ip": encrypt_field(subject.key, subject.id, f"consents.ip:{consent_id}", ip) if ip else None,
         "ua": (encrypt_field(subject.key, subject.id, f"consents.user_agent:{consent_id}", user_agent[:USER_AGENT_MAX])
                if user_agent else None),
         "days": body.retention_days})).one()
    await tx.audit("consent.recorded", target=str(consent_id), details={"subject_id": str(subject.id)})
    await tx.emit(RECORDED, {
        "consent_id": str(consent_id), "subject_id": str(subject.id), "purpose": body.purpose,
        "legal_basis": body.legal_basis, "data_categories": list(body.data_categories), "channel": body.channel,
        "iys": ({"type": body.iys.type, "recipient_type": body.iys.recipient_type, "source": body.iys.source}
                if body.iys else None),
        "text_sha256": text_hash.hex(), "retention_days": body.retention_days,
        "granted_at": iso_utc(row.granted_at), "expires_at": iso_utc(row.expires_at),
    }, subject=str(consent_id))
    return {
        "id": consent_id, "subject_id": subject.id, "purpose": body.purpose, "legal_basis": body.legal_basis,
        "text_sha256": text_hash.hex(), "granted_at": iso_business(row.granted_at), "expires_at": iso_business(row.expires_at),
    }


async def withdraw_consent(tx, consent_id: uuid.UUID, channel: str | None = None) -> dict[str, Any]:
    """Record the withdrawal on the consent (the grant stays as proof). Another tenant's
    consent is invisible (RLS): consent.not_found. A second withdrawal: 409."""
    row = (await tx.execute("select subject_id, purpose, iys_type, withdrawn_at from consents where id = %(id)s "
                            "for update", {"id": consent_id})).first()
    if row is None:
        raise KopruError("consent.not_found")
    if row.withdrawn_at is not None:
        raise KopruError("consent.already_withdrawn")
    withdrawn_at = (await tx.execute(
        "update consents set withdrawn_at = now(), withdrawal_channel = %(ch)s where id = %(id)s returning withdrawn_at",
        {"ch": channel, "id": consent_id})).scalar_one()
    await tx.audit("consent.withdrawn", target=str(consent_id), details={"subject_id": str(row.subject_id)})
    await tx.emit(WITHDRAWN, {
        "consent_id": str(consent_id), "subject_id": str(row.subject_id), "purpose": row.purpose,
        "iys_type": row.iys_type, "channel": channel, "withdrawn_at": iso_utc(withdrawn_at),
    }, subject=str(consent_id))
    return {"id": consent_id, "status": "withdrawn", "withdrawn_at": iso_business(withdrawn_at)}


def _status(row, now: datetime) -> str:
    if row.withdrawn_at is not None:
        return "withdrawn"
    return "active" if row.expires_at > now else "expired"


async def consent_history(tx, subject: str, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """The subject's consents and the history of grants and withdrawals, oldest
    first, a page of consents at a time (kopru.pages; `history` holds the events of the
    page's consents). `subject` is the subject's id or a phone, e-mail or TCKN string
    (which one is detected); identifiers come back masked, never in full.

    A query string ends up in proxies' access logs: callers that hold the subject id
    (every consent response carries it) should query by id, not by phone or e-mail."""
    from kopru.kvkk.subjects import decrypt_subject, find_subject, get_subject

    try:
        ref = await get_subject(tx, uuid.UUID(subject.strip()))
    except ValueError:  # not a subject id: a phone, e-mail or TCKN
        try:
            kind, value = detect(subject)
        except InvalidIdentifier as exc:
            raise KopruError(exc.code) from None
        ref = await find_subject(tx, kind, value)
    if ref is None:
        raise KopruError("subject.not_found")
    clear = await decrypt_subject(tx, ref.id)
    now = (await tx.execute("select now()")).scalar_one()


    from kopru import pages

    scope = f"consents:{tx.tenant_id}:{ref.id}"
    q, params = pages.keyset_sql("select * from consents where subject_id = %(s)s", {"s": ref.id}, "granted_at", "id",
                                 scope, cursor, limit, key_type=uuid.UUID)
    rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.granted_at, r.id))
    items, history = [], []
    for r in rows:
        items.append({
            "id": r.id, "purpose": r.purpose, "legal_basis": r.legal_basis,
            "legal_basis_ref": LEGAL_BASES[r.legal_basis].ref, "data_categories": list(r.data_categories),
            "channel": r.channel,
            "iys": ({"type": r.iys_type, "recipient_type": r.iys_recipient_type, "source": r.iys_source}
                    if r.iys_type else None),
            "text_sha256": bytes(r.text_sha256).hex(), "retention_days": r.retention_days,
            "granted_at": iso_business(r.granted_at), "expires_at": iso_business(r.expires_at),
            "withdrawn_at": iso_business(r.withdrawn_at) if r.withdrawn_at else None,
            "withdrawal_channel": r.withdrawal_channel, "status": _status(r, now),
        })
        history.append((r.granted_at, {"event": "granted", "consent_id": r.id, "purpose": r.purpose,
                                       "channel": r.channel, "at": iso_business(r.granted_at)}))
        if r.withdrawn_at is not None:
            history.append((r.withdrawn_at, {"event": "withdrawn", "consent_id": r.id, "purpose": r.purpose,
                                             "channel": r.withdrawal_channel, "at": iso_business(r.withdrawn_at)}))
    history.sort(key=lambda h: h[0])
    kinds: tuple[Kind, ...] = ("phone", "email", "tckn")
    return {
        "subject": {"id": ref.id, "erased": clear is None,
                    **{k: mask(k, clear[k]) if clear else None for k in kinds}},
        "consents": items,
        "history": [h for _, h in history],
        "next_cursor": pages.encode(scope, *last) if last else None,
    }


async def active_consent(tx, phone: str, iys_type: str = "MESAJ", purpose: str = "marketing") -> bool:
    """Whether the person behind this phone number (any accepted form) has a consent
    for `purpose` that is explicit consent, for this İYS channel type (None: any),
    neither withdrawn nor expired, and whose subject is not erased. The check SMS
    makes before a commercial message."""
    from kopru.kvkk.subjects import find_subject

    ref = await find_subject(tx, "phone", phone)
    if ref is None or ref.key is None:
        return False
    q = ("select exists (select 1 from consents where subject_id = %(s)s and purpose = %(p)s "
         "and legal_basis = any(%(bases)s) and withdrawn_at is null and expires_at > now()"
         + (" and iys_type = %(iys)s" if iys_type is not None else "") + ")")
    return bool((await tx.execute(q, {"s": ref.id, "p": purpose, "bases": sorted(CONSENT_BASES),
                                      "iys": iys_type})).scalar())


# -- the route-level calls: the tenant the runtime resolved (TenantContext), the library --

async def record(ctx, body, *, ip: str | None, user_agent: str | None) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        return await record_consent(tx, body, ip=ip, user_agent=user_agent)


async def withdraw(ctx, consent_id: uuid.UUID, channel: str | None) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        return await withdraw_consent(tx, consent_id, channel)


async def history(ctx, subject: str | None, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    if not subject:
        raise KopruError("subject.query_invalid")
    async with ctx.transaction() as tx:
        return await consent_history(tx, subject, limit, cursor)
