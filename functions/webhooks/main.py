"""webhooks: a tenant's outbound webhook endpoints (register, list, read, change, disable,
delete, rotate the secret), their delivery log and replays; and every catalog event type a
tenant may subscribe to, delivered to its endpoints signed as the Standard Webhooks
specification says (kopru.webhooks). Retries are sent by `webhooks-retry` on its schedule.

    functions-framework --asgi --source functions/webhooks/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import PAGED, Call, EventCall, Function, created, json_response

fn = Function("webhooks", max_body_bytes=64 * 1024)


def _id(call: Call, code: str = "webhook.endpoint_not_found") -> UUID:
    return call.path_id(code)


@fn.route("POST", "/webhooks/endpoints", returns="kopru.webhooks.models:EndpointCreated",
          summary="Register a webhook endpoint for catalog event types; the answer carries its signing secret "
                  "(whsec_...) once (webhooks:write). Optional Idempotency-Key (a repeat answers secret: null)",
          body="kopru.webhooks.models:EndpointIn", responses=(201, 400, 401, 403, 409, 413, 415, 422, 429),
          scope="webhooks:write", tenant="token",
          links={"read": ("GET /webhooks/endpoints/{id}", {"id": "$response.body#/id"}),
                 "change": ("PATCH /webhooks/endpoints/{id}", {"id": "$response.body#/id"}),
                 "rotate": ("POST /webhooks/endpoints/{id}/rotate", {"id": "$response.body#/id"}),
                 "deliveries": ("GET /webhooks/endpoints/{id}/deliveries", {"id": "$response.body#/id"}),
                 "replay": ("POST /webhooks/endpoints/{id}/replay",
                            {"id": "$response.body#/id", "query.since": "$response.body#/created_at"}),
                 "delete": ("DELETE /webhooks/endpoints/{id}", {"id": "$response.body#/id"})})
async def create(call: Call):
    from kopru.webhooks.endpoints import create
    from kopru.webhooks.models import EndpointIn

    body = await call.json(EndpointIn)
    out = await create(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 201, f"/webhooks/endpoints/{out['id']}")


@fn.route("GET", "/webhooks/endpoints", returns="kopru.webhooks.models:EndpointsPage", summary="The tenant's webhook endpoints, a page at a time (webhooks:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="webhooks:read", tenant="token", query=PAGED,
          links={"read": ("GET /webhooks/endpoints/{id}", {"id": "$response.body#/endpoints/0/id"})})
async def listing(call: Call):
    from kopru import pages
    from kopru.webhooks.endpoints import listing

    return await listing(call.tenant, pages.limit(call.query), call.query.get("cursor"))


@fn.route("GET", "/webhooks/endpoints/{id}", returns="kopru.webhooks.models:EndpointOut", summary="A webhook endpoint, never its secret (webhooks:read)",
          responses=(200, 401, 403, 404, 429), scope="webhooks:read", tenant="token")
async def read(call: Call):
    from kopru.webhooks.endpoints import read

    return await read(call.tenant, _id(call))


@fn.route("PATCH", "/webhooks/endpoints/{id}", returns="kopru.webhooks.models:EndpointOut",
          summary="Change a webhook endpoint; enabled: false disables it, true enables it again (webhooks:write)",
          body="kopru.webhooks.models:EndpointPatch", responses=(200, 400, 401, 403, 404, 413, 415, 422, 429),
          links={"deliveries": ("GET /webhooks/endpoints/{id}/deliveries", {"id": "$response.body#/id"})},
          scope="webhooks:write", tenant="token")
async def change(call: Call):
    from kopru.webhooks.endpoints import change
    from kopru.webhooks.models import EndpointPatch

    body = await call.json(EndpointPatch)
    return await change(call.tenant, _id(call), body)


@fn.route("DELETE", "/webhooks/endpoints/{id}",
          summary="Delete a webhook endpoint; its delivery log stays for its retention (webhooks:write)",
          responses=(204, 401, 403, 404, 429), scope="webhooks:write", tenant="token")
async def remove(call: Call):
    from starlette.responses import Response

    from kopru.webhooks.endpoints import delete

    await delete(call.tenant, _id(call))
    return Response(status_code=204)


@fn.route("POST", "/webhooks/endpoints/{id}/rotate", returns="kopru.webhooks.models:EndpointRotated",
          summary="A new signing secret, answered once; the old one keeps signing beside it for 24 hours "
                  "(webhooks:write)",
          responses=(200, 401, 403, 404, 429), scope="webhooks:write", tenant="token")
async def rotate(call: Call):
    from kopru.webhooks.endpoints import rotate

    return await rotate(call.tenant, _id(call))


@fn.route("GET", "/webhooks/endpoints/{id}/deliveries", returns="kopru.webhooks.models:DeliveriesPage",
          summary="An endpoint's delivery log, newest first: status, attempts, last answer, duration "
                  "(webhooks:read)",
          responses=(200, 400, 401, 403, 404, 422, 429), scope="webhooks:read", tenant="token", query=PAGED,
          links={"replay": ("POST /webhooks/deliveries/{id}/replay", {"id": "$response.body#/deliveries/0/id"})})
async def deliveries(call: Call):
    from kopru import pages
    from kopru.webhooks.delivery import log_of

    return await log_of(call.tenant, _id(call), pages.limit(call.query), call.query.get("cursor"))


@fn.route("POST", "/webhooks/endpoints/{id}/replay", returns="kopru.webhooks.models:ReplayedSince",
          summary="Send again every finished delivery of the endpoint since ?since= (ISO 8601, at most 30 days); "
                  "the retry schedule sends them within a minute (webhooks:write)",
          responses=(202, 401, 403, 404, 409, 422, 429), scope="webhooks:write", tenant="token",
          query=(("since", True, {"type": "string", "format": "date-time"}, "replay deliveries made since"),))
async def replay_since(call: Call):
    from kopru.webhooks.delivery import replay_since

    return json_response(await replay_since(call.tenant, _id(call), call.query.get("since")), 202)


@fn.route("POST", "/webhooks/deliveries/{id}/replay", returns="kopru.webhooks.models:DeliveryOut",
          summary="Send one delivery again now, with its webhook-id (webhooks:write)",
          responses=(202, 401, 403, 404, 409, 429), scope="webhooks:write", tenant="token")
async def replay(call: Call):
    from kopru.webhooks.delivery import replay

    return json_response(await replay(call.tenant, _id(call, "webhook.delivery_not_found")), 202)


@fn.on_event("kopru.call.ended.v1")
@fn.on_event("kopru.call.missed.v1")
@fn.on_event("kopru.call.started.v1")
@fn.on_event("kopru.consent.recorded.v1")
@fn.on_event("kopru.consent.withdrawn.v1")
@fn.on_event("kopru.einvoice.accepted.v1")
@fn.on_event("kopru.einvoice.rejected.v1")
@fn.on_event("kopru.einvoice.submitted.v1")
@fn.on_event("kopru.erasure.completed.v1")
@fn.on_event("kopru.export.ready.v1")
@fn.on_event("kopru.payment.cancelled.v1")
@fn.on_event("kopru.payment.failed.v1")
@fn.on_event("kopru.payment.initialized.v1")
@fn.on_event("kopru.payment.refunded.v1")
@fn.on_event("kopru.payment.succeeded.v1")
@fn.on_event("kopru.retention.purged.v1")
@fn.on_event("kopru.sms.delivered.v1")
@fn.on_event("kopru.sms.failed.v1")
@fn.on_event("kopru.sms.sent.v1")
@fn.on_event("kopru.webhook.endpoint_disabled.v1")
@fn.on_event("kopru.whatsapp.delivered.v1")
@fn.on_event("kopru.whatsapp.failed.v1")
@fn.on_event("kopru.whatsapp.read.v1")
@fn.on_event("kopru.whatsapp.received.v1")
@fn.on_event("kopru.whatsapp.sent.v1")
@fn.on_event("kopru.work.outcome_unknown.v1")
async def deliver(ev: EventCall):
    from kopru.webhooks.delivery import fan_out

    await fan_out(ev)


async def handle(request):
    return await fn(request)
