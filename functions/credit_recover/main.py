"""credit-recover: on its schedule (catalog `schedules`, every 5 minutes) the credit-report
requests nobody is finishing (a holder killed mid-call, an event dead-lettered while the
partner was down) are taken over through kopru.work, reconciled with the partner by our
reference first (kopru.credit.service.recover_stalled). A separate function from
`credit-report` because OpenFaaS feeds a function either by Kafka or by a schedule.

    functions-framework --asgi --source functions/credit_recover/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("credit-recover")


@fn.on_event("kopru.credit.recover_poll.v1")
async def tick(ev: EventCall):
    from kopru.credit.service import recover_stalled

    return json_response(await recover_stalled(), 200)


async def handle(request):
    return await fn(request)
