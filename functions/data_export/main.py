"""data-export: a data subject's access application (KVKK md. 11): everything the
tenant holds about the subject in one JSON document with a Turkish summary, stored
in the export store (S3 or a local folder) behind a link of limited life, within
the 30-day due date.

    functions-framework --asgi --source functions/data_export/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import Call, EventCall, Function, json_response

fn = Function("data-export", max_body_bytes=16 * 1024)


def _id(call: Call) -> UUID:
    return call.path_id("kvkk.request_not_found")


@fn.route("POST", "/exports", returns="kopru.kvkk.models:ApplicationOpened", summary="Open an access application for a subject; the document is built on kopru.export.requested.v1 (kvkk:requests)",
          body="kopru.kvkk.models:ApplicationIn", responses=(202, 401, 403, 404, 409, 413, 415, 422, 429),
          links={"read": ("GET /exports/{id}", {"id": "$response.body#/id"})},
          scope="kvkk:requests", tenant="token")
async def open_export(call: Call):
    from kopru.kvkk.applications import open_application
    from kopru.kvkk.models import ApplicationIn

    body = await call.json(ApplicationIn)
    out = await open_application(call.tenant, "export", body)
    return json_response(out, 202, {"Location": f"/exports/{out['id']}", "Cache-Control": "no-store"})


@fn.route("GET", "/exports/{id}", returns="kopru.kvkk.models:ExportOut", summary="An export's status (pending, ready, expired), due date and, when ready, its link (kvkk:requests)",
          responses=(200, 401, 403, 404, 429), scope="kvkk:requests", tenant="token")
async def read_export(call: Call):
    from kopru.kvkk.applications import read_application

    out = await read_application(call.tenant, "export", _id(call))
    return json_response(out, 200, {"Cache-Control": "no-store"})


@fn.route("GET", "/exports/{id}/download", returns="kopru.kvkk.models:ExportDocument",
          summary="The export document, through the signed link GET /exports/{id} gives (local store; S3 links go to S3)",
          public=True, responses=(200, 403, 404, 410))
async def download(call: Call):
    from kopru.kvkk.store import serve_download

    return await serve_download(_id(call), call.query)


@fn.on_event("kopru.export.requested.v1")
async def requested(ev: EventCall):
    from kopru.kvkk.applications import run_export

    await run_export(ev)


async def handle(request):
    return await fn(request)
