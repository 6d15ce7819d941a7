"""WhatsApp Business through Meta's WhatsApp Cloud API: the rules behind the whatsapp
routes and its consumer.

Why the Cloud API: the seed routed WhatsApp through Netgsm's Netasistan; Netgsm publishes
no API for that, so Köprü uses Meta's WhatsApp Cloud API with the tenant's own business
number (settings: phone-number id, access token, app secret, verify token).

Rules, each checked before any call:
- free-form text only inside Meta's customer-service window: 24 hours from the customer's
  last message, as seen in a verified inbound webhook (`whatsapp_windows`, per tenant and
  customer). Outside it, text is refused with 422 `whatsapp.window_closed` and nothing is
  written or sent; an approved template may be sent any time. The window is checked when
  the message is accepted and again just before the call (a queued text whose window
  closed meanwhile fails with the same code, uncalled);
- a commercial message needs the same consent as a commercial SMS: an active İYS MESAJ
  consent in the consent ledger (422 `whatsapp.consent_missing`), checked at both moments.

Exactly once without an idempotency key. The Cloud API takes none, so a send whose answer
was lost cannot be asked about by our reference. What Köprü does instead:
- every send carries `biz_opaque_callback_data` = our message id, and Meta echoes it in
  every status webhook of that message. A verified status naming our id proves the send
  (its wamid is recorded, the message moves on) even when the answer to the send never came;
- only an answer that proves Meta refused the message is retried with the event retry
  policy: a 4xx naming a limit (130429, 131056, 4, 80007), a bare 429, a connection that
  never left (kopru.connectors.whatsapp.codes.maybe_taken);
- an answer that proves nothing (a time-out after sending, a dropped connection, any 5xx,
  with a Graph error or not, Meta's server-side codes 1, 2, 131000, 131016, the process
  killed between Meta's answer and our write) makes the send *ambiguous*: nothing is sent
  again. `WhatsAppSend.reconcile` waits for a status
  webhook naming the message (the message's own row moves when one comes); if none has come
  `whatsapp_unproven_after_seconds` (15 minutes by default) after the attempt, the message
  is parked `unknown` (`whatsapp.send_unproven`, event kopru.work.outcome_unknown.v1) for an
  operator: `kopru work reopen` sends it again, `kopru work settle` records what Meta's
  WhatsApp Manager shows. Never a silent second send, never a silent loss. A status webhook
  that arrives later for a parked message still proves it and settles it.

Statuses (`sent`, `delivered`, `read`, `failed`) are applied once, in order of progress
whatever order they come in: a repeat or a status behind the current one changes nothing
(`read` before `delivered`: `read` stays; `delivered` may never come).
"""

from __future__ import annotations

import uuid
from typing import Any

from kopru.errors import KopruError

REQUESTED, SENT, DELIVERED, READ, FAILED, RECEIVED = (
    "kopru.whatsapp.requested.v1", "kopru.whatsapp.sent.v1", "kopru.whatsapp.delivered.v1", "kopru.whatsapp.read.v1",
    "kopru.whatsapp.failed.v1", "kopru.whatsapp.received.v1")
