"""whatsapp-sweep: on its schedule (catalog `schedules`: a Knative PingSource, the OpenFaaS
cron-connector, `kopru dev`'s ticker), WhatsApp sends nobody is finishing are taken over:
an ambiguous one is proven by a status webhook or, once unproven for too long, parked
`unknown` for an operator (kopru.whatsapp.service). A function of its own because OpenFaaS
gives a function one connector (whatsapp is fed by the kafka-connector).

    functions-framework --asgi --source functions/whatsapp_sweep/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("whatsapp-sweep", max_body_bytes=16 * 1024)


@fn.on_event("kopru.whatsapp.sweep_poll.v1")
async def sweep(ev: EventCall):
    from kopru.whatsapp.service import recover_stalled

    return json_response({"recovered": await recover_stalled()}, 200)


async def handle(request):
    return await fn(request)
