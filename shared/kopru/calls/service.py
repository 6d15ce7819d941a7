"""Calls through Bulutfon: the call webhooks, the CDR sync, click-to-call, and what the
`calls` function's routes read.

**Records.** One `call_records` row per Bulutfon call uuid, whoever sees the call first:
the webhooks (call_init, call_hangup, missing_call) or the CDR sync (`GET /v2/cdr/list`,
paged, then each new record's detail for its call flow). Both upsert by (tenant, uuid), so
a webhook delivered twice, a sync run twice, or a sync after the webhooks make one row.
The outside party (the caller of an incoming call, the callee of an outgoing one) is a data
subject (kopru.kvkk): both numbers and the recording link are kept under that subject's
key and registered as personal data (kopru.kvkk.register, `call_records`), so an erasure of
the caller clears them and the retention purge deletes the row after 180 days. The call
flow keeps menus, groups and extensions only (a number longer than 6 digits is dropped).

**Webhooks.** Bulutfon posts to the URL the tenant set in its panel (one per number), as
JSON or form fields, with the HTTP Basic credentials the tenant entered there (documented:
WEBHOOKS/README.md). The tenant comes only from what is verified: the URL names it and
carries `url_mac` of it (PUT /tenants/{id}/integrations/bulutfon answers that URL), and
the Basic credentials must equal those in the tenant's sealed settings (constant-time
comparison). Nothing of the body is read before both checks pass: an unverified request
is refused whatever it carries (too large, malformed). The body is then parsed once, by the
runtime's own parsing in the handler; a form with a repeated key is refused (422), no value
of it chosen. A webhook is applied in one transaction: the row, then its announcement once
(`started_announced_at`, ... set only when empty, under the row's lock), then the event
(`tx.emit`: kopru.call.started/ended/missed.v1, which carry ids only, never a number or a
link). Bulutfon's other webhooks (fax, calls reaching an extension/group/menu) are
answered 200 and ignored.

**Sync.** The `calls` function's schedule (catalog `schedules`, kopru.call.sync_poll.v1)
walks the tenants (kopru.work.sweep.for_each_tenant). Per tenant a cursor (`call_sync_cursors`)
keeps the pass's first day and the next page: at most PAGES_PER_RUN pages a run, then
DETAILS_PER_RUN detail reads; a 429 or an outage ends the tenant's run with the cursor
where it was, and the next tick resumes there. A finished pass starts the next one at the
day it began (the days overlap; the upsert makes that harmless). The sync does not
announce calls: a first sync of a week of history must not start a week of workflows.

**Click-to-call.** `call-and-bridge` through kopru.work (CallBridge): claim, call, record.
Bulutfon answers no call id and has no idempotency key, so an ambiguous attempt is
reconciled by looking for the call among the CDRs (an outgoing call to that number since
the attempt, not another request's); when none is there it cannot prove the call was never
placed, so after `bulutfon_absent_after_seconds` the request is parked `unknown` for an
operator (kopru work), never placed twice.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from kopru.errors import KopruError

STARTED, ENDED, MISSED = "kopru.call.started.v1", "kopru.call.ended.v1", "kopru.call.missed.v1"
SOURCE = "/kopru/calls"
KINDS = {"call_init": (STARTED, "started_announced_at"), "call_hangup": (ENDED, "ended_announced_at"),
         "missing_call": (MISSED, "missed_announced_at")}
PAGE_LIMIT = 100
PAGES_PER_RUN = 10  # Bulutfon documents a limit (429) but not its size: a run stays small and resumes
DETAILS_PER_RUN = 20
SYNC_ACTOR = "schedule:calls-sync"
WEBHOOK_ACTOR = "bulutfon:webhook"
FLOW_KEYS = ("callee", "start_time", "answer_time", "hangup_time", "redirection", "redirection_target", "result",
             "destination")


# -- settings ------------------------------------------------------------------------------

WEBHOOK_PURPOSE = "kopru/bulutfon-webhook/v1"


def webhook_signature(tenant_id: uuid.UUID | str) -> str:
    from kopru.auth.crypto import url_mac

    return url_mac(WEBHOOK_PURPOSE, str(tenant_id))


def webhook_url(tenant_id: uuid.UUID | str) -> str:
    from kopru.auth.crypto import push_url

    return push_url("kopru/bulutfon-webhook/v1", "/function/calls/calls/webhooks/bulutfon", tenant_id)


def bulutfon_view(tenant_id: uuid.UUID, public: dict[str, Any]) -> dict[str, Any]:
    """What a read of the Bulutfon settings adds: the webhook URL to enter in Bulutfon's
    panel (with the HTTP Basic credentials saved here)."""
    return {"webhook_url": webhook_url(tenant_id)}


async def check_bulutfon(tenant_id: uuid.UUID, body):
    """The connection check (kopru.providers): the API key lists one CDR."""
    from kopru.connectors import bulutfon
    from kopru.work.integrations import Checked

    try:
        await bulutfon.BulutfonClient.shared().cdrs(body.api_key, page=1, limit=1, order=None)
    except bulutfon.PermanentError:
        raise KopruError("bulutfon.credentials_invalid") from None
    except bulutfon.TransientError:
        raise KopruError("bulutfon.unavailable") from None
    return Checked()


# -- records -------------------------------------------------------------------------------

def _phone(number: str | None) -> str | None:
    """A number Bulutfon gave (digits) as E.164 when it is a phone number; None for an
    extension, a menu or a withheld number."""
    from kopru.kvkk import InvalidIdentifier, normalise

    if not number or len(number) < 10:
        return None
    try:
        return normalise("phone", "+" + number if not number.startswith("0") else number)
    except InvalidIdentifier:
        return None


def _party(direction: str | None, caller: str | None, callee: str | None) -> str | None:
    """The outside party's number: the caller of an incoming call, the callee of an outgoing one."""
    if direction == "IN":
        return caller
    if direction == "OUT":
        return callee
    if direction == "LOCAL":
        return None
    return caller if _phone(caller) else callee


