"""webhooks-retry: on its schedule (catalog `schedules`, every minute) the webhook deliveries
that fell due (a failed attempt's next try on the Standard Webhooks schedule, a replay, one
whose first attempt never happened) are sent (kopru.webhooks.delivery.send_due). A separate
function from `webhooks` because OpenFaaS feeds a function either by Kafka or by a schedule.

    functions-framework --asgi --source functions/webhooks_retry/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("webhooks-retry")


@fn.on_event("kopru.webhook.retry_poll.v1")
async def tick(ev: EventCall):
    from kopru.webhooks.delivery import send_due

    return json_response(await send_due(), 200)


async def handle(request):
    return await fn(request)
