"""Claim -> call -> record: every side effect Köprü asks of an outside service, once.

One row in `outward_calls` per side effect, keyed by (tenant, provider, operation, our
reference: the message id, the ETTN). Whoever asks for the effect (a consumer of a
redelivered event, a second consumer delivered the same event at the same moment, the
sweep recovering a stalled one) goes through `perform`, which:

1. **claims** it in a transaction: the row is locked; an effect that already ended
   (`succeeded`, `failed`, `unknown`) is a no-op (no call, no history, no event); one
   held by a live lease is a no-op too (its holder will record it, or its lease runs out
   and the sweep takes it over); otherwise this caller takes a lease (`in_flight`, a
   token, `lease_until` on the database's clock) and the effect's `prepare` loads what
   the call needs, or ends it there (not configured, subject erased).
2. **calls** the provider outside any transaction.
3. **records** the outcome (state + the effect's own status, history and event) in one
   transaction, guarded by the lease token.

Failures take one path. A permanent error is an outcome (`failed` with its code). A
transient error that proves nothing was taken (connection refused, 429, a documented
"limit" code) releases the claim (`pending`) and raises the provider's 503 code so the
event is redelivered with backoff. An error after which the provider may have taken the
request (a time-out after sending, a 5xx, the process killed between the answer and the
write, which leaves an `in_flight` row whose lease runs out) makes the effect
**ambiguous**: before anything is sent again, `reconcile` asks the provider by our
reference or by what it lists (Netgsm's report by date and number, Nilvera's status by
ETTN). What it finds is recorded as the outcome. Only when the provider proves the
request was never taken (Nilvera: an unknown ETTN; Netgsm: no such message in its report
long after the attempt) is it sent; when it cannot tell (several candidates) the effect
is parked as `unknown` with `work.outcome_unknown` and its own event
(kopru.work.outcome_unknown.v1) for an operator. Never a blind re-send to a provider
without an idempotency key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from kopru.errors import KopruError
from kopru.logs import get_logger

log = get_logger("kopru.work")

SUCCEEDED, FAILED, UNKNOWN = "succeeded", "failed", "unknown"
FINAL = frozenset({SUCCEEDED, FAILED, UNKNOWN})
UNKNOWN_CODE = "work.outcome_unknown"
DEFAULT_LEASE_S = 60.0  # longer than any provider call's time-out (Netgsm/Nilvera: 10-30 s)


@dataclass(frozen=True)
class Outcome:
    """What a side effect came to. `external_ref` is the provider's id for it (a Netgsm
    jobid); `detail` carries what the effect's `record` needs (never personal data into
    the database from here: the effect decides what it writes)."""

    state: str
    code: str | None = None
    external_ref: str | None = None
    detail: Any = None

    @classmethod
    def ok(cls, external_ref: str | None = None, code: str | None = None, detail: Any = None) -> "Outcome":
        return cls(SUCCEEDED, code, external_ref, detail)

    @classmethod
    def failed(cls, code: str, detail: Any = None) -> "Outcome":
        return cls(FAILED, code, None, detail)

    @classmethod
    def unknown(cls, code: str = UNKNOWN_CODE) -> "Outcome":
        return cls(UNKNOWN, code)


async def reconciled(tenant_id: uuid.UUID, found: set[str], *, table: str, column: str, own_id: uuid.UUID,
                     actor: str) -> Outcome | None:
    """What a search of the provider's records found for an attempt whose answer was lost
    (`found`: the provider's ids that match it). One that no other row of ours (`table`,
    its provider-id `column`) already claims proves the call: ok, "reconciled". Several
    prove nothing: unknown (never sent again). None: nothing found; the effect says what
    its absence means (not taken yet, or never taken)."""
    if found:
        from kopru.db import tenant_transaction

        async with tenant_transaction(tenant_id, actor=actor) as tx:
            taken = set((await tx.execute(f"select {column} from {table} where {column} = any(%(found)s) "
                                          "and id != %(own)s", {"found": sorted(found), "own": own_id})).scalars().all())
        found = found - taken
    if len(found) == 1:
        return Outcome.ok(next(iter(found)), "reconciled")
    return Outcome.unknown() if found else None


class Transient(Exception):
    """The provider could not be reached or asked us to come back. `ambiguous`: it may
    have taken the request all the same (time-out after sending, 5xx on a send)."""

    def __init__(self, code: str, *, ambiguous: bool):
        super().__init__(code)
        self.code, self.ambiguous = code, ambiguous


class Effect(Protocol):
    """One side effect at one provider. A fresh object per attempt: `prepare` may keep
    what it loaded (credentials, the decrypted text) on it for `call` and `reconcile`."""

    provider: str
    operation: str
    ref: str
    unavailable_code: str  # the 503 code raised when a transient failure leaves it to a retry
    lease_s: float

    async def prepare(self, tx, *, first: bool) -> Outcome | None:
        """Inside the claim transaction: load what the call needs and mark the domain row
        (e.g. `sending`, once: `first`); or end the effect with an outcome."""

    async def call(self) -> Outcome:
        """The provider call. Returns succeeded/failed; raises Transient."""

    async def reconcile(self, *, quiet_for: float) -> Outcome | None:
        """After an ambiguous attempt (the first of them began `quiet_for` seconds ago):
        what the provider says happened (an Outcome: succeeded with its id, failed, or
        unknown when it cannot tell), or None when it proves the request was never taken
        (then it is sent). Raises Transient when it cannot tell yet (asked again later)."""

    async def record(self, tx, outcome: Outcome) -> None:
        """The domain row's status, its history and its event, in the record transaction."""


