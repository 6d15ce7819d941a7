"""Running workflows, durably: each step once, resumable.

**A run is made once.** The `workflows` function consumes the trigger types. In the
event's inbox transaction (`ev.once()`) it writes one `workflow_runs` row per enabled
workflow of the tenant whose trigger matches (type, filter, condition), unique per
(workflow, event source, event id), holding a snapshot of the workflow's steps and of the
event (the catalog's data: ids and codes). A redelivered event finds its inbox row and
makes nothing; it resumes that event's unfinished runs instead.

**Each step once.** Steps run in order after the commit. A step's side effect goes through
its action's own once-only mechanism under the Idempotency-Key `wf-<run id>-<step>`
(request_sms and request_refund keep the first answer for 24 hours and replay it; a webhook
delivery is unique per (endpoint, "<run id>:<step>")). After each step the run's row records
the step reached (`step` = steps done), guarded by the step it expected, so:

- a crash *between* two steps resumes at the next step;
- a crash *inside* a step, after its side effect but before the row moved, runs that step
  again with the same key: the action answers what it did the first time, and nothing is
  sent twice;
- two resumers at once (a redelivery and the schedule) are serialised by the key's slot.

**Failures.** A KopruError with a 5xx code (Netgsm, iyzico or the database unreachable) is
transient: the run stays `running` at its step with the code and one more attempt, the
event is answered 503 (redelivered with backoff), and the `workflows-resume` schedule takes
up any run left `running` for a minute; after MAX_ATTEMPTS the run fails with the last code.
Any other code (the action's 4xx, `StepFailed`) fails the run at its step with that code.
An unexpected exception leaves the run as it was (a 500: redelivered, then resumed).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from kopru.errors import KopruError
from kopru.logs import get_logger

log = get_logger("kopru.workflows")

ACTOR = "event:workflows"
RESUME_AFTER_S = 60
MAX_ATTEMPTS = 20


def idempotency_key(run_id: uuid.UUID, index: int) -> str:
    return f"wf-{run_id}-{index}"


# a run of one workflow for one event, made once; its id answered when it is new
_INSERT = ("insert into workflow_runs (id, tenant_id, workflow_id, event_source, event_id, event_type, event, "
           "subject_id, steps, steps_count, status, step, attempts, results) values (%(id)s, %(tid)s, "
           "%(workflow_id)s, %(source)s, %(event_id)s, %(type)s, %(event)s, %(subject_id)s, %(steps)s, "
           "%(steps_count)s, 'running', 0, 0, '[]') on conflict do nothing returning id")


async def on_event(ev) -> dict[str, int]:
    """The consumer: the runs of this event, made once; then their steps."""
    from psycopg.types.json import Jsonb

    from kopru.db import tenant_transaction
    from kopru.events.filters import attributes, matches
    from kopru.workflows.expressions import condition_holds, envelope

    e = ev.event
    source, event_id = str(e["source"]), str(e["id"])
    event = envelope(ev.type, source, event_id, e.get("subject"), e.get("time"), ev.data)
    attrs = attributes(ev.type, source, e.get("subject"), event_id, ev.data)
    made: list[uuid.UUID] = []
    duplicate = False
    async with ev.once() as tx:
        if tx is None:
            duplicate = True
        else:
            flows = (await tx.execute(
                "select id, filter, condition, steps from workflows where enabled and trigger_type = %(t)s "
                "order by created_at, id", {"t": ev.type})).all()
            for w in flows:
                if not matches(w.filter, attrs) or not condition_holds(w.condition, event):
                    continue
                rid = (await tx.execute(_INSERT, {
                    "id": uuid.uuid4(), "tid": tx.tenant_id, "workflow_id": w.id, "source": source,
                    "event_id": event_id, "type": ev.type, "event": Jsonb(event), "subject_id": _subject_of(ev.data),
                    "steps": Jsonb(w.steps), "steps_count": len(w.steps)})).scalar()
                if rid is not None:
                    made.append(rid)
    if duplicate:
        async with tenant_transaction(ev.tenant_id, actor=ACTOR) as tx:
            made = list((await tx.execute(
                "select id from workflow_runs where event_source = %(source)s and event_id = %(event_id)s "
                "and status = 'running' order by created_at", {"source": source, "event_id": event_id}))
                .scalars().all())
    counts = await _execute_all(ev.tenant_id, made, actor=ACTOR)
    return {"runs": len(made), "duplicate": int(duplicate), **counts}


def _subject_of(data: Any) -> uuid.UUID | None:
    """The data subject an event names (`data.subject_id`), which puts its runs under the
    personal-data register (export, erasure)."""
    sid = data.get("subject_id") if isinstance(data, dict) else None
    try:
        return uuid.UUID(str(sid)) if sid else None
    except ValueError:
        return None


async def _execute_all(tenant_id: uuid.UUID, runs: list[uuid.UUID], *, actor: str) -> dict[str, int]:
    """Every run, even when one of them must wait: the first transient error is raised
    after all were tried (the event is then redelivered, and resumes what is left)."""
    counts: dict[str, int] = {}
    transient: KopruError | None = None
    for rid in runs:
        try:
            state = await execute(tenant_id, rid, actor=actor)
        except KopruError as err:
            transient = transient or err
            state = "waiting"
        counts[state] = counts.get(state, 0) + 1
    if transient is not None:
        raise transient
    return counts


async def execute(tenant_id: uuid.UUID, run_id: uuid.UUID, *, actor: str) -> str:
    """Run the steps a run has left, in order, each once. Returns the run's status;
    raises the step's 5xx KopruError when it must wait (the run stays `running`)."""
    from pydantic import ValidationError

    from kopru.auth.principal import TenantContext
    from kopru.work.idempotency import TTL_HOURS
    from kopru.db import tenant_transaction
    from kopru.workflows.actions import ACTIONS, StepFailed
    from kopru.workflows.expressions import resolve

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        # stale: its step has waited longer than the step's Idempotency-Key is kept, less an hour
        run = (await tx.execute(
            f"select *, updated_at < now() - interval '{int(TTL_HOURS) - 1} hours' as stale from workflow_runs "
            "where id = %(id)s", {"id": run_id})).first()
    if run is None or run.status != "running":
        return run.status if run is not None else "gone"
    ctx = TenantContext(tenant_id, f"workflow:{run.workflow_id}", None)
    event = run.event
    if event is None:  # the subject's erasure cleared the event: nothing more is done for it
        await _fail(tenant_id, run_id, run.step, "kvkk.subject_erased", actor=actor)
        return "failed"
    if run.stale:
        # the step's Idempotency-Key (24 hours) may be gone: were its side effect done before a
        # crash, running it now would do it twice. A person checks, then retries the run.
        await _fail(tenant_id, run_id, run.step, "workflow.resume_expired", actor=actor)
        return "failed"
    for index in range(run.step, run.steps_count):
        spec = run.steps[index]
        act = ACTIONS.get(spec["action"])
        try:
            if act is None:
                raise StepFailed("workflow.action_unknown")
            try:
                inp = act.parse(resolve(spec["input"], event))
            except (ValueError, ValidationError):
                raise StepFailed("workflow.mapping_failed") from None
            result = await act.load(act.run)(ctx, inp, key=idempotency_key(run_id, index), event=event,
                                             run_id=run_id, index=index)
        except StepFailed as err:
            await _fail(tenant_id, run_id, index, err.code, actor=actor)
            return "failed"
        except KopruError as err:
            if err.http_status < 500:
                await _fail(tenant_id, run_id, index, err.code, actor=actor)
                return "failed"
            if await _wait(tenant_id, run_id, index, err.code, actor=actor):
                return "failed"
            raise
        if not await record_step(tenant_id, run_id, index, result, actor=actor):
            return "moved"  # another resumer recorded this step first: it carries the run on
    return "succeeded"


