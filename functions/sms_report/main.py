"""sms-report: Netgsm delivery reports. Polls Netgsm's report API for sent messages
on its schedule (catalog `schedules`: a Knative PingSource, the OpenFaaS
cron-connector, `kopru dev`'s ticker) and takes Netgsm's push at `POST /sms/reports`.
A function of its own because OpenFaaS gives a function one connector (sms-send is
fed by the kafka-connector).

    functions-framework --asgi --source functions/sms_report/main.py --target handle
"""

from kopru.runtime import Call, EventCall, Function, json_response

fn = Function("sms-report", max_body_bytes=256 * 1024)


@fn.route("POST", "/sms/reports", returns="kopru.sms.models:ReportsTaken",
          summary="Netgsm's delivery-report push (JSON object or array, or form fields, in the report API's shape); "
                  "the URL with ?tenant=&sig= is given by PUT /tenants/{id}/integrations/netgsm",
          public=True, responses=(200, 400, 403, 413, 422))
async def pushed(call: Call):
    from kopru.sms.service import accept_pushed_reports

    raw = await call.body()
    out = await accept_pushed_reports(call.query.get("tenant"), call.query.get("sig"), raw,
                                      call.headers.get("content-type", "application/json").lower())
    return json_response(out, 200)


@fn.on_event("kopru.sms.report_poll.v1")
async def poll(ev: EventCall):
    from kopru.sms.service import poll_reports, recover_stalled

    # first take over what nobody is finishing (reconciled with the provider), then poll
    recovered = await recover_stalled()
    return json_response({**await poll_reports(), "recovered": recovered}, 200)


async def handle(request):
    return await fn(request)
