"""Delivering catalog events to a tenant's webhook endpoints, at least once.

**Made once.** The `webhooks` function consumes the deliverable types; in the event's
inbox transaction (`ev.once()`) it writes one `webhook_deliveries` row per matching enabled
endpoint (its event types, then its filter), keyed by (endpoint, event source, event id),
with the exact body that will be signed: `{"type", "timestamp", "data"}` as the Standard
Webhooks specification shapes it, `data` being the event's data as the catalog defines it
(ids and codes). A redelivered event finds its inbox row and writes nothing. The row,
`pending` with `next_attempt_at`, is the record that the delivery is owed: the
`webhooks-retry` tick finds it even if the consumer dies before the first attempt.

**Each attempt through kopru.work.** `perform(tenant, WebhookDelivery(tenant, call_ref))`
(provider "webhook", operation "webhook.deliver", ref = the delivery's `call_ref`, which is
its id until a replay gives it a new one) claims it, signs with `standardwebhooks` and
POSTs through `guard.post` (resolved, checked, pinned, no redirects, 15 s). A 2xx records
`succeeded`; a 410 records `failed` and disables the endpoint; anything else is a failed
attempt: `Transient` releases the claim and the row gets its next attempt on the
specification's schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; ±10 %
jitter; a longer `Retry-After` is honoured), until the eighth attempt fails and it is
`failed`. An endpoint with no success for 5 days is disabled and the tenant told
(kopru.webhook.endpoint_disabled.v1).

**At least once, by nature.** A receiver may have acted on a request whose answer was
lost (time-out, a process killed between its answer and our write). Nothing can ask a
receiver what it saw, so an ambiguous attempt is simply sent again (`reconcile` returns
None); every attempt and replay carries the same `webhook-id`, by which the receiver
drops duplicates (the specification's contract). The claim still guarantees that two of
our processes never send the same delivery at the same moment.

A workflow step `webhook.call` reuses `sign`, `headers` and `guard.post`.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import datetime, timezone
from typing import Any

from kopru.errors import KopruError
from kopru.logs import get_logger
from kopru.webhooks.types import FUNCTION

log = get_logger("kopru.webhooks")

PROVIDER, OPERATION = "webhook", "webhook.deliver"
SOURCE = "/kopru/webhooks"
DISABLED = "kopru.webhook.endpoint_disabled.v1"
# seconds before attempt n+1 after attempt n failed (attempt 1 is immediate): Standard Webhooks' schedule
SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.1
FAILING_DAYS = 5
CONCURRENCY = 8
_NS = uuid.UUID("6f1d3a52-6b8e-4f0a-9d57-6b6f7072752f")


def webhook_id(source: str, event_id: str) -> str:
    """The webhook-id of an event: the same for every endpoint, attempt and replay."""
    return "msg_" + uuid.uuid5(_NS, f"{source}\x1f{event_id}").hex


def sign(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated (a rotation's
    old and new secret side by side), made by the standardwebhooks library."""
    from standardwebhooks.webhooks import Webhook

    return " ".join(Webhook(s).sign(msg_id, at.astimezone(timezone.utc), body) for s in secrets)


def headers(msg_id: str, at: datetime, signature: str) -> dict[str, str]:
    return {"content-type": "application/json", "user-agent": "Kopru-Webhooks/1",
            "webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def next_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds until the attempt after failed attempt number `attempt` (1-based)."""
    base = SCHEDULE[min(attempt, len(SCHEDULE)) - 1]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0.0)


# -- made once, by the consumer -------------------------------------------------------------

# a delivery owed now, once per (endpoint, event source, event id); its call_ref answered when it is new
# (the consumer's, and a workflow's webhook.call step)
INSERT_DELIVERY = ("insert into webhook_deliveries (id, tenant_id, endpoint_id, event_source, event_id, event_type, "
           "webhook_id, body, subject_id, personal_data, purpose, host, status, call_ref, attempts, replays, "
           "next_attempt_at) values (%(id)s, %(tid)s, %(endpoint_id)s, %(source)s, %(event_id)s, %(type)s, "
           "%(webhook_id)s, %(body)s, %(subject_id)s, %(personal_data)s, %(purpose)s, %(host)s, 'pending', %(id)s, "
           "0, 0, now()) on conflict do nothing returning call_ref")

_SUBJECT_OF = (("payment_id", "payments"), ("sms_id", "sms_messages"), ("einvoice_id", "einvoices"))