SOURCE = "/kopru/whatsapp"
WEBHOOK_PURPOSE = "kopru/whatsapp-webhook/v1"
WINDOW_HOURS = 24
PROVEN = "whatsapp.proven_by_status"
UNPROVEN = "whatsapp.send_unproven"
OPEN_STATES = ("queued", "sending", "unknown")  # not yet known to be at Meta
_OPEN_SQL = "(" + ", ".join(f"'{st}'" for st in OPEN_STATES) + ")"  # for `status in ...`
RANK = {"queued": 0, "sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 3}


def _content_field(message_id: uuid.UUID | str) -> str:
    return f"whatsapp_content:{message_id}"


async def _history(tx, message_id: uuid.UUID, status: str, code: str | None = None) -> None:
    await tx.execute("insert into whatsapp_status_history (tenant_id, message_id, status, code) "
                     "values (%(t)s, %(m)s, %(s)s, %(c)s)",
                     {"t": tx.tenant_id, "m": message_id, "s": status, "c": code})


async def window_open(tx, subject_id: uuid.UUID) -> bool:
    """Whether the customer wrote within the last 24 hours (a verified inbound webhook)."""
    return (await tx.execute("select last_inbound_at from whatsapp_windows where subject_id = %(s)s "
                             "and last_inbound_at > now() - make_interval(hours => %(h)s)",
                             {"s": subject_id, "h": WINDOW_HOURS})).first() is not None


def _phone(raw: str) -> str:
    from kopru.kvkk import InvalidIdentifier, normalise

    try:
        return normalise("phone", raw)
    except InvalidIdentifier:
        raise KopruError("whatsapp.invalid_number") from None


# -- accepting a message ----------------------------------------------------------------------

async def request_message(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Accept a WhatsApp message (202): the window and consent rules, one row, one event."""
    import json

    from kopru.kvkk import active_consent, find_or_create_subject
    from kopru.kvkk.subjects import encrypt_field, find_subject
    from kopru.work import idempotency
    from kopru.work.outward import intend

    phone = _phone(body.to)
    content = body.text.model_dump() if body.text is not None else body.template.model_dump()
    kind = "text" if body.text is not None else "template"
    material = [phone, body.category, kind, content]
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /whatsapp/messages", idempotency_key, material)
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        if (await tx.execute("select provider from tenant_integrations where provider = 'whatsapp'")).first() is None:
            raise KopruError("whatsapp.not_configured")
        if body.category == "commercial" and not await active_consent(tx, phone, "MESAJ"):
            raise KopruError("whatsapp.consent_missing")
        if kind == "text":
            known = await find_subject(tx, "phone", phone)
            if known is None or not await window_open(tx, known.id):
                raise KopruError("whatsapp.window_closed")
        ref = await find_or_create_subject(tx, {"phone": phone})
        mid = uuid.uuid4()
        await tx.execute(
            "insert into whatsapp_messages (id, tenant_id, subject_id, kind, category, template_name,"
            " template_language, content_enc, status, attempts) values (%(id)s, %(t)s, %(s)s, %(kind)s, %(cat)s, %(tn)s, %(tl)s,"
            " %(enc)s, 'queued', 0)",
            {"id": mid, "t": tx.tenant_id, "s": ref.id, "kind": kind, "cat": body.category,
             "tn": body.template.name if body.template else None,
             "tl": body.template.language if body.template else None,
             "enc": encrypt_field(ref.key, ref.id, _content_field(mid), json.dumps(content, ensure_ascii=False))})
        await _history(tx, mid, "queued")
        await intend(tx, WhatsAppSend.provider, WhatsAppSend.operation, str(mid))
        await tx.emit(REQUESTED, {"message_id": str(mid)}, subject=str(mid), source=SOURCE)
        out = {"id": str(mid), "status": "queued", "kind": kind, "category": body.category}
        await slot.save(202, out)
    return out


async def get_message(ctx, message_id: uuid.UUID) -> dict[str, Any]:
    from kopru.connectors.words import describe

    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from whatsapp_messages where id = %(id)s", {"id": message_id})).first()
        if row is None:
            raise KopruError("whatsapp.not_found")
        hist = (await tx.execute("select status, code, at from whatsapp_status_history"
                                 " where message_id = %(id)s order by id", {"id": message_id})).all()
    return {"id": row.id, "kind": row.kind, "category": row.category, "template": row.template_name,
            "status": row.status, "error_code": row.error_code, "error": describe(row.error_code),
            "wamid": row.wamid, "created_at": row.created_at,
            "history": [{"status": r.status, "code": r.code, "at": r.at} for r in hist]}


# -- settings ---------------------------------------------------------------------------------

async def check_whatsapp(tenant_id: uuid.UUID, body):
    """The connection check (kopru.providers): the token must see the phone number."""
    from kopru.connectors import whatsapp
    from kopru.work.integrations import Checked

    try:
        info = await whatsapp.WhatsAppClient().phone_number(
            whatsapp.Credentials(body.phone_number_id, body.access_token))
    except whatsapp.PermanentError:
        raise KopruError("whatsapp.credentials_invalid") from None
    except whatsapp.TransientError:
        raise KopruError("whatsapp.unavailable") from None
    return Checked(show={"display_phone_number": info.get("display_phone_number"),
                         "verified_name": info.get("verified_name"), "quality_rating": info.get("quality_rating")})


def webhook_signature(tenant_id: uuid.UUID | str) -> str:
    from kopru.auth.crypto import url_mac

    return url_mac(WEBHOOK_PURPOSE, str(tenant_id))


def webhook_url(tenant_id: uuid.UUID | str) -> str:
    """The callback URL to set in the Meta app's WhatsApp webhook configuration: it names the
    tenant and carries a MAC of it (Meta's requests carry no token of ours)."""
    from kopru.config import settings

    base = settings().public_url.rstrip("/")
    return f"{base}/function/whatsapp/whatsapp/webhooks/{tenant_id}/{webhook_signature(tenant_id)}"


def whatsapp_view(tenant_id: uuid.UUID, public: dict[str, Any]) -> dict[str, Any]:
    return {"webhook_url": webhook_url(tenant_id)}


# -- sending ----------------------------------------------------------------------------------

class WhatsAppSend:
    """One WhatsApp message at Meta as an outward call (kopru.work): claim -> call -> record.
    See the module's docstring for what happens after an ambiguous attempt."""

    provider, operation = "whatsapp", "whatsapp.send"
    unavailable_code = "whatsapp.unavailable"
    source = SOURCE

    def __init__(self, tenant_id: uuid.UUID, message_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.message_id, self.ref = tenant_id, message_id, str(message_id)
        self.lease_s = settings().outward_lease_seconds
        self.unproven_after = settings().whatsapp_unproven_after_seconds
        self.row = None

    async def prepare(self, tx, *, first: bool):
        import json

        from kopru.connectors import whatsapp
        from kopru.kvkk import active_consent, decrypt_subject, subject_key
        from kopru.kvkk.subjects import decrypt_field
        from kopru.work import Outcome
        from kopru.work.integrations import load

        row = (await tx.execute("select * from whatsapp_messages where id = %(id)s for update",
                                {"id": self.message_id})).first()
        if row is None:
            return Outcome.failed("whatsapp.not_found")
        if row.status not in OPEN_STATES:  # sent, proven by a status webhook, or ended
            return Outcome(row.status if row.status == "failed" else "succeeded", "already_recorded")
        self.row = row
        got = await load(tx, "whatsapp")
        if got is None:
            return Outcome.failed("whatsapp.not_configured")
        key = await subject_key(tx, row.subject_id)
        who = await decrypt_subject(tx, row.subject_id) if key is not None else None
        if key is None or not who or not who.get("phone"):
            return Outcome.failed("kvkk.subject_erased")
        conf, secret = got
        self.creds = whatsapp.Credentials(conf["phone_number_id"], secret["access_token"])
        self.phone = who["phone"]
        self.content = json.loads(decrypt_field(key, row.subject_id, _content_field(row.id), row.content_enc))
        # the rules again, for the call (a queued text whose window closed, a consent withdrawn meanwhile)
        self.window_ok = row.kind != "text" or await window_open(tx, row.subject_id)
        self.consent_ok = row.category != "commercial" or await active_consent(tx, self.phone, "MESAJ")
        await tx.execute("update whatsapp_messages set status = 'sending', attempts = attempts + 1, updated_at = now() "
                         "where id = %(id)s", {"id": self.message_id})
        if row.status == "queued":
            await _history(tx, self.message_id, "sending")
        return None

    async def call(self):
        from kopru.connectors import whatsapp
        from kopru.work import Outcome, Transient

        if not self.window_ok:
            return Outcome.failed("whatsapp.window_closed")
        if not self.consent_ok:
            return Outcome.failed("whatsapp.consent_missing")
        c = whatsapp.WhatsAppClient()
        try:
            if self.row.kind == "text":
                res = await c.send_text(self.creds, self.phone, self.content["body"], ref=self.ref,
                                        preview_url=bool(self.content.get("preview_url")))
            else:
                res = await c.send_template(self.creds, self.phone, self.content["name"], self.content["language"],
                                            self.content.get("parameters") or [], ref=self.ref)
        except whatsapp.InvalidRequest:
            return Outcome.failed("whatsapp.invalid_number")
        except whatsapp.PermanentError as err:
            return Outcome.failed(f"whatsapp.{err.code}")
        except whatsapp.TransientError as err:
            raise Transient(f"whatsapp.{err.code}", ambiguous=err.ambiguous) from None
        return Outcome.ok(res.wamid)

    async def reconcile(self, *, quiet_for: float):
        """No lookup by our reference exists at Meta: only a verified status webhook naming
        the message (biz_opaque_callback_data) proves it was sent. Until one comes, wait;
        once `unproven_after` has passed, park it `unknown` for an operator."""
        from kopru.db import tenant_transaction
        from kopru.work import Outcome, Transient

        async with tenant_transaction(self.tenant_id, actor="event:whatsapp") as tx:
            wamid = (await tx.execute("select wamid from whatsapp_messages where id = %(id)s",
                                      {"id": self.message_id})).scalar()
        if wamid:
            return Outcome.ok(wamid, PROVEN)
        if quiet_for < self.unproven_after:
            raise Transient("whatsapp.reconcile_pending", ambiguous=True)
        return Outcome.unknown(UNPROVEN)

    async def record(self, tx, outcome) -> None:
        if self.row is None:
            return
        if outcome.state == "succeeded":
            moved = (await tx.execute(
                "update whatsapp_messages set status = 'sent', wamid = %(w)s, updated_at = now() "
                f"where id = %(id)s and status in {_OPEN_SQL} returning id",
                {"w": outcome.external_ref, "id": self.message_id})).first()
            if moved is not None:
                await _history(tx, self.message_id, "sent", outcome.code)
                await tx.emit(SENT, {"message_id": self.ref, "wamid": outcome.external_ref}, subject=self.ref,
                              source=SOURCE)
            return
        status = "unknown" if outcome.state == "unknown" else "failed"
        moved = (await tx.execute(
            "update whatsapp_messages set status = %(s)s, error_code = %(c)s, updated_at = now() "
            f"where id = %(id)s and status in {_OPEN_SQL} returning id",
            {"s": status, "c": outcome.code, "id": self.message_id})).first()
        if moved is None:
            return
        await _history(tx, self.message_id, status, outcome.code)
        if status == "failed":
            await tx.emit(FAILED, {"message_id": self.ref, "code": outcome.code}, subject=self.ref, source=SOURCE)


async def deliver(ev) -> str:
    """kopru.whatsapp.requested.v1: send once (kopru.work.perform); raises
    KopruError("whatsapp.unavailable") (503: redelivered with backoff) on a transient failure."""
    from kopru.work import perform

    return await perform(ev.tenant_id, WhatsAppSend(ev.tenant_id, uuid.UUID(ev.data["message_id"])),
                         actor="event:whatsapp")


async def recover_stalled() -> dict[str, int]:
    """The sweep (whatsapp-sweep's schedule): sends nobody is finishing are taken over; an
    ambiguous one is reconciled (proven by a status webhook, or parked unknown)."""
    from kopru.work.sweep import recover

    return await recover("whatsapp", lambda tid, _op, ref: WhatsAppSend(tid, uuid.UUID(ref)),
                         actor="schedule:whatsapp-sweep")


# -- Meta's webhook ---------------------------------------------------------------------------

async def _tenant_settings(tenant: str | None, sig: str | None):
    from kopru.auth.crypto import url_mac_valid
    from kopru.db import tenant_transaction
    from kopru.work.integrations import load

    try:
        tid = uuid.UUID(tenant or "")
    except ValueError:
        raise KopruError("whatsapp.webhook_forbidden") from None
    if not url_mac_valid(sig, WEBHOOK_PURPOSE, str(tid)):
        raise KopruError("whatsapp.webhook_forbidden")
    async with tenant_transaction(tid, actor="whatsapp:webhook") as tx:
        got = await load(tx, "whatsapp")
    if got is None:
        raise KopruError("whatsapp.webhook_forbidden")
    return tid, got[0], got[1]


def _printable(s: str) -> bool:
    return all(0x21 <= ord(c) <= 0x7E for c in s)


async def verify_subscription(tenant: str | None, sig: str | None, mode: str | None, token: str | None,
                              challenge: str | None) -> str:
    """Meta's verification request: the challenge back only for `subscribe` with our verify token."""
    import hmac

    _, _, secret = await _tenant_settings(tenant, sig)
    if mode != "subscribe" or not hmac.compare_digest((token or "").encode(), secret["verify_token"].encode()):
        raise KopruError("whatsapp.verify_token_invalid")
    if not challenge or len(challenge) > 256 or not _printable(challenge):
        raise KopruError("request.validation_failed", detail="hub.challenge must be 1-256 printable characters")
    return challenge


async def accept_webhook(tenant: str | None, sig: str | None, raw: bytes, signature: str | None) -> dict[str, int]:
    """Meta's event notification: the tenant from the URL's MAC, the body from the tenant's
    app secret (X-Hub-Signature-256 over the exact bytes), then statuses and inbound
    messages of the tenant's own phone number applied once. What names nothing of ours is
    counted and answered 200 (Meta retries anything else)."""
    from kopru.connectors import whatsapp
    from kopru.db import tenant_transaction

    tid, conf, secret = await _tenant_settings(tenant, sig)
    try:
        whatsapp.verify_signature(secret["app_secret"], raw, signature)
    except whatsapp.BadSignature as bad:
        raise KopruError("whatsapp.signature_missing" if bad.missing else "whatsapp.signature_invalid") from None
    try:
        changes = whatsapp.parse_webhook(raw)
    except whatsapp.BadPayload:
        raise KopruError("request.validation_failed", detail="not a WhatsApp Business Account notification") from None
    counts = {"applied": 0, "repeated": 0, "unknown": 0, "received": 0, "other_number": 0, "invalid": 0}
    async with tenant_transaction(tid, actor="whatsapp:webhook") as tx:
        for ch in changes:
            if ch.phone_number_id != conf["phone_number_id"]:
                counts["other_number"] += len(ch.statuses) + len(ch.messages)
                continue
            for st in ch.statuses:
                await _apply_status(tx, st, counts)
            for m in ch.messages:
                await _apply_inbound(tx, m, counts)
    return counts


def _advances(current: str, new: str) -> bool:
    if current in ("read", "failed"):
        return False
    if new == "failed":
        return RANK[current] <= RANK["sent"]
    return RANK[new] > RANK[current]


async def _apply_status(tx, st, counts: dict[str, int]) -> None:
    from datetime import datetime, timezone

    row = (await tx.execute("select id, status, wamid from whatsapp_messages where wamid = %(w)s for update",
                            {"w": st.wamid})).first()
    if row is None and st.opaque:
        try:
            mid = uuid.UUID(st.opaque)
        except ValueError:
            mid = None
        if mid is not None:  # a send whose answer we never got: our id, echoed by Meta
            row = (await tx.execute("select id, status, wamid from whatsapp_messages where id = %(id)s "
                                    "and wamid is null for update", {"id": mid})).first()
    if row is None:
        counts["unknown"] += 1
        return
    if not _advances(row.status, st.status):
        counts["repeated"] += 1
        return
    mid, ref = row.id, str(row.id)
    if row.status in OPEN_STATES:
        # the status proves Meta took the message: what the lost answer would have said
        await _history(tx, mid, "sent", PROVEN)
        await tx.emit(SENT, {"message_id": ref, "wamid": st.wamid}, subject=ref, source=SOURCE)
        from kopru.work.outward import proven

        await proven(tx, WhatsAppSend.provider, WhatsAppSend.operation, ref, st.wamid, PROVEN)  # parked: settled now
    code = f"whatsapp.{st.error_code or 131000}" if st.status == "failed" else None
    await tx.execute("update whatsapp_messages set status = %(s)s, updated_at = now(), wamid = %(w)s"
                     + (", error_code = %(c)s" if code else "") + " where id = %(id)s",
                     {"s": st.status, "w": st.wamid, "c": code, "id": mid})
    if st.status != "sent":
        await _history(tx, mid, st.status, code)
        at = datetime.fromtimestamp(st.timestamp, timezone.utc).isoformat() if st.timestamp else None
        if st.status == "failed":
            await tx.emit(FAILED, {"message_id": ref, "code": code}, subject=ref, source=SOURCE)
        else:
            await tx.emit(DELIVERED if st.status == "delivered" else READ,
                          {"message_id": ref, "wamid": st.wamid, **({"at": at} if at else {})},
                          subject=ref, source=SOURCE)
    counts["applied"] += 1


async def _apply_inbound(tx, m, counts: dict[str, int]) -> None:
    from datetime import datetime, timezone

    from kopru.kvkk import InvalidIdentifier, find_or_create_subject, normalise

    try:
        phone = normalise("phone", "+" + m.sender.lstrip("+"))
    except InvalidIdentifier:
        counts["invalid"] += 1
        return
    try:
        ref = await find_or_create_subject(tx, {"phone": phone})
    except KopruError:
        counts["invalid"] += 1
        return
    now = datetime.now(timezone.utc)
    sent_at = min(datetime.fromtimestamp(m.timestamp, timezone.utc), now) if m.timestamp else now
    iid = uuid.uuid4()
    fresh = (await tx.execute(
        "insert into whatsapp_inbound (id, tenant_id, subject_id, wamid, type, sent_at) "
        "values (%(id)s, %(t)s, %(s)s, %(w)s, %(type)s, %(at)s) on conflict (tenant_id, wamid) do nothing returning id",
        {"id": iid, "t": tx.tenant_id, "s": ref.id, "w": m.wamid, "type": m.type, "at": sent_at})).first()
    if fresh is None:
        counts["repeated"] += 1
        return
    await tx.execute(
        "insert into whatsapp_windows (tenant_id, subject_id, last_inbound_at) values (%(t)s, %(s)s, %(at)s) "
        "on conflict (tenant_id, subject_id) do update "
        "set last_inbound_at = greatest(whatsapp_windows.last_inbound_at, excluded.last_inbound_at)",
        {"t": tx.tenant_id, "s": ref.id, "at": sent_at})
    await tx.emit(RECEIVED, {"message_id": str(iid), "subject_id": str(ref.id), "type": m.type,
                             "sent_at": sent_at.isoformat()}, subject=str(iid), source=SOURCE)
    counts["received"] += 1
