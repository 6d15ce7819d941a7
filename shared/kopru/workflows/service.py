"""A tenant's workflows: save (checked), read, list, enable/disable, delete, dry-run, and
their runs."""

from __future__ import annotations

import uuid
from typing import Any

from kopru.errors import KopruError

OPERATION = "POST /workflows"
_PATCHABLE = frozenset({"name", "enabled"})


def _mapping_error(index: int, field: str | None, detail: str) -> KopruError:
    where = f"steps.{index}.input" + (f".{field}" if field else "")
    return KopruError("workflow.mapping_invalid", detail=detail, errors=[{"field": where}])


def check(body, principal) -> list[dict[str, Any]] | None:
    """What a workflow means, checked before it is stored: the trigger (type, filter,
    condition), then per step: the action exists (422 workflow.action_unknown), the saving
    client holds its scope (403 workflow.scope_missing), every expression compiles and the
    input model accepts what the mapping gives from a sample of the trigger's event (422
    workflow.mapping_invalid). Returns the filter."""
    from pydantic import ValidationError

    from kopru.workflows.actions import ACTIONS
    from kopru.workflows.expressions import FIELD, check_trigger, compile_expression, resolve, sample_event

    filt = check_trigger(body.trigger.type, body.trigger.filter, body.trigger.condition)
    sample = sample_event(body.trigger.type)
    for i, step in enumerate(body.steps):
        act = ACTIONS.get(step.action)
        if act is None:
            raise KopruError("workflow.action_unknown", errors=[{"field": f"steps.{i}.action"}])
        if principal is not None and not principal.holds(act.scope):
            raise KopruError("workflow.scope_missing", detail=f"steps.{i}: {act.name} needs {act.scope}",
                             errors=[{"field": f"steps.{i}.action"}])
        fields = act.input_model().model_fields
        for name, how in step.input.items():
            if not FIELD.match(name) or name not in fields:
                raise _mapping_error(i, name if FIELD.match(name) else None, f"{act.name} has no such input field")
            if isinstance(how, str):
                try:
                    compile_expression(how)
                except ValueError:
                    raise _mapping_error(i, name, "the expression does not compile (JMESPath)") from None
        try:
            values = resolve({k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in step.input.items()},
                             sample)
        except ValueError as err:
            raise _mapping_error(i, str(err), "the expression cannot be evaluated on the trigger's event") from None
        try:
            act.parse(values)
        except ValidationError as err:
            missing = [".".join(str(p) for p in e["loc"]) for e in err.errors(include_input=False)]
            raise KopruError("workflow.mapping_invalid",
                             detail=f"{act.name}: the mapping does not give a valid input from the trigger's event",
                             errors=[{"field": f"steps.{i}.input" + (f".{m}" if m else "")} for m in missing[:20]]) \
                from None
    return filt


def _steps(body) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in body.steps]


def view(row) -> dict[str, Any]:
    return {"id": str(row.id), "name": row.name,
            "trigger": {"type": row.trigger_type, "filter": row.filter, "condition": row.condition},
            "steps": row.steps, "enabled": row.enabled, "created_at": row.created_at, "updated_at": row.updated_at}


async def _row(tx, workflow_id: uuid.UUID, *, lock: bool = False):
    row = (await tx.execute("select * from workflows where id = %(id)s" + (" for update" if lock else ""),
                            {"id": workflow_id})).first()
    if row is None:
        raise KopruError("workflow.not_found")
    return row


async def _in_tenant(tx, body) -> None:
    """The actions' own checks in the tenant (a webhook endpoint that exists)."""
    from kopru.workflows.actions import ACTIONS
    from kopru.workflows.expressions import resolve, sample_event

    sample = sample_event(body.trigger.type)
    for i, step in enumerate(body.steps):
        act = ACTIONS[step.action]
        if act.check is None:
            continue
        inp = act.parse(resolve({k: (v.model_dump() if hasattr(v, "model_dump") else v)
                                 for k, v in step.input.items()}, sample))
        try:
            await act.load(act.check)(tx, inp, trigger_type=body.trigger.type)
        except KopruError as err:
            raise KopruError(err.code, errors=[{"field": f"steps.{i}.input"}]) from None