async def _subject_of(tx, data: Any) -> uuid.UUID | None:
    """The data subject an event is about: its `subject_id`, or the subject of the payment,
    SMS or invoice it names."""
    if not isinstance(data, dict):
        return None
    try:
        if data.get("subject_id"):
            return uuid.UUID(str(data["subject_id"]))
        for key, table in _SUBJECT_OF:
            if data.get(key):
                return (await tx.execute(f"select subject_id from {table} where id = %(id)s",
                                         {"id": uuid.UUID(str(data[key]))})).scalar()
    except ValueError:
        return None
    return None


async def fan_out(ev) -> dict[str, int]:
    """The consumer: a delivery row per matching enabled endpoint, once per event; then the
    first attempt of each, at once."""
    from urllib.parse import urlsplit

    from kopru.events.filters import attributes, matches

    event = ev.event
    source, event_id = str(event["source"]), str(event["id"])
    made: list[uuid.UUID] = []
    async with ev.once() as tx:
        if tx is None:
            return {"deliveries": 0, "duplicate": 1}
        eps = (await tx.execute(
            "select id, url, filter, personal_data, purpose from webhook_endpoints "
            "where enabled and %(t)s = any(event_types) order by created_at", {"t": ev.type})).all()
        if not eps:
            return {"deliveries": 0}
        attrs = attributes(ev.type, source, event.get("subject"), event_id, ev.data)
        eps = [e for e in eps if matches(e.filter, attrs)]
        subject = await _subject_of(tx, ev.data) if any(e.personal_data for e in eps) else None
        at = event.get("time") or datetime.now(timezone.utc).isoformat()
        body = json.dumps({"type": ev.type, "timestamp": str(at), "data": ev.data}, ensure_ascii=False,
                          separators=(",", ":"))
        msg_id = webhook_id(source, event_id)
        for e in eps:
            did = uuid.uuid4()
            got = (await tx.execute(INSERT_DELIVERY, {
                "id": did, "tid": tx.tenant_id, "endpoint_id": e.id, "source": source, "event_id": event_id,
                "type": ev.type, "webhook_id": msg_id, "body": body,
                "subject_id": subject if e.personal_data else None, "personal_data": e.personal_data,
                "purpose": e.purpose if e.personal_data else None, "host": urlsplit(e.url).hostname or ""})).scalar()
            if got is not None:
                made.append(got)
    tid = ev.tenant_id
    await _deliver_all(tid, made, actor=f"event:{FUNCTION}")
    return {"deliveries": len(made)}



async def _deliver_all(tenant_id: uuid.UUID, refs: list[uuid.UUID], *, actor: str) -> dict[str, int]:
    sem = asyncio.Semaphore(CONCURRENCY)
    counts: dict[str, int] = {}

    async def one(ref: uuid.UUID) -> None:
        async with sem:
            state = await deliver(tenant_id, ref, actor=actor)
        counts[state] = counts.get(state, 0) + 1

    await asyncio.gather(*(one(r) for r in refs))
    return counts


# -- one attempt ----------------------------------------------------------------------------

