"""data-erasure: a data subject's erasure application (KVKK md. 7, 11): every
registered field cleared or shredded, what a legal hold keeps kept (and until when),
the subject key destroyed so every copy of its ciphertext is unreadable, and a report.

    functions-framework --asgi --source functions/data_erasure/main.py --target handle
"""

from kopru.runtime import Call, EventCall, Function, json_response

fn = Function("data-erasure", max_body_bytes=16 * 1024)


@fn.route("POST", "/erasures", returns="kopru.kvkk.models:ApplicationOpened", summary="Open an erasure application for a subject; carried out on kopru.erasure.requested.v1 (kvkk:requests)",
          body="kopru.kvkk.models:ApplicationIn", responses=(202, 401, 403, 404, 409, 413, 415, 422, 429),
          links={"read": ("GET /erasures/{id}", {"id": "$response.body#/id"})},
          scope="kvkk:requests", tenant="token")
async def open_erasure(call: Call):
    from kopru.kvkk.applications import open_application
    from kopru.kvkk.models import ApplicationIn

    body = await call.json(ApplicationIn)
    out = await open_application(call.tenant, "erasure", body)
    return json_response(out, 202, {"Location": f"/erasures/{out['id']}", "Cache-Control": "no-store"})


@fn.route("GET", "/erasures/{id}", returns="kopru.kvkk.models:ErasureOut", summary="An erasure's status (pending, completed), due date and report (kvkk:requests)",
          responses=(200, 401, 403, 404, 429), scope="kvkk:requests", tenant="token")
async def read_erasure(call: Call):
    from kopru.kvkk.applications import read_application

    request_id = call.path_id("kvkk.request_not_found")
    out = await read_application(call.tenant, "erasure", request_id)
    return json_response(out, 200, {"Cache-Control": "no-store"})


@fn.on_event("kopru.erasure.requested.v1")
async def requested(ev: EventCall):
    from kopru.kvkk.applications import run_erasure

    await run_erasure(ev)


async def handle(request):
    return await fn(request)