async def create(ctx, body, idempotency_key: str | None) -> dict[str, Any]:
    """Save a workflow (checked: `check`, the actions' checks in the tenant, the plan's
    `workflows` limit: 409 tenant.plan_limit)."""
    from psycopg.types.json import Jsonb

    from kopru.tenancy.plans import PLANS
    from kopru.work import idempotency

    filt = check(body, ctx.principal)
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, OPERATION, idempotency_key, body.model_dump(mode="json"))
        if slot.replay is not None:
            return {**view(await _row(tx, uuid.UUID(slot.replay[1]["id"]))), "replayed": True}
        plan = (await tx.execute("select plan from tenants where id = %(id)s for update",
                                 {"id": ctx.tenant_id})).scalar()
        if plan is None:
            raise KopruError("tenant.not_found")
        limit = PLANS[plan].workflows
        if (await tx.execute("select count(*) from workflows")).scalar() >= limit:
            raise KopruError("tenant.plan_limit", detail=f"plan {plan} allows {limit} workflows")
        await _in_tenant(tx, body)
        wid = uuid.uuid4()
        # no filter is a JSON null in `filter`, as the SQLAlchemy JSONB column sent it
        await tx.conn.queue(
            "insert into workflows (id, tenant_id, name, trigger_type, filter, condition, steps, enabled, created_by) "
            "values (%(id)s, %(tid)s, %(name)s, %(type)s, %(filter)s, %(condition)s, %(steps)s, %(enabled)s, "
            "%(created_by)s)",
            {"id": wid, "tid": tx.tenant_id, "name": body.name, "type": body.trigger.type,
             "filter": Jsonb(filt or None), "condition": body.trigger.condition, "steps": Jsonb(_steps(body)),
             "enabled": body.enabled, "created_by": ctx.actor})
        await tx.audit("workflow.created", target=str(wid),
                       details={"trigger": body.trigger.type, "actions": [s.action for s in body.steps]})
        await slot.save(201, {"id": str(wid)})
        return view(await _row(tx, wid))


