"""calls: the tenant's calls through Bulutfon. Takes Bulutfon's call webhooks (call_init,
call_hangup, missing_call; the tenant named by a url_mac'd URL and checked with the HTTP
Basic credentials set in Bulutfon's panel) and turns them into kopru.call.started/ended/
missed.v1; places click-to-calls (call-and-bridge, once, through kopru.work); reads call
records; and on its schedule (catalog `schedules`: a Knative PingSource, the OpenFaaS
cron-connector, `kopru dev`'s ticker) syncs every tenant's CDRs and finishes stalled
click-to-calls. It consumes no Kafka event, so one function carries routes and schedule.

    functions-framework --asgi --source functions/calls/main.py --target handle
"""

from kopru.errors import KopruError
from kopru.runtime import PAGED, Call, EventCall, Function, created, json_response

fn = Function("calls", max_body_bytes=64 * 1024)


@fn.route("POST", "/calls/webhooks/bulutfon",
          summary="Bulutfon's call webhooks (JSON or form, HTTP Basic as set in Bulutfon's panel); the URL with "
                  "?tenant=&sig= is given by PUT /tenants/{id}/integrations/bulutfon",
          public=True, responses=(200, 400, 401, 403, 413, 422), returns="kopru.calls.models:WebhookAccepted")
async def webhook(call: Call):
    from kopru.calls.service import accept_webhook

    async def payload():
        """The body, read and parsed once, called only after the sender is verified: a form
        (call.form: the checks every body passes, a repeated key refused) or JSON
        (parse_model: the same checks, then the model)."""
        from pydantic import ValidationError

        from kopru.calls.models import BulutfonWebhook
        from kopru.runtime.function import parse_model

        ctype = call.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            form = await call.form()
            try:
                return BulutfonWebhook.model_validate(form)
            except ValidationError:
                raise KopruError("calls.webhook_invalid") from None
        raw = await call.body()
        try:
            return parse_model(BulutfonWebhook, raw, call.lang)
        except KopruError as err:
            if err.code != "request.validation_failed":
                raise
            raise KopruError("calls.webhook_invalid") from None  # not the shape Bulutfon documents

    out = await accept_webhook(call.query.get("tenant"), call.query.get("sig"), call.headers.get("authorization"),
                               payload)
    return json_response(out, 200)


@fn.route("POST", "/calls/bridges",
          summary="Click-to-call: Bulutfon calls the number and bridges it to a menu, group or extension (202; "
                  "placed once). Optional Idempotency-Key (calls:write)",
          body="kopru.calls.models:BridgeIn", responses=(202, 401, 403, 409, 413, 415, 422, 429),
          links={"read": ("GET /calls/bridges/{id}", {"id": "$response.body#/id"})},
          returns="kopru.calls.models:BridgeOut", scope="calls:write", tenant="token")
async def bridge(call: Call):
    from kopru.calls.models import BridgeIn
    from kopru.calls.service import request_bridge

    body = await call.json(BridgeIn)
    out = await request_bridge(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 202, f"/calls/bridges/{out['id']}")


@fn.route("GET", "/calls/bridges/{id}", returns="kopru.calls.models:BridgeOut",
          summary="A click-to-call request's status (calls:read)",
          responses=(200, 401, 403, 404, 429), scope="calls:read", tenant="token")
async def read_bridge(call: Call):
    from kopru.calls.service import get_bridge

    bid = call.path_id("calls.bridge_not_found")
    return await get_bridge(call.tenant, bid)


@fn.route("GET", "/calls", returns="kopru.calls.models:CallsPage",
          summary="The tenant's call records, newest first, each as GET /calls/{id} shows it (numbers and recording "
                  "link cleared once the caller is erased); ?direction=IN|OUT|LOCAL; a page at a time (calls:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="calls:read", tenant="token",
          links={"read": ("GET /calls/{id}", {"id": "$response.body#/calls/0/id"})},
          query=(("direction", False, {"type": "string", "enum": ["IN", "OUT", "LOCAL"]},
                  "only the calls of this direction"), *PAGED))
async def listing(call: Call):
    from kopru import pages
    from kopru.calls.service import direction_filter, listing

    direction = direction_filter(call.query.get("direction"))
    return await listing(call.tenant, pages.limit(call.query), call.query.get("cursor"), direction)


@fn.route("GET", "/calls/{id}", returns="kopru.calls.models:CallOut",
          summary="A call record: direction, times, numbers and recording link (cleared once the caller is erased), "
                  "call flow (calls:read)",
          responses=(200, 401, 403, 404, 429), scope="calls:read", tenant="token")
async def read_call(call: Call):
    from kopru.calls.service import get_call

    cid = call.path_id("calls.not_found")
    return await get_call(call.tenant, cid)


@fn.on_event("kopru.call.sync_poll.v1")
async def sync(ev: EventCall):
    from kopru.calls.service import recover_stalled, sync_cdrs

    # first take over click-to-calls nobody is finishing (reconciled with the CDRs), then sync
    recovered = await recover_stalled()
    return json_response({**await sync_cdrs(), "recovered": recovered}, 200)


async def handle(request):
    return await fn(request)
