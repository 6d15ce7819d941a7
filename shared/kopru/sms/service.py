"""Sending SMS through Netgsm: the rules behind the sms-send routes and its consumer.

Exactly one send per message: the message id is the idempotency key, written (with
status `sending`) before the call and the Netgsm jobid after it. A redelivered event
for a message already sent is acknowledged without a call; a retry after a failure
between the call and the write sends again with the same key (the simulator, and any
provider that honours the key, drops the duplicate; Netgsm's REST v2 documents no
such key: see the note in kopru.connectors.netgsm).
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from typing import Any

from kopru.errors import KopruError

REQUESTED, SENT, FAILED = "kopru.sms.requested.v1", "kopru.sms.sent.v1", "kopru.sms.failed.v1"
IYS_FILTER = {"BIREYSEL": "11", "TACIR": "12"}


def _is_mobile(e164: str) -> bool:
    import phonenumbers

    kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


async def _history(tx, sms_id: uuid.UUID, status: str, code: str | None = None) -> None:
    await tx.conn.queue("insert into sms_status_history (tenant_id, sms_id, status, code) "
                        "values (%(t)s, %(s)s, %(st)s, %(c)s)", {"t": tx.tenant_id, "s": sms_id, "st": status, "c": code})


async def request_sms(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Accept an SMS (202): checks, İYS consent, one row per recipient, one event each."""
    from kopru.kvkk import InvalidIdentifier, active_consent, find_or_create_subject, normalise
    from kopru.kvkk.subjects import encrypt_field
    from kopru.sms.encoding import estimate
    from kopru.work import idempotency
    from kopru.work.outward import intend

    text = unicodedata.normalize("NFC", body.message)
    est = estimate(text)
    numbers = [body.to] if isinstance(body.to, str) else list(body.to)
    try:
        phones = [normalise("phone", n) for n in numbers]
    except InvalidIdentifier:
        raise KopruError("sms.invalid_number") from None
    if not all(_is_mobile(p) for p in phones):
        raise KopruError("sms.invalid_number", detail="not a mobile number")
    # what the key stands for: the same key with another request is a conflict, not a replay
    material = [phones, text, body.kind, body.recipient_type, body.scheduled_at.isoformat() if body.scheduled_at else None]
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /sms", idempotency_key, material)
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        if (await tx.execute("select provider from tenant_integrations where provider = 'netgsm'")).first() is None:
            raise KopruError("sms.not_configured")
        if body.kind == "commercial":
            for p in phones:
                if not await active_consent(tx, p, "MESAJ"):
                    raise KopruError("sms.iys_no_consent")
        ids = []
        for p in phones:
            ref = await find_or_create_subject(tx, {"phone": p})
            key = ref.key
            sms_id = uuid.uuid4()
            await tx.conn.queue(
                "insert into sms_messages (id, tenant_id, subject_id, body_enc, kind, recipient_type, encoding, "
                "segments, characters, status, scheduled_at) values (%(id)s, %(t)s, %(s)s, %(body)s, %(kind)s, "
                "%(rt)s, %(enc)s, %(seg)s, %(chars)s, 'queued', %(at)s)",
                {"id": sms_id, "t": tx.tenant_id, "s": ref.id, "body": encrypt_field(key, ref.id, "sms_body", text),
                 "kind": body.kind, "rt": body.recipient_type, "enc": est.encoding, "seg": est.segments,
                 "chars": est.characters, "at": body.scheduled_at})
            await _history(tx, sms_id, "queued")
            await intend(tx, SmsSend.provider, SmsSend.operation, str(sms_id))
            await tx.emit(REQUESTED, {"sms_id": str(sms_id)}, subject=str(sms_id))
            ids.append(sms_id)
        out = {"id": str(ids[0]), "ids": [str(i) for i in ids], "status": "queued", **est.as_dict()}
        await slot.save(202, out)
    return out


