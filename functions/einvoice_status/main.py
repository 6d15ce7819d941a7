"""einvoice-status: follows submitted e-invoices to their answer. On its schedule
(catalog `schedules`: a Knative PingSource, the OpenFaaS cron-connector, `kopru dev`'s
ticker) it asks Nilvera for every non-final invoice of every tenant and moves it on
(GİB 1300, 1150/1160/1163, KABUL/RED and the TICARIFATURA answer window). A function
of its own because OpenFaaS gives einvoice-submit only the kafka-connector.

    functions-framework --asgi --source functions/einvoice_status/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("einvoice-status", max_body_bytes=16 * 1024)


@fn.on_event("kopru.einvoice.status_poll.v1")
async def poll(ev: EventCall):
    from kopru.einvoice.service import poll_statuses, recover_stalled

    # first take over what nobody is finishing (reconciled with the provider), then poll
    recovered = await recover_stalled()
    return json_response({**await poll_statuses(), "recovered": recovered}, 200)


async def handle(request):
    return await fn(request)
