"""consent-record: the KVKK consent ledger. Record a consent (one purpose each),
withdraw it (the grant stays as proof), and read a subject's history.

    functions-framework --asgi --source functions/consent_record/main.py --target handle
"""

from kopru.runtime import PAGED, Call, Function, json_response

fn = Function("consent-record", max_body_bytes=256 * 1024)  # room for a 20,000-character text, \u-escaped


@fn.route("POST", "/consents", returns="kopru.kvkk.models:ConsentRecorded", summary="Record one consent for one purpose (consent:write)",
          body="kopru.kvkk.models:ConsentIn", responses=(201, 400, 401, 403, 409, 413, 415, 422, 429),
          scope="consent:write", tenant="token",
          links={"history": ("GET /consents", {"subject": "$response.body#/subject_id"}),
                 "withdraw": ("POST /consents/{id}/withdraw", {"id": "$response.body#/id"}),
                 # the subject's access and erasure applications, by the id the answer gives
                 "export": ("data-export POST /exports", {}, {"subject": {"id": "$response.body#/subject_id"}}),
                 "erasure": ("data-erasure POST /erasures", {}, {"subject": {"id": "$response.body#/subject_id"}})})
async def record(call: Call):
    from kopru.kvkk.consents import record
    from kopru.kvkk.models import ConsentIn

    body = await call.json(ConsentIn)
    out = await record(call.tenant, body, ip=call.client_ip, user_agent=call.headers.get("user-agent"))
    return json_response(out, 201, {"Cache-Control": "no-store"})


@fn.route("POST", "/consents/{id}/withdraw", returns="kopru.kvkk.models:ConsentWithdrawn",
          summary="Withdraw a consent; the grant is kept as proof (consent:write). Body optional: {\"channel\": …}",
          body="kopru.kvkk.models:WithdrawIn", responses=(200, 400, 401, 403, 404, 409, 413, 415, 422, 429),
          scope="consent:write", tenant="token")
async def withdraw(call: Call):
    from kopru.kvkk.consents import withdraw
    from kopru.kvkk.models import WithdrawIn

    consent_id = call.path_id("consent.not_found")
    channel = None
    if await call.body():
        channel = (await call.json(WithdrawIn)).channel
    out = await withdraw(call.tenant, consent_id, channel)
    return json_response(out, 200, {"Cache-Control": "no-store"})


@fn.route("GET", "/consents", returns="kopru.kvkk.models:ConsentHistory",
          summary="A subject's consents and history, oldest first, a page of consents at a time: "
                  "?subject=<subject id, phone, e-mail or TCKN>; identifiers masked (consent:read)",
          responses=(200, 401, 403, 404, 422, 429), scope="consent:read", tenant="token",
          links={"withdraw": ("POST /consents/{id}/withdraw", {"id": "$response.body#/consents/0/id"})},
          query=(("subject", True, {"type": "string", "minLength": 1, "maxLength": 254},
                  "the subject's id (preferred: a query string reaches access logs), phone, e-mail or TCKN"), *PAGED))
async def history(call: Call):
    from kopru import pages
    from kopru.kvkk.consents import history

    out = await history(call.tenant, call.query.get("subject"), pages.limit(call.query), call.query.get("cursor"))
    return json_response(out, 200, {"Cache-Control": "no-store"})


async def handle(request):
    return await fn(request)