async def read(ctx, workflow_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        return view(await _row(tx, workflow_id))


async def listing(ctx, limit: int, cursor: str | None) -> dict[str, Any]:
    from kopru import pages

    scope = f"workflows:{ctx.tenant_id}"
    q, params = pages.keyset_sql("select * from workflows where true", {}, "created_at", "id", scope, cursor, limit,
                                 key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"workflows": [view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def change(ctx, workflow_id: uuid.UUID, patch) -> dict[str, Any]:
    values = {k: v for k, v in patch.model_dump(exclude_unset=True).items() if v is not None}
    async with ctx.transaction() as tx:
        await _row(tx, workflow_id, lock=True)
        if values:
            if not values.keys() <= _PATCHABLE:  # WorkflowPatch's fields are columns; the SQL names only these
                raise TypeError(f"not a patchable column: {sorted(values.keys() - _PATCHABLE)}")
            sets = ", ".join(f"{k} = %({k})s" for k in values)
            await tx.conn.queue(f"update workflows set {sets}, updated_at = now() where id = %(id)s",
                                {**values, "id": workflow_id})
            await tx.audit("workflow.changed", target=str(workflow_id), details={"fields": sorted(values),
                                                                                  "enabled": values.get("enabled")})
        return view(await _row(tx, workflow_id))


async def delete(ctx, workflow_id: uuid.UUID) -> None:
    """The workflow and its runs' history go (a run under way stops at its step)."""
    async with ctx.transaction() as tx:
        await _row(tx, workflow_id, lock=True)
        await tx.conn.queue("delete from workflow_runs where workflow_id = %(id)s", {"id": workflow_id})
        await tx.conn.queue("delete from workflows where id = %(id)s", {"id": workflow_id})
        await tx.audit("workflow.deleted", target=str(workflow_id), details={})


async def dry_run(ctx, workflow_id: uuid.UUID, body) -> dict[str, Any]:
    """What the workflow would do on an event with `body.data` (or a sample from the
    schema): whether the trigger matches, and each step's resolved input and what would
    be sent. Nothing is sent, queued or written."""
    from pydantic import ValidationError

    from kopru.connectors.words import describe
    from kopru.events.catalog import schema_errors
    from kopru.events.filters import attributes, matches
    from kopru.workflows.actions import ACTIONS, StepFailed
    from kopru.workflows.expressions import condition_holds, resolve, sample_event

    async with ctx.transaction() as tx:
        row = await _row(tx, workflow_id)
        if body.data is not None:
            problems = schema_errors(row.trigger_type, body.data)
            if problems:
                raise KopruError("workflow.sample_invalid", errors=[{"field": f"data: {p}"} for p in problems[:20]])
        event = sample_event(row.trigger_type, body.data)
        if body.subject is not None:
            event["subject"] = body.subject
        attrs = attributes(event["type"], event["source"], event.get("subject"), event["id"], event["data"])
        filtered = matches(row.filter, attrs)
        cond = condition_holds(row.condition, event)
        steps = []
        for i, spec in enumerate(row.steps):
            act = ACTIONS.get(spec["action"])
            out: dict[str, Any] = {"index": i, "action": spec["action"]}
            try:
                if act is None:
                    raise KopruError("workflow.action_unknown")
                values = resolve(spec["input"], event)
                out["input"] = values
                inp = act.parse(values)
                out["would_send"] = await act.load(act.preview)(tx, inp, event=event)
            except ValueError as err:  # ValidationError is a ValueError too
                code = "workflow.mapping_failed"
                out["error"] = {**describe(code), "fields": [".".join(str(p) for p in e["loc"])
                                                             for e in err.errors(include_input=False)]
                                if isinstance(err, ValidationError) else [str(err)]}
            except (KopruError, StepFailed) as err:  # a step's refusal is shown, as a run would keep it
                out["error"] = describe(err.code)
            steps.append(out)
    return {"workflow_id": str(workflow_id), "event": event, "filter_matches": filtered,
            "condition_holds": cond, "would_run": bool(row.enabled and filtered and cond), "steps": steps,
            "sent": False}


def run_view(row) -> dict[str, Any]:
    from kopru.connectors.words import describe

    return {"id": str(row.id), "workflow_id": str(row.workflow_id), "event_type": row.event_type,
            "event_id": row.event_id, "status": row.status, "step": row.step, "steps": row.steps_count,
            "code": row.code, "error": describe(row.code), "attempts": row.attempts, "results": row.results,
            "created_at": row.created_at, "updated_at": row.updated_at, "finished_at": row.finished_at}


async def runs(ctx, workflow_id: uuid.UUID, limit: int, cursor: str | None) -> dict[str, Any]:
    """A workflow's runs, newest first: the step each reached, its status and code."""
    from kopru import pages

    scope = f"workflow_runs:{ctx.tenant_id}:{workflow_id}"
    q, params = pages.keyset_sql("select * from workflow_runs where workflow_id = %(w)s", {"w": workflow_id},
                                 "created_at", "id", scope, cursor, limit, newest_first=True, key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        await _row(tx, workflow_id)
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"runs": [run_view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def retry(ctx, workflow_id: uuid.UUID, run_id: uuid.UUID) -> dict[str, Any]:
    """A failed run taken up again at the step it stopped at, by the tenant who fixed the
    cause (consent given, a setting corrected, or, after `workflow.resume_expired`, checked
    that the step did not happen). The step keeps its Idempotency-Key: within its 24 hours
    a step that did happen answers as it did then; it is not sent twice."""
    from kopru.workflows.engine import execute

    async with ctx.transaction() as tx:
        await _row(tx, workflow_id)
        row = (await tx.execute(
            "update workflow_runs set status = 'running', code = null, attempts = 0, finished_at = null, "
            "updated_at = now() where id = %(id)s and workflow_id = %(w)s and status = 'failed' "
            "and event is not null returning id", {"id": run_id, "w": workflow_id})).first()
        if row is None:
            state = (await tx.execute("select status, event is null as erased from workflow_runs "
                                      "where id = %(id)s and workflow_id = %(w)s",
                                      {"id": run_id, "w": workflow_id})).first()
            if state is None:
                raise KopruError("workflow.run_not_found")
            raise KopruError("kvkk.subject_erased" if state.erased else "workflow.run_not_failed")
        await tx.audit("workflow.run.retried", target=str(run_id), details={"workflow_id": str(workflow_id)})
    try:
        await execute(ctx.tenant_id, run_id, actor=ctx.actor)
    except KopruError:
        pass  # a step that must wait: the run stays running, workflows-resume takes it up
    async with ctx.transaction() as tx:
        return run_view((await tx.execute("select * from workflow_runs where id = %(id)s", {"id": run_id})).first())


def catalog() -> dict[str, Any]:
    """The actions registry and the trigger types, as a tenant sees them."""
    from kopru.workflows.actions import ACTIONS
    from kopru.workflows.expressions import trigger_types

    return {"actions": [a.describe() for a in ACTIONS.values()], "trigger_types": sorted(trigger_types())}