async def record_step(tenant_id: uuid.UUID, run_id: uuid.UUID, index: int, result: dict[str, Any], *,
                      actor: str) -> bool:
    """The run reached step `index + 1` (guarded: only from `index`); the last step
    finishes it. False when the row was not at `index`."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        done = (await tx.execute(
            "update workflow_runs set step = step + 1, code = null, updated_at = now(), "
            "results = results || cast(%(r)s as jsonb), "
            "status = case when step + 1 >= steps_count then 'succeeded' else status end, "
            "finished_at = case when step + 1 >= steps_count then now() end "
            "where id = %(id)s and step = %(i)s and status = 'running' returning step",
            {"id": run_id, "i": index, "r": json.dumps([{"step": index, **result}])})).first()
    log.info("workflow.step", extra={"fields": {"run_id": str(run_id), "step": index, "recorded": done is not None}})
    return done is not None


async def _fail(tenant_id: uuid.UUID, run_id: uuid.UUID, index: int, code: str, *, actor: str) -> None:
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        await tx.conn.queue(
            "update workflow_runs set status = 'failed', code = %(c)s, updated_at = now(), finished_at = now() "
            "where id = %(id)s and step = %(i)s and status = 'running'", {"id": run_id, "i": index, "c": code})
    log.warning("workflow.failed", extra={"fields": {"run_id": str(run_id), "step": index, "code": code}})


async def _wait(tenant_id: uuid.UUID, run_id: uuid.UUID, index: int, code: str, *, actor: str) -> bool:
    """A transient error: one more attempt, the code kept; past MAX_ATTEMPTS the run fails.
    True when it failed."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        row = (await tx.execute(
            "update workflow_runs set attempts = attempts + 1, code = %(c)s, updated_at = now(), "
            "status = case when attempts + 1 >= %(max)s then 'failed' else status end, "
            "finished_at = case when attempts + 1 >= %(max)s then now() end "
            "where id = %(id)s and step = %(i)s and status = 'running' returning status",
            {"id": run_id, "i": index, "c": code, "max": MAX_ATTEMPTS})).first()
    log.warning("workflow.waiting", extra={"fields": {"run_id": str(run_id), "step": index, "code": code}})
    return row is not None and row.status == "failed"


async def resume_due(*, older_than: float = RESUME_AFTER_S) -> dict[str, int]:
    """The `workflows-resume` tick: every tenant's runs left `running` for `older_than`
    seconds (a process killed between steps, a step that must wait, a redelivery that never
    came) are taken up at the step they reached."""
    from kopru.db import tenant_transaction
    from kopru.work.sweep import for_each_tenant

    counts: dict[str, int] = {}
    actor = "schedule:workflows-resume"

    async def one_tenant(tid: uuid.UUID) -> None:
        async with tenant_transaction(tid, actor=actor) as tx:
            ids = (await tx.execute(
                "select id from workflow_runs where status = 'running' "
                "and updated_at <= now() - make_interval(secs => %(s)s) order by updated_at limit 200",
                {"s": older_than})).scalars().all()
        for rid in ids:
            try:
                state = await execute(tid, rid, actor=actor)
            except KopruError:
                state = "waiting"
            counts[state] = counts.get(state, 0) + 1

    swept = await for_each_tenant(one_tenant, name="workflows-resume")
    counts["errors"] = swept["errors"]
    return counts