async def get_sms(ctx, sms_id: uuid.UUID) -> dict[str, Any]:
    from kopru.connectors.words import describe
    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from sms_messages where id = %(id)s", {"id": sms_id})).first()
        if row is None:
            raise KopruError("sms.not_found")
        hist = (await tx.execute("select status, code, at from sms_status_history where sms_id = %(id)s order by id",
                                 {"id": sms_id})).all()
    return {
        "id": row.id, "kind": row.kind, "status": row.status, "error_code": row.error_code,
        "error": describe(row.error_code),  # the code in Turkish and English
        "encoding": row.encoding, "segments": row.segments, "characters": row.characters,
        "netgsm_jobid": row.netgsm_jobid, "created_at": row.created_at,
        "history": [{"status": r.status, "code": r.code, "at": r.at} for r in hist],
    }


async def check_netgsm(tenant_id: uuid.UUID, body):
    """The Netgsm connection check (kopru.providers): the credentials against Netgsm's
    sender-name list, and the chosen sender name among them."""
    from kopru.connectors import netgsm
    from kopru.work.integrations import Checked

    creds = netgsm.Credentials(body.usercode, body.password)
    try:
        headers = await netgsm.NetgsmClient.shared().msgheaders(creds)
    except netgsm.PermanentError:
        raise KopruError("netgsm.credentials_invalid") from None
    except netgsm.TransientError:
        raise KopruError("netgsm.unavailable") from None
    if body.msgheader not in headers:
        raise KopruError("request.validation_failed", detail="msgheader is not registered on this Netgsm account",
                         errors=[{"field": "msgheader", "type": "value_error", "message": "not registered"}])
    return Checked(show={"msgheaders": headers})


def netgsm_view(tenant_id: uuid.UUID, public: dict[str, Any]) -> dict[str, Any]:
    """What a read of the Netgsm settings adds: the delivery-report push URL to set in Netgsm's panel."""
    return {"report_url": report_push_url(tenant_id)}


async def _credentials(tx):
    from kopru.connectors import netgsm
    from kopru.work.integrations import load

    got = await load(tx, "netgsm")
    if got is None:
        return None, None
    conf, secret = got
    return netgsm.Credentials(conf["usercode"], secret["password"]), conf["msgheader"]


