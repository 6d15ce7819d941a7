"""sms-send: SMS through Netgsm with İYS rules, Turkish encodings and one send per message.

    functions-framework --asgi --source functions/sms_send/main.py --target handle
"""

from kopru.errors import KopruError
from kopru.runtime import Call, EventCall, Function, created

fn = Function("sms-send", max_body_bytes=64 * 1024)


@fn.route("POST", "/sms", returns="kopru.sms.models:SmsAccepted", summary="Accept an SMS (202); sent on kopru.sms.requested.v1 (sms:send). Optional Idempotency-Key header",
          body="kopru.sms.models:SmsIn", responses=(202, 401, 403, 409, 413, 415, 422, 429),
          links={"read": ("GET /sms/{id}", {"id": "$response.body#/id"})},
          scope="sms:send", tenant="token")
async def send(call: Call):
    from kopru.sms.models import SmsIn
    from kopru.sms.service import request_sms

    body = await call.json(SmsIn)
    out = await request_sms(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 202, f"/sms/{out['id']}", replayed_in_body=True)


@fn.route("POST", "/sms/estimate", returns="kopru.sms.models:SmsEstimate", summary="Encoding, segments and characters a message would use (sms:send)",
          body="kopru.sms.models:EstimateIn", responses=(200, 401, 403, 413, 415, 422, 429),
          scope="sms:send", tenant="token")
async def estimate(call: Call):
    from kopru.sms.encoding import MessageTooLong, estimate
    from kopru.sms.models import EstimateIn

    body = await call.json(EstimateIn)
    import unicodedata

    try:
        return estimate(unicodedata.normalize("NFC", body.message)).as_dict()
    except MessageTooLong:
        raise KopruError("sms.message_too_long") from None


@fn.route("GET", "/sms/{id}", returns="kopru.sms.models:SmsOut", summary="An SMS's status and its history (sms:read)", responses=(200, 401, 403, 404, 429),
          scope="sms:read", tenant="token")
async def read(call: Call):
    from kopru.sms.service import get_sms

    sms_id = call.path_id("sms.not_found")
    return await get_sms(call.tenant, sms_id)


@fn.on_event("kopru.sms.requested.v1")
async def requested(ev: EventCall):
    from kopru.sms.service import deliver

    await deliver(ev)


async def handle(request):
    return await fn(request)