def _field(name: str, row_id: uuid.UUID) -> str:
    return f"calls.{name}:{row_id}"


# what a webhook or the sync sets on a call record (the names _upsert writes into its SQL)
RECORD_VALUES = frozenset(("direction", "call_time", "answer_time", "hangup_time", "missed", "talk_duration",
                           "hangup_cause", "hangup_state"))
_LOCK_RECORD = ("select id, subject_id, recording_url_enc, direction from call_records "
                "where bulutfon_uuid = %(uid)s for update")


async def _upsert(tx, uid: str, *, direction: str | None, caller: str | None, callee: str | None,
                  values: dict[str, Any], recording_url: str | None = None,
                  synced: bool = False) -> tuple[uuid.UUID, uuid.UUID | None, bool]:
    """The call's row, made or completed (values that are None leave what is there; `values`
    names columns of RECORD_VALUES only); `synced`: the CDR sync saw it (`synced_at` now).
    Returns (row id, subject id, made)."""
    from kopru.kvkk import find_or_create_subject, subject_key
    from kopru.kvkk.subjects import encrypt_field

    if not RECORD_VALUES.issuperset(values):
        raise ValueError("not a call record value: " + ", ".join(sorted(set(values) - RECORD_VALUES)))
    now = ("synced_at",) if synced else ()  # columns set to the transaction's now()
    row = (await tx.execute(_LOCK_RECORD, {"uid": uid})).first()
    if row is None:
        phone = _phone(_party(direction, caller, callee))
        ref = await find_or_create_subject(tx, {"phone": phone}) if phone else None
        rid = uuid.uuid4()
        ins: dict[str, Any] = {"id": rid, "tenant_id": tx.tenant_id, "bulutfon_uuid": uid, "direction": direction,
                               "subject_id": ref.id if ref else None,
                               **{k: v for k, v in values.items() if v is not None}}
        if ref is not None:
            for name, val in (("caller", caller), ("callee", callee), ("recording", recording_url)):
                if val:
                    ins[f"{name}_enc" if name != "recording" else "recording_url_enc"] = encrypt_field(
                        ref.key, ref.id, _field(name, rid), val)
        made = (await tx.execute(
            f"insert into call_records ({', '.join([*ins, *now])}) "
            f"values ({', '.join([*(f'%({k})s' for k in ins), *('now()' for _ in now)])}) "
            "on conflict do nothing returning id", ins)).first()
        if made is not None:
            return rid, ins["subject_id"], True
        row = (await tx.execute(_LOCK_RECORD, {"uid": uid})).one()  # a concurrent delivery made it first
    upd = {k: v for k, v in values.items() if v is not None}
    if row.direction is not None:
        upd.pop("direction", None)
    if recording_url and row.recording_url_enc is None and row.subject_id is not None:
        key = await subject_key(tx, row.subject_id)
        if key is not None:  # an erased subject's call gets no new personal data
            upd["recording_url_enc"] = encrypt_field(key, row.subject_id, _field("recording", row.id), recording_url)
    if upd or now:
        sets = [*(f"{k} = %({k})s" for k in upd), *(f"{k} = now()" for k in now), "updated_at = now()"]
        await tx.execute(f"update call_records set {', '.join(sets)} where id = %(row_id)s",
                         {**upd, "row_id": row.id})
    return row.id, row.subject_id, False


