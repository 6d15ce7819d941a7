"""retention-purge: destroys what is past its retention (the personal-data
register's rules) in short batches, with a destruction record per batch. Woken by its
schedule (catalog `schedules`): a Knative PingSource, the OpenFaaS cron-connector, or
`kopru dev`'s ticker. `kopru purge --dry-run` shows what it would do.

    functions-framework --asgi --source functions/retention_purge/main.py --target handle
"""

from kopru.runtime import EventCall, Function, json_response

fn = Function("retention-purge", max_body_bytes=16 * 1024)


@fn.on_event("kopru.retention.tick.v1")
async def tick(ev: EventCall):
    import os

    from kopru.kvkk.purge import purge

    # stay inside the platform's request timeout; what is left goes to the next tick
    report = await purge(budget_s=float(os.environ.get("KOPRU_PURGE_BUDGET_S", "240")))
    return json_response({"run_id": str(report.run_id), "complete": report.complete,
                          "rows": sum(o.rows for o in report.outcomes),
                          "longest_batch_ms": round(report.longest_batch_ms, 1)}, 200)


async def handle(request):
    return await fn(request)
