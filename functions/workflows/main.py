"""workflows: a tenant's workflows ("when this happens, do that": a catalog event type with
a filter and a condition, then steps from the one actions registry), checked when saved,
listed, enabled/disabled, deleted, tried on a sample event without sending (dry run), and
their runs; and the trigger types, consumed to run them (kopru.workflows). Runs left
unfinished are resumed by `workflows-resume` on its schedule.

    functions-framework --asgi --source functions/workflows/main.py --target handle
"""

from uuid import UUID

from kopru.errors import KopruError
from kopru.runtime import PAGED, Call, EventCall, Function, created

fn = Function("workflows", max_body_bytes=64 * 1024)


def _id(call: Call) -> UUID:
    return call.path_id("workflow.not_found")


@fn.route("POST", "/workflows", returns="kopru.workflows.models:WorkflowOut",
          summary="Save a workflow: a trigger (catalog event type, filter, JMESPath condition) and its steps "
                  "(actions with input mappings), checked against the actions registry, the caller's scopes and a "
                  "sample of the trigger's event (workflows:write and each step's scope). Optional Idempotency-Key",
          body="kopru.workflows.models:WorkflowIn", responses=(201, 400, 401, 403, 409, 413, 415, 422, 429),
          scope="workflows:write", tenant="token",
          links={"read": ("GET /workflows/{id}", {"id": "$response.body#/id"}),
                 "change": ("PATCH /workflows/{id}", {"id": "$response.body#/id"}),
                 "dry_run": ("POST /workflows/{id}/dry-run", {"id": "$response.body#/id"}),
                 "runs": ("GET /workflows/{id}/runs", {"id": "$response.body#/id"}),
                 "delete": ("DELETE /workflows/{id}", {"id": "$response.body#/id"})})
async def create(call: Call):
    from kopru.workflows.models import WorkflowIn
    from kopru.workflows.service import create

    body = await call.json(WorkflowIn)
    out = await create(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 201, f"/workflows/{out['id']}")


@fn.route("GET", "/workflows", returns="kopru.workflows.models:WorkflowsPage", summary="The tenant's workflows, a page at a time (workflows:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="workflows:read", tenant="token", query=PAGED,
          links={"read": ("GET /workflows/{id}", {"id": "$response.body#/workflows/0/id"})})
async def listing(call: Call):
    from kopru import pages
    from kopru.workflows.service import listing

    return await listing(call.tenant, pages.limit(call.query), call.query.get("cursor"))


@fn.route("GET", "/workflows/actions", returns="kopru.workflows.models:ActionsOut",
          summary="The actions registry (each action's input schema, scope and consent rules) and the event types "
                  "a workflow may trigger on (workflows:read)",
          responses=(200, 401, 403, 429), scope="workflows:read", tenant="token")
async def actions(call: Call):
    from kopru.workflows.service import catalog

    return catalog()


@fn.route("GET", "/workflows/{id}", returns="kopru.workflows.models:WorkflowOut", summary="A workflow (workflows:read)",
          responses=(200, 401, 403, 404, 429), scope="workflows:read", tenant="token")
async def read(call: Call):
    from kopru.workflows.service import read

    return await read(call.tenant, _id(call))


@fn.route("PATCH", "/workflows/{id}", returns="kopru.workflows.models:WorkflowOut",
          summary="Rename a workflow or enable/disable it: enabled false makes no new runs (workflows:write)",
          body="kopru.workflows.models:WorkflowPatch", responses=(200, 400, 401, 403, 404, 413, 415, 422, 429),
          scope="workflows:write", tenant="token")
async def change(call: Call):
    from kopru.workflows.models import WorkflowPatch
    from kopru.workflows.service import change

    body = await call.json(WorkflowPatch)
    return await change(call.tenant, _id(call), body)


@fn.route("DELETE", "/workflows/{id}", summary="Delete a workflow and its runs' history (workflows:write)",
          responses=(204, 401, 403, 404, 429), scope="workflows:write", tenant="token")
async def remove(call: Call):
    from starlette.responses import Response

    from kopru.workflows.service import delete

    await delete(call.tenant, _id(call))
    return Response(status_code=204)


@fn.route("POST", "/workflows/{id}/dry-run", returns="kopru.workflows.models:DryRunOut",
          summary="Try a workflow on an event's data (or a sample from its schema): whether it matches, each "
                  "step's resolved input and what would be sent. Nothing is sent (workflows:write)",
          body="kopru.workflows.models:DryRunIn", responses=(200, 400, 401, 403, 404, 413, 415, 422, 429),
          scope="workflows:write", tenant="token")
async def dry_run(call: Call):
    from kopru.workflows.models import DryRunIn
    from kopru.workflows.service import dry_run

    body = await call.json(DryRunIn)
    return await dry_run(call.tenant, _id(call), body)


@fn.route("GET", "/workflows/{id}/runs", returns="kopru.workflows.models:RunsPage",
          summary="A workflow's runs, newest first: the step each reached, its status and code (workflows:read)",
          responses=(200, 400, 401, 403, 404, 422, 429), scope="workflows:read", tenant="token", query=PAGED)
async def runs(call: Call):
    from kopru import pages
    from kopru.workflows.service import runs

    return await runs(call.tenant, _id(call), pages.limit(call.query), call.query.get("cursor"))


@fn.route("POST", "/workflows/{id}/runs/{run_id}/retry", returns="kopru.workflows.models:RunOut",
          summary="Take a failed run up again at the step it stopped at, once its cause is fixed; the step keeps "
                  "its Idempotency-Key, so one that did happen is not sent twice (workflows:write)",
          responses=(200, 401, 403, 404, 409, 429), scope="workflows:write", tenant="token")
async def retry(call: Call):
    from kopru.workflows.service import retry

    try:
        run_id = UUID(call.path_params["run_id"])
    except ValueError:
        raise KopruError("workflow.run_not_found") from None
    return await retry(call.tenant, _id(call), run_id)


@fn.on_event("kopru.consent.recorded.v1")
@fn.on_event("kopru.consent.withdrawn.v1")
@fn.on_event("kopru.call.missed.v1")
@fn.on_event("kopru.einvoice.accepted.v1")
@fn.on_event("kopru.einvoice.rejected.v1")
@fn.on_event("kopru.payment.cancelled.v1")
@fn.on_event("kopru.payment.failed.v1")
@fn.on_event("kopru.payment.refunded.v1")
@fn.on_event("kopru.payment.succeeded.v1")
@fn.on_event("kopru.vehicle.geofence.v1")  # names the driver (subject_id) when one is linked: _personal_triggers
@fn.on_event("kopru.whatsapp.received.v1")
async def trigger(ev: EventCall):
    from kopru.workflows.engine import on_event

    await on_event(ev)


async def handle(request):
    return await fn(request)