def _epoch(ts: int | None) -> datetime | None:
    """Bulutfon's `timestamp`: microseconds since the epoch in its examples; milliseconds
    and seconds are read too."""
    if ts is None or ts <= 0:
        return None
    scale = 1_000_000 if ts > 10**14 else 1000 if ts > 10**11 else 1
    try:
        return datetime.fromtimestamp(ts / scale, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


# -- webhooks ------------------------------------------------------------------------------

def _basic(authorization: str | None) -> tuple[str, str] | None:
    import base64
    import binascii

    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def accept_webhook(tenant: str | None, sig: str | None, authorization: str | None,
                         payload: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """POST /calls/webhooks/bulutfon: verify the sender first (URL MAC, then HTTP Basic
    against the tenant's sealed settings), and only then read the body: `payload()` reads
    and parses it once (the handler's, through the runtime's own parsing) and answers a
    `BulutfonWebhook`. An unverified request is refused whatever its body (too large,
    malformed, repeated keys: never read). Then the call event is applied once."""
    from kopru.db import tenant_transaction
    from kopru.work.integrations import load

    try:
        tenant_id = uuid.UUID(tenant or "")
    except ValueError:
        raise KopruError("calls.webhook_forbidden") from None
    from kopru.auth.crypto import url_mac_valid

    if not url_mac_valid(sig, WEBHOOK_PURPOSE, str(tenant_id)):
        raise KopruError("calls.webhook_forbidden")
    async with tenant_transaction(tenant_id, actor=WEBHOOK_ACTOR) as tx:
        got = await load(tx, "bulutfon")
        if got is None:
            raise KopruError("calls.webhook_forbidden")
        conf, secret = got
        given = _basic(authorization)
        user_ok = hmac.compare_digest((given[0] if given else "").encode(), str(conf.get("webhook_username", "")).encode())
        pass_ok = hmac.compare_digest((given[1] if given else "").encode(), str(secret.get("webhook_password") or "").encode())
        if given is None or not (user_ok and pass_ok):
            raise KopruError("calls.webhook_unauthorized", headers={"WWW-Authenticate": 'Basic realm="kopru-calls"'})
        hook = await payload()  # the sender is verified: now, and only now, the body
        kind = KINDS.get(hook.event_type)
        if kind is None:
            return {"accepted": False, "reason": "not a call event Köprü follows"}
        at = _epoch(hook.timestamp)
        values: dict[str, Any] = {"direction": hook.direction}
        if hook.event_type == "call_init":
            values["call_time"] = at
        elif hook.event_type == "call_hangup":
            values.update(hangup_time=at, talk_duration=hook.talk_duration, hangup_cause=hook.hangup_cause,
                          hangup_state=hook.hangup_detail)
        else:
            values.update(missed=True)
        rid, subject_id, _ = await _upsert(tx, hook.uuid, direction=hook.direction, caller=hook.caller,
                                           callee=hook.callee, values=values)
        type_, flag = kind
        # flag: one of KINDS' columns, never input
        done = (await tx.execute(f"update call_records set {flag} = now() where id = %(id)s and {flag} is null "
                                 "returning id", {"id": rid})).first()
        if done is not None:
            data: dict[str, Any] = {"call_id": str(rid), "bulutfon_uuid": hook.uuid, "direction": hook.direction,
                                    "subject_id": str(subject_id) if subject_id else None,
                                    "at": at.isoformat() if at else None}
            if type_ == ENDED:
                data.update(talk_duration=hook.talk_duration, hangup_cause=hook.hangup_cause)
            await tx.emit(type_, data, subject=str(rid), source=SOURCE)
    return {"accepted": True, "call_id": str(rid), "event": type_, "repeated": done is None}


# -- the CDR sync ----------------------------------------------------------------------------

def _flow(steps: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The call flow without numbers: menus, groups and extensions (at most 6 digits) stay."""
    if steps is None:
        return None

    def clean(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, int) or (isinstance(v, str) and v.isdigit()):
            return v if len(str(v)) <= 6 else None
        return v if isinstance(v, str) and len(v) <= 64 else None

    out = []
    for s in steps[:50]:
        if not isinstance(s, dict):
            continue
        step = {k: clean(s.get(k)) for k in FLOW_KEYS if k in s}
        if isinstance(s.get("origination"), list):
            step["origination"] = [{k: clean(o.get(k)) for k in FLOW_KEYS if k in o}
                                   for o in s["origination"][:50] if isinstance(o, dict)]
        out.append(step)
    return out


def _cdr_values(c) -> dict[str, Any]:
    talk = None
    if c.answer_time and c.hangup_time and c.hangup_time >= c.answer_time:
        talk = int((c.hangup_time - c.answer_time).total_seconds())
    return {"direction": c.direction if c.direction in ("IN", "OUT", "LOCAL") else None, "call_time": c.call_time,
            "answer_time": c.answer_time, "hangup_time": c.hangup_time, "missed": c.missing_call,
            "talk_duration": talk, "hangup_cause": c.hangup_cause, "hangup_state": c.hangup_state}


async def _save_cursor(tx, *, since, next_page: int, pass_started, last_code: str | None) -> None:
    await tx.execute(
        "insert into call_sync_cursors (tenant_id, since, next_page, pass_started, last_code, last_run_at) "
        "values (%(t)s, %(since)s, %(next_page)s, %(pass_started)s, %(last_code)s, now()) "
        "on conflict (tenant_id) do update set since = excluded.since, next_page = excluded.next_page, "
        "pass_started = excluded.pass_started, last_code = excluded.last_code, last_run_at = now()",
        {"t": tx.tenant_id, "since": since, "next_page": next_page, "pass_started": pass_started,
         "last_code": last_code})


async def sync_tenant(tenant_id: uuid.UUID, counts: dict[str, int] | None = None) -> dict[str, int]:
    """One tenant's run: pages from its cursor, then details. Counts what it did."""
    from psycopg.types.json import Jsonb

    from kopru.config import settings
    from kopru.connectors import bulutfon
    from kopru.db import tenant_transaction
    from kopru.text import now_utc, to_business_time
    from kopru.work.integrations import load

    counts = counts if counts is not None else {}
    for k in ("pages", "records", "new", "details", "stopped"):
        counts.setdefault(k, 0)
    async with tenant_transaction(tenant_id, actor=SYNC_ACTOR) as tx:
        got = await load(tx, "bulutfon")
        if got is None:
            return counts
        cur = (await tx.execute("select tenant_id, since, next_page, pass_started, last_run_at, last_code "
                                "from call_sync_cursors")).first()
    api_key = got[1]["api_key"]
    today = to_business_time(now_utc()).date()
    resuming = cur is not None and cur.next_page > 1 and cur.pass_started is not None
    since = cur.since if cur is not None and cur.since is not None else today - timedelta(days=settings().bulutfon_sync_days)
    page = cur.next_page if resuming else 1
    began = cur.pass_started if resuming else today
    client = bulutfon.BulutfonClient.shared()
    stopped: str | None = None
    for _ in range(PAGES_PER_RUN):
        try:
            res = await client.cdrs(api_key, page=page, limit=PAGE_LIMIT, start_date=since, end_date=today)
        except bulutfon.BulutfonError as err:
            stopped = err.code
            break
        async with tenant_transaction(tenant_id, actor=SYNC_ACTOR) as tx:
            for c in res.cdrs:
                _, _, made = await _upsert(tx, c.uuid, direction=_cdr_values(c)["direction"], caller=c.caller,
                                           callee=c.callee, values=_cdr_values(c), recording_url=c.recording_url,
                                           synced=True)
                counts["records"] += 1
                counts["new"] += made
            if res.has_next:
                page += 1
                await _save_cursor(tx, since=since, next_page=page, pass_started=began, last_code=None)
            else:
                await _save_cursor(tx, since=began, next_page=1, pass_started=None, last_code=None)
        counts["pages"] += 1
        if not res.has_next:
            break
    if stopped is None:
        async with tenant_transaction(tenant_id, actor=SYNC_ACTOR) as tx:
            due = (await tx.execute(
                "select id, bulutfon_uuid, call_time from call_records where detail_synced_at is null "
                "and hangup_time is not null and call_time is not null order by hangup_time limit %(n)s",
                {"n": DETAILS_PER_RUN})).all()
        for r in due:
            try:
                d = await client.cdr(api_key, r.bulutfon_uuid, r.call_time)
                flow = _flow(d.call_flow)
            except bulutfon.PermanentError as err:
                if err.code != "not_found":
                    stopped = err.code
                    break
                flow = None  # Bulutfon has no detail for it: do not ask again
            except bulutfon.TransientError as err:
                stopped = err.code
                break
            async with tenant_transaction(tenant_id, actor=SYNC_ACTOR) as tx:
                # Jsonb: a list (or None, kept as JSON null) goes as one jsonb document
                await tx.execute("update call_records set call_flow = %(flow)s, detail_synced_at = now(), "
                                 "updated_at = now() where id = %(id)s", {"flow": Jsonb(flow), "id": r.id})
            counts["details"] += 1
    if stopped is not None:
        counts["stopped"] += 1
        async with tenant_transaction(tenant_id, actor=SYNC_ACTOR) as tx:
            await tx.execute("update call_sync_cursors set last_code = %(code)s, last_run_at = now() "
                             "where tenant_id = %(t)s", {"code": f"bulutfon.{stopped}", "t": tenant_id})
    return counts


async def sync_cdrs() -> dict[str, int]:
    """The schedule: every tenant with Bulutfon settings."""
    from kopru.work.sweep import for_each_tenant

    counts: dict[str, int] = {}

    async def one(tid: uuid.UUID) -> None:
        await sync_tenant(tid, counts)

    sweep = await for_each_tenant(one, name="calls-sync")
    return {**counts, **{f"sweep_{k}": v for k, v in sweep.items()}}


# -- click-to-call ---------------------------------------------------------------------------

class CallBridge:
    """One click-to-call (Bulutfon call-and-bridge) as an outward call (kopru.work).

    Bulutfon answers `{"success": true}` with no call id and takes no idempotency key. After
    an ambiguous attempt (a time-out or 5xx, the process killed before recording), nothing
    is placed again before the CDRs are asked for an outgoing call to this number since the
    request: exactly one, not another request's, is this one (its uuid recorded: `placed`,
    code `reconciled`); several: `unknown` for an operator; none: asked again later (the
    CDR is listed once the call ended), and after `bulutfon_absent_after_seconds` parked
    `unknown` (work.outcome_unknown): no CDR is not proof it was never placed."""

    provider, operation = "bulutfon", "call.bridge"
    unavailable_code = "bulutfon.unavailable"
    source = SOURCE
    SLACK = 120

    def __init__(self, tenant_id: uuid.UUID, bridge_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.bridge_id, self.ref = tenant_id, bridge_id, str(bridge_id)
        self.lease_s = settings().outward_lease_seconds
        self.absent_after = settings().bulutfon_absent_after_seconds

    async def prepare(self, tx, *, first: bool):
        from kopru.kvkk import subject_key
        from kopru.kvkk.subjects import decrypt_field
        from kopru.work import Outcome
        from kopru.work.integrations import load

        row = (await tx.execute(
            "select id, tenant_id, subject_id, callee_enc, line, destination, status, error_code, bulutfon_uuid, "
            "attempts, created_at, updated_at from call_bridges where id = %(id)s for update",
            {"id": self.bridge_id})).first()
        if row is None:
            return Outcome.failed("calls.bridge_not_found")
        if row.status not in ("queued", "placing", "unknown"):
            return Outcome({"placed": "succeeded"}.get(row.status, "failed"), "already_recorded")
        self.row = row
        got = await load(tx, "bulutfon")
        if got is None:
            return Outcome.failed("calls.not_configured")
        key = await subject_key(tx, row.subject_id) if row.subject_id else None
        if key is None or row.callee_enc is None:
            return Outcome.failed("kvkk.subject_erased")
        self.api_key = got[1]["api_key"]
        self.callee = decrypt_field(key, row.subject_id, _field("callee", row.id), row.callee_enc)
        await tx.execute("update call_bridges set status = 'placing', attempts = attempts + 1, updated_at = now() "
                         "where id = %(id)s", {"id": self.bridge_id})
        return None

    async def call(self):
        from kopru.connectors import bulutfon
        from kopru.work import Outcome, Transient

        try:
            await bulutfon.BulutfonClient.shared().call_and_bridge(
                self.api_key, caller=self.row.line, callee=bulutfon.to_bulutfon(self.callee),
                destination=self.row.destination, ref=self.ref)
        except bulutfon.PermanentError as err:
            return Outcome.failed(f"bulutfon.{err.code}")
        except bulutfon.TransientError as err:
            raise Transient(f"bulutfon.{err.code}", ambiguous=err.ambiguous) from None
        return Outcome.ok(None, "accepted")

    async def reconcile(self, *, quiet_for: float):
        from kopru.connectors import bulutfon
        from kopru.text import now_utc, to_business_time
        from kopru.work import Outcome, Transient
        from kopru.work.outward import reconciled

        since = self.row.created_at - timedelta(seconds=self.SLACK)
        number = bulutfon.to_bulutfon(self.callee)
        try:
            page = await bulutfon.BulutfonClient.shared().cdrs(
                self.api_key, page=1, limit=bulutfon.MAX_LIMIT, start_date=to_business_time(since).date(),
                end_date=to_business_time(now_utc()).date(), callee=number, order="call_time,desc")
        except bulutfon.BulutfonError as err:
            raise Transient(f"bulutfon.{err.code}", ambiguous=True) from None
        found = {c.uuid for c in page.cdrs if c.direction == "OUT" and c.callee == number
                 and c.call_time is not None and c.call_time >= since}
        outcome = await reconciled(self.tenant_id, found, table="call_bridges", column="bulutfon_uuid",
                                   own_id=self.bridge_id, actor="event:calls")
        if outcome is not None:
            return outcome
        if quiet_for < self.absent_after:
            raise Transient("bulutfon.reconcile_pending", ambiguous=True)
        return Outcome.unknown()  # no trace is no proof: never placed twice

    async def record(self, tx, outcome) -> None:
        if getattr(self, "row", None) is None:
            return
        status = {"succeeded": "placed", "unknown": "unknown"}.get(outcome.state, "failed")
        await tx.execute("update call_bridges set status = %(status)s, error_code = %(code)s, "
                         "bulutfon_uuid = %(uuid)s, updated_at = now() where id = %(id)s",
                         {"status": status, "code": None if status == "placed" else outcome.code,
                          "uuid": outcome.external_ref, "id": self.bridge_id})


async def request_bridge(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """POST /calls/bridges (and the call.bridge action): the request kept (202), then placed
    at once through kopru.work; when Bulutfon cannot be reached it stays `queued` and the
    sync schedule's sweep places it."""
    from kopru.kvkk import InvalidIdentifier, find_or_create_subject, normalise
    from kopru.kvkk.subjects import encrypt_field
    from kopru.work import idempotency, perform
    from kopru.work.integrations import load
    from kopru.work.outward import intend

    try:
        phone = normalise("phone", body.callee)
    except InvalidIdentifier:
        raise KopruError("calls.invalid_number") from None
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /calls/bridges", idempotency_key, [phone, body.destination])
        replayed = slot.replay is not None
        if replayed:
            bid = uuid.UUID(slot.replay[1]["id"])
        else:
            got = await load(tx, "bulutfon")
            if got is None:
                raise KopruError("calls.not_configured")
            ref = await find_or_create_subject(tx, {"phone": phone})
            bid = uuid.uuid4()
            await tx.execute(
                "insert into call_bridges (id, tenant_id, subject_id, callee_enc, line, destination, status, attempts) "
                "values (%(id)s, %(t)s, %(subject)s, %(callee)s, %(line)s, %(destination)s, 'queued', 0)",
                {"id": bid, "t": tx.tenant_id, "subject": ref.id,
                 "callee": encrypt_field(ref.key, ref.id, _field("callee", bid), phone), "line": got[0]["line"],
                 "destination": body.destination})
            await intend(tx, CallBridge.provider, CallBridge.operation, str(bid))
            await slot.save(202, {"id": str(bid), "status": "queued"})
    try:
        await perform(ctx.tenant_id, CallBridge(ctx.tenant_id, bid), actor=ctx.actor)
    except KopruError as err:
        if err.code != CallBridge.unavailable_code:
            raise
    return {**await get_bridge(ctx, bid), "replayed": replayed}


async def get_bridge(ctx, bridge_id: uuid.UUID) -> dict[str, Any]:
    from kopru.connectors.words import describe

    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from call_bridges where id = %(id)s", {"id": bridge_id})).first()
    if row is None:
        raise KopruError("calls.bridge_not_found")
    return {"id": str(row.id), "status": row.status, "line": row.line, "destination": row.destination,
            "bulutfon_uuid": row.bulutfon_uuid, "error_code": row.error_code, "error": describe(row.error_code),
            "created_at": row.created_at}


DIRECTIONS = ("IN", "OUT", "LOCAL")


def call_view(row, key: bytes | None) -> dict[str, Any]:
    """What GET /calls/{id} and GET /calls show of a call record: the numbers and the
    recording link opened with the outside party's key (`key`), None without it (no party,
    or the party erased: its key destroyed and the columns cleared)."""
    from kopru.kvkk.subjects import decrypt_field

    def opened(name: str, blob) -> str | None:
        return decrypt_field(key, row.subject_id, _field(name, row.id), blob) if key is not None and blob else None

    return {"id": str(row.id), "bulutfon_uuid": row.bulutfon_uuid, "direction": row.direction,
            "subject_id": str(row.subject_id) if row.subject_id else None,
            "caller": opened("caller", row.caller_enc), "callee": opened("callee", row.callee_enc),
            "recording_url": opened("recording", row.recording_url_enc), "call_time": row.call_time,
            "answer_time": row.answer_time, "hangup_time": row.hangup_time, "missed": row.missed,
            "talk_duration": row.talk_duration, "hangup_cause": row.hangup_cause, "hangup_state": row.hangup_state,
            "call_flow": row.call_flow, "synced": row.synced_at is not None}


async def get_call(ctx, call_id: uuid.UUID) -> dict[str, Any]:
    """A call record with its numbers and recording link (None once the party was erased)."""
    from kopru.kvkk import subject_key

    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from call_records where id = %(id)s", {"id": call_id})).first()
        if row is None:
            raise KopruError("calls.not_found")
        key = await subject_key(tx, row.subject_id) if row.subject_id else None
    return call_view(row, key)


def direction_filter(raw: str | None) -> str | None:
    """`?direction=` of GET /calls: one of DIRECTIONS, else 422 (the value is not echoed)."""
    if raw is None or raw in DIRECTIONS:
        return raw
    raise KopruError("request.validation_failed", detail="direction: IN, OUT or LOCAL",
                     errors=[{"field": "direction", "type": "value_error", "message": "IN, OUT or LOCAL"}])


async def listing(ctx, limit: int, cursor: str | None, direction: str | None = None) -> dict[str, Any]:
    """GET /calls: the tenant's call records, newest first (created_at, id), each as
    GET /calls/{id} shows it. The outside parties' keys come with the page (one query):
    a party erased has no key, so its numbers and recording link stay None."""
    from kopru import pages
    from kopru.kvkk.subjects import open_subject_key, tenant_keys

    scope = f"calls:{ctx.tenant_id}:{direction or ''}"  # a cursor of one direction's list is none for another's
    where, params = ("where c.direction = %(direction)s", {"direction": direction}) if direction else ("where true", {})
    q, params = pages.keyset_sql(
        "select c.*, s.wrapped_key as subject_wrapped_key, s.key_epoch as subject_key_epoch from call_records c "
        f"left join data_subjects s on s.id = c.subject_id {where}", params, "c.created_at", "c.id", scope, cursor,
        limit, newest_first=True, key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
        keys: dict[uuid.UUID, bytes] = {}
        tkeys = None
        for r in rows:
            if r.subject_id is not None and r.subject_wrapped_key is not None and r.subject_id not in keys:
                tkeys = tkeys or await tenant_keys(tx)
                keys[r.subject_id] = await open_subject_key(tkeys, r.subject_id, r.subject_wrapped_key,
                                                            r.subject_key_epoch)
    return {"calls": [call_view(r, keys.get(r.subject_id)) for r in rows],
            "next_cursor": pages.encode(scope, *last) if last else None}


async def caller_phone(ctx, call_id: uuid.UUID) -> str:
    """The outside party's number (E.164) of one of the tenant's calls, for a workflow step
    that answers it (sms.send's `to_call_caller`). KopruError when there is none."""
    from kopru.kvkk import decrypt_subject

    async with ctx.transaction() as tx:
        sid = (await tx.execute("select subject_id from call_records where id = %(id)s", {"id": call_id})).first()
        if sid is None:
            raise KopruError("calls.not_found")
        if sid.subject_id is None:
            raise KopruError("calls.caller_unknown")
        who = await decrypt_subject(tx, sid.subject_id)
    if not who or not who.get("phone"):
        raise KopruError("kvkk.subject_erased")
    return who["phone"]


async def recover_stalled() -> dict[str, int]:
    """Click-to-calls nobody is finishing (a holder killed mid-call, Bulutfon down when
    asked) are taken over, reconciled with the CDRs first."""
    from kopru.work.sweep import recover

    return await recover("bulutfon", lambda tid, _op, ref: CallBridge(tid, uuid.UUID(ref)), actor=SYNC_ACTOR)