_STATEMENTS: dict[str, str] = {}


def _sql(name: str) -> str:
    """The claim's statements, plain SQL (psycopg placeholders)."""
    st = _STATEMENTS.get(name)
    if st is None:
        _STATEMENTS.update({
            "insert": (
                "insert into outward_calls (id, tenant_id, provider, operation, ref, state) "
                "values (%(id)s, %(tid)s, %(provider)s, %(operation)s, %(ref)s, 'pending') on conflict do nothing"),
            "lock": (
                "select id, state, ambiguous, attempts, lease_until, lease_until > now() as leased, "
                "extract(epoch from now() - coalesce(ambiguous_since, updated_at)) as quiet_for "
                "from outward_calls where provider = %(provider)s and operation = %(operation)s and ref = %(ref)s "
                "for update"),
            # an in_flight row whose lease ran out became ambiguous when its holder took it
            "take": (
                "update outward_calls set state = 'in_flight', ambiguous = %(ambiguous)s, attempts = attempts + 1, "
                "ambiguous_since = case when %(ambiguous)s then coalesce(ambiguous_since, updated_at) end, "
                "lease_token = %(tok)s, lease_until = now() + make_interval(secs => %(lease)s), updated_at = now() "
                "where id = %(id)s"),
            "release": (
                "update outward_calls set state = 'pending', ambiguous = ambiguous or %(ambiguous)s, code = %(code)s, "
                "ambiguous_since = case when ambiguous or %(ambiguous)s then coalesce(ambiguous_since, now()) end, "
                "lease_token = null, lease_until = null, updated_at = now() where id = %(id)s and lease_token = %(tok)s"),
            "finish": (
                "update outward_calls set state = %(state)s, code = %(code)s, external_ref = %(xref)s, ambiguous = false, "
                "ambiguous_since = null, "
                "lease_token = null, lease_until = null, updated_at = now() "
                "where id = %(id)s and (lease_token = %(tok)s or state not in ('succeeded', 'failed', 'unknown')) "
                "returning id"),
            "settle": (
                "update outward_calls set state = %(state)s, code = %(code)s, external_ref = %(xref)s, ambiguous = false, "
                "ambiguous_since = null, lease_token = null, lease_until = null, updated_at = now() "
                "where id = %(id)s and state = 'unknown' returning id"),
            "prove": (
                "update outward_calls set state = 'succeeded', code = %(code)s, external_ref = %(xref)s, ambiguous = false, "
                "ambiguous_since = null, lease_token = null, lease_until = null, updated_at = now() "
                "where provider = %(provider)s and operation = %(operation)s and ref = %(ref)s and state = 'unknown' "
                "returning id"),
        })
        st = _STATEMENTS[name]
    return st


async def intend(tx, provider: str, operation: str, ref: str) -> None:
    """Record, in the transaction that asks for an effect, that it is owed (`pending`): if
    its event is lost or dead-lettered before any attempt, the sweep still finds it."""
    await tx.conn.queue(_sql("insert"), {"id": uuid.uuid4(), "tid": tx.tenant_id, "provider": provider,
                                         "operation": operation, "ref": ref})


