"""retention-purge: destroys what is past its retention (the personal-data
register's rules) in short batches, with a destruction record per batch. Woken by its
schedule (catalog `schedules`): a Knative PingSource, the OpenFaaS cron-connector, or
`kopru dev`'s ticker. Announces each tenant's purge with kopru.retention.purged.v1. `kopru purge --dry-run` shows what it would do.
After the purge, the tick anchors every audit chain's head outside PostgreSQL (`kopru audit anchor`).

    functions-framework --asgi --source functions/retention_purge/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("retention-purge", max_body_bytes=16 * 1024)


@fn.on_event("kopru.retention.tick.v1")
async def tick(ev: EventCall):
    from kopru.config import settings
    from kopru.kvkk.purge import purge

    # stay inside the platform's request timeout; what is left goes to the next tick.
    # Each tenant with rows destroyed gets kopru.retention.purged.v1 (counts per rule).
    report = await purge(budget_s=settings().purge_budget_s)
    # then every audit chain's head goes outside PostgreSQL (a store that is down is logged and said)
    from kopru.kvkk.anchor import scheduled_anchor

    anchored = await scheduled_anchor()
    return json_response({"run_id": str(report.run_id), "complete": report.complete,
                          "rows": sum(o.rows for o in report.outcomes),
                          "longest_batch_ms": round(report.longest_batch_ms, 1), "anchor": anchored}, 200)


async def handle(request):
    return await fn(request)
