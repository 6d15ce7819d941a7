"""retention-purge: destroys what is past its retention (the personal-data
register's rules) in short batches, with a destruction record per batch. Woken by its
schedule (catalog `schedules`): a Knative PingSource, the OpenFaaS cron-connector, or
`kopru dev`'s ticker. Announces each tenant's purge with kopru.retention.purged.v1. `kopru purge --dry-run` shows what it would do.
After the purge, the tick rotates the subject keys' key epochs (kopru.kvkk.epochs: a new epoch
every KOPRU_KEY_EPOCH_DAYS, live keys re-sealed, old epoch keys destroyed once the backups that
could need them have expired; `kopru keys epochs rotate`), then anchors every audit chain's head
outside PostgreSQL (`kopru audit anchor`).

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
    # the key epochs: what makes an erasure reach the backups (a key store that is down is logged and said)
    from kopru.kvkk.rotation import rotate

    try:
        rotation = (await rotate(budget_s=settings().purge_budget_s)).as_dict()
    except Exception as exc:
        from kopru.logs import get_logger

        get_logger("kopru.kvkk.epochs").error("epochs.rotation_failed", extra={"fields": {"error": type(exc).__name__}})
        rotation = {"error": type(exc).__name__}
    # then every audit chain's head goes outside PostgreSQL (a store that is down is logged and said)
    from kopru.kvkk.anchor import scheduled_anchor

    anchored = await scheduled_anchor()
    return json_response({"run_id": str(report.run_id), "complete": report.complete,
                          "rows": sum(o.rows for o in report.outcomes),
                          "longest_batch_ms": round(report.longest_batch_ms, 1), "keys": rotation,
                          "anchor": anchored}, 200)


async def handle(request):
    return await fn(request)