class SmsSend:
    """One SMS at Netgsm as an outward call (kopru.work): claim -> call -> record.

    Netgsm's REST v2 has no idempotency key and no client reference, so after an
    ambiguous attempt (a time-out or 5xx on the send, or the process killed between
    Netgsm's answer and our write) nothing is sent again before Netgsm's report is asked
    by date and number: exactly one message of this length to this number since the SMS
    was accepted, not already another SMS's job, is taken as this one (its jobid
    recorded: `sent`, code `reconciled`); several, and the SMS is parked as `unknown`
    (work.outcome_unknown) for an operator; none, and it is sent only once the attempt is
    older than `netgsm_absent_after_seconds` (Netgsm lists a message in its report as soon
    as it took it; the wait covers its queue), until then it is asked again later."""

    provider, operation = "netgsm", "sms.send"
    unavailable_code = "netgsm.unavailable"
    source = "/kopru/sms-send"
    RECONCILE_SLACK = 120  # seconds before acceptance and after now: clocks and Netgsm's own queue

    def __init__(self, tenant_id: uuid.UUID, sms_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.sms_id, self.ref = tenant_id, sms_id, str(sms_id)
        self.lease_s = settings().outward_lease_seconds
        self.absent_after = settings().netgsm_absent_after_seconds

    async def prepare(self, tx, *, first: bool):
        from kopru.kvkk import decrypt_subject, subject_key
        from kopru.kvkk.subjects import decrypt_field
        from kopru.work import Outcome
        from kopru.work.integrations import load

        row = (await tx.execute("select * from sms_messages where id = %(id)s for update", {"id": self.sms_id})).first()
        if row is None:
            return Outcome.failed("sms.not_found")  # purged or never here: nothing to send, nothing to record
        if row.status not in ("queued", "sending", "unknown"):  # unknown: only an operator reaches it
            return Outcome(row.status if row.status in ("failed", "unknown") else "succeeded", "already_recorded")
        self.row = row
        got = await load(tx, "netgsm")
        key = await subject_key(tx, row.subject_id)
        who = await decrypt_subject(tx, row.subject_id)
        if got is None:
            return Outcome.failed("sms.not_configured")
        if key is None or not who or not who.get("phone"):
            return Outcome.failed("subject.erased")
        from kopru.connectors import netgsm

        conf, secret = got
        self.creds, self.header = netgsm.Credentials(conf["usercode"], secret["password"]), conf["msgheader"]
        self.phone = who["phone"]
        self.text = decrypt_field(key, row.subject_id, "sms_body", row.body_enc)
        self.created_at = row.created_at
        await tx.conn.queue("update sms_messages set status = 'sending', attempts = attempts + 1, updated_at = now() "
                            "where id = %(id)s", {"id": self.sms_id})
        if row.status == "queued":
            await _history(tx, self.sms_id, "sending")
        return None

    async def call(self):
        from kopru.connectors import netgsm
        from kopru.sms.encoding import estimate
        from kopru.work import Outcome, Transient

        row = self.row
        iysfilter = IYS_FILTER.get(row.recipient_type or "", "0") if row.kind == "commercial" else "0"
        try:
            c = netgsm.NetgsmClient.shared()
            if row.kind == "otp":  # Netgsm's OTP service: delivered first, one SMS
                res = await c.send_otp(self.creds, self.header, self.text, self.phone, ref=self.ref)
            else:
                res = await c.send(self.creds, self.header, [(self.text, self.phone)], iysfilter=iysfilter,
                                   ref=self.ref, encoding=estimate(self.text).netgsm_encoding or None,
                                   startdate=row.scheduled_at)
        except netgsm.InvalidRequest:
            return Outcome.failed("sms.invalid_number")
        except netgsm.PermanentError as err:
            return Outcome.failed(f"netgsm.{err.code}")
        except netgsm.TransientError as err:
            raise Transient(f"netgsm.{err.code}", ambiguous=err.ambiguous) from None
        return Outcome.ok(res.jobid, "00")

    async def reconcile(self, *, quiet_for: float):
        from datetime import timedelta

        from kopru.connectors import netgsm
        from kopru.text import now_utc
        from kopru.work import Transient
        from kopru.work.outward import reconciled

        slack = timedelta(seconds=self.RECONCILE_SLACK)
        try:
            entries = await netgsm.NetgsmClient.shared().report_by_date(
                self.creds, self.created_at - slack, now_utc() + slack)
        except (netgsm.TransientError, netgsm.PermanentError) as err:
            raise Transient(f"netgsm.{err.code}", ambiguous=True) from None
        length = len(self.text)
        found = {e.jobid for e in entries if e.number == self.phone and (e.msglen is None or e.msglen == length)}
        outcome = await reconciled(self.tenant_id, found, table="sms_messages", column="netgsm_jobid",
                                   own_id=self.sms_id, actor="event:sms-send")
        if outcome is not None:
            return outcome
        if quiet_for < self.absent_after:
            raise Transient("netgsm.reconcile_pending", ambiguous=True)
        return None  # nothing at Netgsm long after the attempt: it never took it

    async def record(self, tx, outcome) -> None:
        if getattr(self, "row", None) is None:
            return  # no row of ours to move (gone, or ended before)
        from kopru import metrics

        metrics.sms(self.tenant_id, "sent" if outcome.state == "succeeded" else outcome.state)
        if outcome.state == "succeeded":
            await tx.conn.queue("update sms_messages set status = 'sent', netgsm_jobid = %(j)s, updated_at = now() "
                                "where id = %(id)s", {"j": outcome.external_ref, "id": self.sms_id})
            await _history(tx, self.sms_id, "sent", outcome.code)
            await tx.emit(SENT, {"sms_id": self.ref, "jobid": outcome.external_ref, "segments": self.row.segments},
                          subject=self.ref, source=SOURCE)
            return
        status = "unknown" if outcome.state == "unknown" else "failed"
        await tx.conn.queue("update sms_messages set status = %(s)s, error_code = %(c)s, updated_at = now() "
                            "where id = %(id)s", {"s": status, "c": outcome.code, "id": self.sms_id})
        await _history(tx, self.sms_id, status, outcome.code)
        if status == "failed":  # an unknown one has its own event (kopru.work.outcome_unknown.v1)
            await tx.emit(FAILED, {"sms_id": self.ref, "code": outcome.code}, subject=self.ref, source=SOURCE)


SOURCE = "/kopru/sms-send"


async def deliver(ev) -> str:
    """Handle kopru.sms.requested.v1: send once (kopru.work.perform). Returns the final
    state, "done" (a redelivery of an ended one: no call, no history, no event) or "busy"
    (another delivery holds it now); raises KopruError("netgsm.unavailable") (503:
    redelivered with backoff) when Netgsm could not be reached."""
    from kopru.work import perform

    return await perform(ev.tenant_id, SmsSend(ev.tenant_id, uuid.UUID(ev.data["sms_id"])), actor="event:sms-send")


async def recover_stalled() -> dict[str, int]:
    """The sweep: SMS whose send nobody is finishing (a holder killed mid-call, a
    redelivery that never came) are taken over, reconciled with Netgsm first."""
    from kopru.work.sweep import recover

    return await recover("netgsm", lambda tid, _op, ref: SmsSend(tid, uuid.UUID(ref)), actor="schedule:sms-report")


DELIVERED = "kopru.sms.delivered.v1"
POLL_BATCH = 500


async def _apply_report(tx, sms_id: uuid.UUID, jobid: str, entry, counts: dict[str, int]) -> None:
    """Move one sent message to delivered or failed from its report entry (polled or
    pushed): its history, its event. A pending entry changes nothing."""
    if entry is None or not entry.status.final:
        counts["pending"] += 1
        return
    from kopru import metrics

    metrics.sms(tx.tenant_id, "delivered" if entry.status.outcome == "delivered" else "failed")
    if entry.status.outcome == "delivered":
        await tx.execute("update sms_messages set status = 'delivered', updated_at = now() where id = %(id)s",
                         {"id": sms_id})
        await _history(tx, sms_id, "delivered", str(entry.status_code))
        await tx.emit(DELIVERED, {"sms_id": str(sms_id), "jobid": jobid}, subject=str(sms_id),
                      source="/kopru/sms-send")
        counts["delivered"] += 1
    else:
        code = f"netgsm.report.{entry.status_code}"
        await tx.execute("update sms_messages set status = 'failed', error_code = %(code)s, updated_at = now() "
                         "where id = %(id)s", {"id": sms_id, "code": code})
        await _history(tx, sms_id, "failed", code)
        await tx.emit(FAILED, {"sms_id": str(sms_id), "code": code}, subject=str(sms_id), source="/kopru/sms-send")
        counts["failed"] += 1


async def poll_reports() -> dict[str, int]:
    """`kopru sms poll-reports` and the sms-report function's schedule: for every tenant
    with Netgsm, ask for the reports of its sent messages and move them to delivered or
    failed (with Netgsm's status, İYS rejections 16/17 among them). Counts what changed."""
    from kopru.connectors import netgsm
    from kopru.db import tenant_transaction
    from kopru.work.sweep import for_each_tenant

    counts = {"delivered": 0, "failed": 0, "pending": 0}

    async def one_tenant(tenant_id: uuid.UUID) -> None:
        async with tenant_transaction(tenant_id, actor="schedule:sms-report") as tx:
            creds, _ = await _credentials(tx)
            if creds is None:
                return
            rows = (await tx.execute("select id, netgsm_jobid from sms_messages where status = 'sent' "
                                     "and netgsm_jobid is not null limit %(n)s", {"n": POLL_BATCH})).all()
        if not rows:
            return
        try:
            entries = await netgsm.NetgsmClient.shared().report(creds, sorted({r.netgsm_jobid for r in rows}))
        except (netgsm.TransientError, netgsm.PermanentError):
            return  # the next tick asks again
        by_job = {e.jobid: e for e in entries}
        async with tenant_transaction(tenant_id, actor="schedule:sms-report") as tx:
            for r in rows:
                await _apply_report(tx, r.id, r.netgsm_jobid, by_job.get(r.netgsm_jobid), counts)

    await for_each_tenant(one_tenant, name="sms-report")
    return counts


# -- pushed delivery reports ---------------------------------------------------------
#
# Netgsm posts delivery reports to a URL set in its panel. Its documents that we could
# read do not give the push format, so Köprü takes what its report API returns for each
# message (`{"jobid", "number", "status", "operator", "msglen", "deliveredDate",
# "errorCode"}`), as one JSON object, a JSON array of them, or form fields of the same
# names. The URL names the tenant and carries an HMAC of it under the master key (the
# push cannot carry a bearer token): PUT /tenants/{id}/integrations/netgsm answers it.

PUSH_MAX_ENTRIES = 1000


REPORT_PUSH_PURPOSE = "kopru/netgsm-report-push/v1"


def report_signature(tenant_id: uuid.UUID | str) -> str:
    from kopru.auth.crypto import url_mac

    return url_mac(REPORT_PUSH_PURPOSE, str(tenant_id))


def report_push_url(tenant_id: uuid.UUID | str) -> str:
    from kopru.auth.crypto import push_url

    return push_url("kopru/netgsm-report-push/v1", "/function/sms-report/sms/reports", tenant_id)


def _push_entries(raw: bytes, content_type: str) -> list[dict[str, Any]]:
    from urllib.parse import parse_qsl

    if "application/x-www-form-urlencoded" in content_type:
        try:
            return [dict(parse_qsl(raw.decode("utf-8"), strict_parsing=True))]
        except (UnicodeDecodeError, ValueError):
            raise KopruError("request.malformed_json", detail="not form data") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise KopruError("request.malformed_json") from None
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > PUSH_MAX_ENTRIES or not all(isinstance(i, dict) for i in items):
        raise KopruError("request.validation_failed", detail="a report object or a list of at most 1000")
    for i in items:
        if not isinstance(i.get("jobid"), (str, int)) or str(i["jobid"]).strip() == "" \
                or not isinstance(i.get("status"), (str, int)):
            raise KopruError("request.validation_failed", detail="each report needs jobid and status")
    return items


async def accept_pushed_reports(tenant: str | None, sig: str | None, raw: bytes, content_type: str) -> dict[str, int]:
    """POST /sms/reports on sms-report: apply pushed reports to the tenant's sent
    messages with those jobids (another tenant's jobids are invisible, RLS). Unknown
    jobids are counted, not refused: Netgsm should not retry them."""
    from kopru.connectors import netgsm
    from kopru.db import tenant_transaction

    try:
        tenant_id = uuid.UUID(tenant or "")
    except ValueError:
        raise KopruError("sms.report_push_forbidden") from None
    from kopru.auth.crypto import url_mac_valid

    if not url_mac_valid(sig, REPORT_PUSH_PURPOSE, str(tenant_id)):
        raise KopruError("sms.report_push_forbidden")
    entries = [netgsm.parse_report_entry(i) for i in _push_entries(raw, content_type)]
    counts = {"delivered": 0, "failed": 0, "pending": 0, "unknown": 0, "repeated": 0}
    async with tenant_transaction(tenant_id, actor="netgsm:report-push") as tx:
        rows = (await tx.execute("select id, netgsm_jobid, status from sms_messages "
                                 "where netgsm_jobid = any(%(j)s::text[]) for update",
                                 {"j": sorted({e.jobid for e in entries})})).all()
        by_job = {r.netgsm_jobid: r for r in rows}
        done = {r.netgsm_jobid for r in rows if r.status != "sent"}
        for e in entries:
            r = by_job.get(e.jobid)
            if r is None:
                counts["unknown"] += 1
            elif e.jobid in done:
                counts["repeated"] += 1  # already delivered/failed: a repeated push changes nothing
            else:
                await _apply_report(tx, r.id, e.jobid, e, counts)
                if e.status.final:
                    done.add(e.jobid)
    return counts