async def perform(tenant_id: uuid.UUID, effect: Effect, *, actor: str) -> str:
    """Bring one side effect to its end, at most one provider call per attempt and never
    a second after a success. Returns the final state, or "done" (it had ended before),
    or "busy" (another holder's live lease). Raises KopruError(effect.unavailable_code)
    (503) when it is left for a retry."""
    from kopru.db import tenant_transaction

    keys = {"provider": effect.provider, "operation": effect.operation, "ref": effect.ref}
    tok = uuid.uuid4()
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        await tx.conn.queue(_sql("insert"), {"id": uuid.uuid4(), "tid": tenant_id, **keys})
        row = (await tx.execute(_sql("lock"), keys)).one()
        if row.state in FINAL:
            return "done"
        if row.state == "in_flight" and row.leased:
            return "busy"
        # a lease that ran out: its holder died somewhere between taking it and recording
        ambiguous = bool(row.ambiguous) or row.state == "in_flight"
        early = await effect.prepare(tx, first=row.attempts == 0)
        if early is not None:
            await _finish(tx, row.id, tok, effect, early)
            return early.state
        await tx.execute(_sql("take"), {"id": row.id, "tok": tok, "ambiguous": ambiguous,
                                        "lease": float(effect.lease_s)})
    call_id = row.id
    fields = {"provider": effect.provider, "operation": effect.operation, "call_id": str(call_id),
              "attempt": row.attempts + 1}
    try:
        outcome = None
        if ambiguous:
            outcome = await effect.reconcile(quiet_for=float(row.quiet_for or 0))
            log.warning("work.reconciled", extra={"fields": {**fields, "found": outcome.state if outcome else "absent"}})
        if outcome is None:
            outcome = await effect.call()
    except Transient as t:
        async with tenant_transaction(tenant_id, actor=actor) as tx:
            await tx.execute(_sql("release"), {"id": call_id, "tok": tok, "ambiguous": t.ambiguous, "code": t.code})
        log.warning("work.transient", extra={"fields": {**fields, "code": t.code, "ambiguous": t.ambiguous}})
        raise KopruError(effect.unavailable_code) from None
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        recorded = await _finish(tx, call_id, tok, effect, outcome)
    log.info("work.recorded", extra={"fields": {**fields, "state": outcome.state, "code": outcome.code,
                                                "recorded": recorded}})
    return outcome.state


async def _finish(tx, call_id: uuid.UUID, tok: uuid.UUID, effect: Effect, outcome: Outcome, *,
                  operator: bool = False) -> bool:
    """Record the outcome once: not when another holder already ended it (an operator's
    verdict replaces `unknown`, which nothing else may)."""
    done = (await tx.execute(_sql("settle" if operator else "finish"), {
        "id": call_id, "tok": tok, "state": outcome.state, "code": outcome.code,
        "xref": outcome.external_ref})).first()
    if done is None:
        return False
    await effect.record(tx, outcome)
    if outcome.state == UNKNOWN:
        await tx.emit("kopru.work.outcome_unknown.v1", {"provider": effect.provider, "operation": effect.operation,
                                                       "ref": effect.ref, "code": outcome.code or UNKNOWN_CODE},
                      subject=effect.ref, source=getattr(effect, "source", None))
    return True


async def proven(tx, provider: str, operation: str, ref: str, external_ref: str | None, code: str) -> bool:
    """The provider's own word (e.g. a status webhook naming our id) that a parked (`unknown`)
    effect happened: it ends `succeeded`, in the caller's transaction (the one that records
    what the proof says). False when the effect is not parked."""
    return (await tx.execute(_sql("prove"), {"provider": provider, "operation": operation, "ref": ref,
                                             "xref": external_ref, "code": code})).first() is not None


# -- an operator's verdict on a parked effect ----------------------------------------------------

async def parked(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """The tenant's effects parked `unknown` (ids and codes only)."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor="operator:work") as tx:
        rows = (await tx.execute(
            "select provider, operation, ref, code, attempts, updated_at from outward_calls "
            "where state = 'unknown' order by updated_at")).mappings().all()
    return [{"tenant_id": str(tenant_id), **{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                             for k, v in r.items()}} for r in rows]


async def settle(tenant_id: uuid.UUID, effect: Effect, outcome: Outcome, *, actor: str) -> bool:
    """Record what an operator learnt of a parked effect (from the provider's support or
    panel): `succeeded` with the provider's id, or `failed` with a code. Audited. False
    when the effect is not parked (nothing changed)."""
    from kopru.db import tenant_transaction

    keys = {"provider": effect.provider, "operation": effect.operation, "ref": effect.ref}
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        row = (await tx.execute(_sql("lock"), keys)).first()
        if row is None or row.state != UNKNOWN:
            return False
        if await effect.prepare(tx, first=False) is not None:
            return False  # the effect's own row cannot take it (gone, erased)
        done = await _finish(tx, row.id, uuid.uuid4(), effect, outcome, operator=True)
        await tx.audit("work.settled", target=f"{effect.provider}:{effect.operation}:{effect.ref}",
                       details={"state": outcome.state, "code": outcome.code})
        return done


async def reopen(tenant_id: uuid.UUID, provider: str, operation: str, ref: str, *, actor: str) -> bool:
    """An operator's word that a parked effect never reached the provider: it is owed again
    (`pending`, no longer ambiguous), and the next delivery or sweep sends it. Audited."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        done = (await tx.execute(
            "update outward_calls set state = 'pending', ambiguous = false, ambiguous_since = null, code = null, "
            "updated_at = now() - make_interval(secs => 86400) "  # due for the sweep at once
            "where provider = %(p)s and operation = %(o)s and ref = %(r)s and state = 'unknown' returning id",
            {"p": provider, "o": operation, "r": ref})).first()
        if done is not None:
            await tx.audit("work.reopened", target=f"{provider}:{operation}:{ref}", details={})
        return done is not None