class WebhookDelivery:
    """One delivery to one endpoint as an outward call (kopru.work), `ref` its call_ref."""

    provider, operation = PROVIDER, OPERATION
    unavailable_code = "webhook.unavailable"
    source = SOURCE

    def __init__(self, tenant_id: uuid.UUID, ref: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.call_ref, self.ref = tenant_id, ref, str(ref)
        self.timeout = settings().webhook_timeout_seconds
        self.lease_s = self.timeout + 30.0
        self.row = None
        self.attempted = False
        self.result: tuple[int | None, str | None, int | None, float | None] = (None, None, None, None)

    async def prepare(self, tx, *, first: bool):
        from kopru.work import Outcome

        row = (await tx.execute("select * from webhook_deliveries where call_ref = %(ref)s for update",
                                {"ref": self.call_ref})).first()
        if row is None:
            return Outcome.failed("webhook.delivery_not_found")
        if row.status != "pending":
            return Outcome(row.status, "already_recorded")
        self.row = row
        ep = None
        if row.endpoint_id is not None:
            ep = (await tx.execute("select * from webhook_endpoints where id = %(id)s",
                                   {"id": row.endpoint_id})).first()
        if ep is None:
            return Outcome.failed("webhook.endpoint_deleted")
        if not ep.enabled:
            return Outcome.failed("webhook.endpoint_disabled")
        if row.body is None:  # the subject's erasure cleared what it would carry: nothing goes out
            return Outcome.failed("kvkk.subject_erased")
        from kopru.webhooks.endpoints import open_secrets

        keys = open_secrets(tx.tenant_id, ep.id, ep.secret_enc)
        now = (await tx.execute("select now()")).scalar_one()
        self.secrets = [keys["current"]]
        if keys.get("previous") and ep.previous_secret_until and ep.previous_secret_until > now:
            self.secrets.append(keys["previous"])
        self.url, self.endpoint_id, self.attempt = ep.url, ep.id, row.attempts + 1
        # in flight: the tick leaves it alone until the lease would have run out
        await tx.conn.queue(
            "update webhook_deliveries set next_attempt_at = now() + make_interval(secs => %(lease)s), "
            "first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now() where id = %(id)s",
            {"id": row.id, "lease": self.lease_s})
        return None

    async def call(self):
        from kopru.webhooks.guard import SendError, post
        from kopru.work import Outcome

        at = datetime.now(timezone.utc)
        body = self.row.body
        hdrs = headers(self.row.webhook_id, at, sign(self.secrets, self.row.webhook_id, at, body))
        self.attempted = True
        try:
            ans = await post(self.url, body.encode(), hdrs, timeout=self.timeout)
        except SendError as err:
            self.result = (None, err.code, err.duration_ms, None)
            return self._failed(err.code, ambiguous=err.sent)
        if 200 <= ans.status < 300:
            self.result = (ans.status, None, ans.duration_ms, None)
            return Outcome.ok(code=str(ans.status))
        code = "webhook.endpoint_gone" if ans.status == 410 else "webhook.http_error"
        self.result = (ans.status, code, ans.duration_ms, ans.retry_after)
        if ans.status == 410:
            return Outcome.failed(code)
        return self._failed(code, ambiguous=True)

    def _failed(self, code: str, *, ambiguous: bool):
        from kopru.work import Outcome, Transient

        if self.attempt >= MAX_ATTEMPTS:
            return Outcome.failed(code)
        raise Transient(code, ambiguous=ambiguous)

    async def reconcile(self, *, quiet_for: float):
        return None  # at least once: the receiver drops a repeat by its webhook-id (see the module's note)

    async def record(self, tx, outcome) -> None:
        if self.row is None or outcome.code == "already_recorded":
            return
        status, code, ms, _ = self.result
        n = 1 if self.attempted else 0
        if outcome.state == "succeeded":
            await tx.conn.queue(
                "update webhook_deliveries set status = 'succeeded', attempts = attempts + %(n)s, "
                "last_status = %(status)s, last_code = null, last_duration_ms = %(ms)s, next_attempt_at = null, "
                "delivered_at = now(), updated_at = now() where id = %(id)s",
                {"id": self.row.id, "n": n, "status": status, "ms": ms})
            await tx.conn.queue("update webhook_endpoints set failing_since = null "
                                "where id = %(id)s and failing_since is not null", {"id": self.endpoint_id})
            return
        await tx.conn.queue(
            "update webhook_deliveries set status = 'failed', attempts = attempts + %(n)s, last_status = %(status)s, "
            "last_code = %(code)s, last_duration_ms = %(ms)s, next_attempt_at = null, updated_at = now() "
            "where id = %(id)s", {"id": self.row.id, "n": n, "status": status, "code": outcome.code, "ms": ms})
        if outcome.code == "webhook.endpoint_gone":
            await disable(tx, self.endpoint_id, "gone", outcome.code)
        elif self.attempted:
            await _failing(tx, self.endpoint_id)


async def disable(tx, endpoint_id: uuid.UUID, reason: str, code: str) -> bool:
    """Disable an endpoint (once) and tell the tenant: kopru.webhook.endpoint_disabled.v1."""
    row = (await tx.execute(
        "update webhook_endpoints set enabled = false, disabled_reason = %(reason)s, updated_at = now() "
        "where id = %(id)s and enabled returning failing_since", {"id": endpoint_id, "reason": reason})).first()
    if row is None:
        return False
    await tx.emit(DISABLED, {"endpoint_id": str(endpoint_id), "reason": reason, "code": code,
                             "failing_since": row.failing_since.isoformat() if row.failing_since else None},
                  subject=str(endpoint_id), source=SOURCE)
    await tx.audit("webhook.endpoint_disabled", target=str(endpoint_id), details={"reason": reason, "code": code})
    log.warning("webhook.endpoint_disabled", extra={"fields": {"endpoint_id": str(endpoint_id), "reason": reason}})
    return True


async def _failing(tx, endpoint_id: uuid.UUID) -> None:
    """A failed attempt: the endpoint's failure clock starts (if it had not); past
    FAILING_DAYS without a success, the endpoint is disabled."""
    row = (await tx.execute(
        "update webhook_endpoints set failing_since = coalesce(failing_since, now()) where id = %(id)s "
        "returning enabled, failing_since < now() - make_interval(days => %(d)s) as overdue",
        {"id": endpoint_id, "d": FAILING_DAYS})).first()
    if row is not None and row.enabled and row.overdue:
        await disable(tx, endpoint_id, "failing", "webhook.endpoint_failing")


async def deliver(tenant_id: uuid.UUID, ref: uuid.UUID, *, actor: str) -> str:
    """One attempt of the delivery whose call_ref is `ref` (if it is due and nobody holds
    it). Returns kopru.work's state, or "retrying" when a failed attempt left it for the
    schedule."""
    from kopru.work import perform

    effect = WebhookDelivery(tenant_id, ref)
    try:
        return await perform(tenant_id, effect, actor=actor)
    except KopruError as err:
        if err.code != effect.unavailable_code:
            raise
    await _retry_later(tenant_id, effect, actor=actor)
    return "retrying"


async def _retry_later(tenant_id: uuid.UUID, effect: WebhookDelivery, *, actor: str) -> None:
    from kopru.db import tenant_transaction

    status, code, ms, retry_after = effect.result
    delay = next_delay(effect.attempt, retry_after)
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        row = (await tx.execute("select id, status, endpoint_id from webhook_deliveries where call_ref = %(ref)s "
                                "for update", {"ref": effect.call_ref})).first()
        if row is None or row.status != "pending":
            return
        await tx.conn.queue(
            "update webhook_deliveries set attempts = attempts + 1, last_status = %(status)s, last_code = %(code)s, "
            "last_duration_ms = %(ms)s, next_attempt_at = now() + make_interval(secs => %(delay)s), "
            "updated_at = now() where id = %(id)s",
            {"id": row.id, "status": status, "code": code, "ms": ms, "delay": delay})
        if row.endpoint_id is not None:
            await _failing(tx, row.endpoint_id)
    log.info("webhook.retry_scheduled", extra={"fields": {"attempt": effect.attempt, "code": code,
                                                          "in_s": round(delay, 1)}})


# -- the schedule ---------------------------------------------------------------------------

async def send_due(*, budget: float | None = None) -> dict[str, int]:
    """The `webhooks-retry` tick: every tenant's due deliveries, attempted; then, within
    `budget` seconds (KOPRU_WEBHOOK_TICK_BUDGET_SECONDS; the cron wakes it each minute),
    it waits for the next one falling due and goes again, so a 5-second retry is not a
    minute late."""
    import time

    from kopru.config import settings
    from kopru.db import tenant_transaction
    from kopru.work.sweep import for_each_tenant

    budget = settings().webhook_tick_budget_seconds if budget is None else budget
    deadline = time.monotonic() + budget
    counts: dict[str, int] = {}
    actor = "schedule:webhooks-retry"
    while True:
        soonest: list[float] = []

        async def one_tenant(tid: uuid.UUID) -> None:
            async with tenant_transaction(tid, actor=actor) as tx:
                refs = (await tx.execute(
                    "select call_ref from webhook_deliveries where status = 'pending' and next_attempt_at <= now() "
                    "order by next_attempt_at limit 500")).scalars().all()
                wait = (await tx.execute(
                    "select extract(epoch from min(next_attempt_at) - now()) from webhook_deliveries "
                    "where status = 'pending' and next_attempt_at > now()")).scalar()
            if wait is not None:
                soonest.append(float(wait))
            for k, v in (await _deliver_all(tid, list(refs), actor=actor)).items():
                counts[k] = counts.get(k, 0) + v

        swept = await for_each_tenant(one_tenant, name="webhooks-retry")
        counts["errors"] = counts.get("errors", 0) + swept["errors"]
        left = deadline - time.monotonic()
        if not soonest or min(soonest) > left:
            return counts
        await asyncio.sleep(max(0.05, min(soonest)))


# -- the log and replays --------------------------------------------------------------------

def delivery_view(row) -> dict[str, Any]:
    from kopru.connectors.words import describe

    return {"id": str(row.id), "endpoint_id": str(row.endpoint_id) if row.endpoint_id else None,
            "event_type": row.event_type, "event_id": row.event_id, "webhook_id": row.webhook_id,
            "status": row.status, "attempts": row.attempts, "replays": row.replays,
            "last_status": row.last_status, "last_code": row.last_code, "last_error": describe(row.last_code),
            "last_duration_ms": row.last_duration_ms, "next_attempt_at": row.next_attempt_at,
            "first_attempt_at": row.first_attempt_at, "last_attempt_at": row.last_attempt_at,
            "delivered_at": row.delivered_at, "created_at": row.created_at, "personal_data": row.personal_data,
            "payload": json.loads(row.body) if row.body is not None else None}


async def log_of(ctx, endpoint_id: uuid.UUID, limit: int, cursor: str | None) -> dict[str, Any]:
    """An endpoint's deliveries, newest first (kopru.pages)."""
    from kopru import pages
    from kopru.webhooks.endpoints import _row

    scope = f"webhook_deliveries:{ctx.tenant_id}:{endpoint_id}"
    q, params = pages.keyset_sql("select * from webhook_deliveries where endpoint_id = %(e)s", {"e": endpoint_id},
                                 "created_at", "id", scope, cursor, limit, newest_first=True, key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        await _row(tx, endpoint_id)
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"deliveries": [delivery_view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def _replayable(tx, endpoint_id: uuid.UUID | None) -> None:
    if endpoint_id is None:
        raise KopruError("webhook.endpoint_deleted")
    enabled = (await tx.execute("select enabled from webhook_endpoints where id = %(id)s",
                                {"id": endpoint_id})).scalar()
    if enabled is None:
        raise KopruError("webhook.endpoint_deleted")
    if not enabled:
        raise KopruError("webhook.endpoint_disabled")


async def replay(ctx, delivery_id: uuid.UUID) -> dict[str, Any]:
    """Send one delivery again, now, with its webhook-id (a finished one becomes a new
    outward call: a new call_ref, attempts from one; a pending one is made due now)."""
    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from webhook_deliveries where id = %(id)s for update",
                                {"id": delivery_id})).first()
        if row is None:
            raise KopruError("webhook.delivery_not_found")
        await _replayable(tx, row.endpoint_id)
        ref = row.call_ref
        if row.status == "pending":
            await tx.conn.queue("update webhook_deliveries set next_attempt_at = now() "
                                "where id = %(id)s and next_attempt_at <= now()", {"id": delivery_id})
        else:
            ref = uuid.uuid4()
            await tx.conn.queue(
                "update webhook_deliveries set status = 'pending', call_ref = %(ref)s, attempts = 0, "
                "replays = replays + 1, last_status = null, last_code = null, next_attempt_at = now(), "
                "updated_at = now() where id = %(id)s", {"id": delivery_id, "ref": ref})
        await tx.audit("webhook.delivery_replayed", target=str(delivery_id), details={})
    await deliver(ctx.tenant_id, ref, actor=ctx.actor)
    async with ctx.transaction() as tx:
        return delivery_view((await tx.execute("select * from webhook_deliveries where id = %(id)s",
                                               {"id": delivery_id})).one())


REPLAY_DAYS = 30
REPLAY_MAX = 10_000


async def replay_since(ctx, endpoint_id: uuid.UUID, since: str | None) -> dict[str, Any]:
    """Every finished delivery of the endpoint made at or after `since` is owed again (new
    call_ref, same webhook-id); the `webhooks-retry` tick sends them within a minute."""
    from datetime import timedelta

    from kopru.text import now_utc
    from kopru.webhooks.endpoints import _row

    try:
        when = datetime.fromisoformat(since or "")
    except ValueError:
        raise KopruError("webhook.since_invalid") from None
    if when.tzinfo is None or when < now_utc() - timedelta(days=REPLAY_DAYS) or when > now_utc():
        raise KopruError("webhook.since_invalid")
    async with ctx.transaction() as tx:
        await _row(tx, endpoint_id)
        await _replayable(tx, endpoint_id)
        n = (await tx.execute(
            "with picked as (select id from webhook_deliveries where endpoint_id = %(e)s and created_at >= %(since)s "
            "and status <> 'pending' order by created_at limit %(max)s) "
            "update webhook_deliveries d set status = 'pending', call_ref = gen_random_uuid(), attempts = 0, "
            "replays = replays + 1, last_status = null, last_code = null, next_attempt_at = now(), "
            "updated_at = now() from picked where d.id = picked.id returning d.id",
            {"e": endpoint_id, "since": when, "max": REPLAY_MAX})).all()
        await tx.audit("webhook.deliveries_replayed", target=str(endpoint_id), details={"count": len(n)})
    return {"endpoint_id": str(endpoint_id), "since": when.isoformat(), "replayed": len(n)}
