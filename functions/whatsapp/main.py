"""whatsapp: WhatsApp Business through Meta's WhatsApp Cloud API: send text (inside the
customer's 24-hour window) and approved templates, once per message, with the consent
rule of commercial messages; Meta's webhook (verification GET, signed POST: statuses
applied once, inbound messages opening the window). The seed's route through Netgsm's
Netasistan has no public API; the Cloud API is the path.

    functions-framework --asgi --source functions/whatsapp/main.py --target handle
"""

from kopru.runtime import Call, EventCall, Function, created, json_response

fn = Function("whatsapp", max_body_bytes=256 * 1024)


@fn.route("POST", "/whatsapp/messages",
          summary="Accept a WhatsApp message (202): free-form text only within 24 hours of the customer's last "
                  "message (else 422 whatsapp.window_closed, nothing sent), an approved template any time; a "
                  "commercial one needs the İYS MESAJ consent (whatsapp:send). Optional Idempotency-Key",
          body="kopru.whatsapp.models:WhatsAppIn", responses=(202, 401, 403, 409, 413, 415, 422, 429),
          links={"read": ("GET /whatsapp/messages/{id}", {"id": "$response.body#/id"})},
          returns="kopru.whatsapp.models:WhatsAppAccepted", scope="whatsapp:send", tenant="token")
async def send(call: Call):
    from kopru.whatsapp.models import WhatsAppIn
    from kopru.whatsapp.service import request_message

    body = await call.json(WhatsAppIn)
    out = await request_message(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 202, f"/whatsapp/messages/{out['id']}")


@fn.route("GET", "/whatsapp/messages/{id}", returns="kopru.whatsapp.models:WhatsAppOut",
          summary="A WhatsApp message's status and its history (whatsapp:read)",
          responses=(200, 401, 403, 404, 429), scope="whatsapp:read", tenant="token")
async def read(call: Call):
    from kopru.whatsapp.service import get_message

    mid = call.path_id("whatsapp.not_found")
    return await get_message(call.tenant, mid)


@fn.route("GET", "/whatsapp/webhooks/{tenant}/{sig}",
          summary="Meta's webhook verification request: hub.challenge back (text/plain) only for hub.mode=subscribe "
                  "with the tenant's verify token; the URL is given by GET /tenants/{id}/integrations/whatsapp",
          public=True, content="text/plain", responses=(200, 403, 422),
          query=(("hub.mode", True, {"type": "string"}, "subscribe"),
                 ("hub.verify_token", True, {"type": "string"}, "the tenant's verify token"),
                 ("hub.challenge", True, {"type": "string"}, "answered back")))
async def verify(call: Call):
    from starlette.responses import PlainTextResponse

    from kopru.whatsapp.service import verify_subscription

    challenge = await verify_subscription(call.path_params["tenant"], call.path_params["sig"],
                                          call.query.get("hub.mode"), call.query.get("hub.verify_token"),
                                          call.query.get("hub.challenge"))
    return PlainTextResponse(challenge, 200)


@fn.route("POST", "/whatsapp/webhooks/{tenant}/{sig}",
          summary="Meta's event notification (X-Hub-Signature-256 over the raw body with the tenant's app secret): "
                  "statuses applied once, inbound messages as kopru.whatsapp.received.v1 opening the 24-hour window; "
                  "what names nothing of ours is answered 200 unapplied",
          public=True, responses=(200, 401, 403, 413, 422), returns="kopru.whatsapp.models:WebhookCounts")
async def notified(call: Call):
    from kopru.whatsapp.service import accept_webhook

    out = await accept_webhook(call.path_params["tenant"], call.path_params["sig"], await call.body(),
                               call.headers.get("x-hub-signature-256"))
    return json_response(out, 200)


@fn.on_event("kopru.whatsapp.requested.v1")
async def requested(ev: EventCall):
    from kopru.whatsapp.service import deliver

    await deliver(ev)


async def handle(request):
    return await fn(request)
