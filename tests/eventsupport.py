"""A consumer function for event tests: it consumes kopru.tenant.onboarded.v1,
fails on demand, and records its effect (an audit entry) exactly once per event
through the inbox."""

from __future__ import annotations

import dataclasses
import textwrap

PROBE_SOURCE = textwrap.dedent('''
    from kopru.runtime import Function
    from kopru.logs import trace_id_var
    from starlette.responses import Response

    fn = Function("probe")
    # subdomain "always-fail": 500 every time; "flaky-three": 503 three times, then fine
    fn.fail = {}        # event id -> how many more times to answer 503
    fn.always_fail = set()
    fn.calls = []

    @fn.on_event("kopru.tenant.onboarded.v1")
    async def onboarded(ev):
        eid = ev.event["id"]
        fn.calls.append(eid)
        sub = ev.data.get("subdomain")
        if eid in fn.always_fail or sub == "always-fail":
            return Response(status_code=500)
        if sub == "flaky-three" and fn.calls.count(eid) <= 3:
            return Response(status_code=503)
        if fn.fail.get(eid, 0) > 0:
            fn.fail[eid] -= 1
            return Response(status_code=503)
        async with ev.once() as tx:
            if tx is None:
                return None  # a duplicate: acknowledged, no effect
            await tx.audit("probe.onboarded", target=eid, details={"trace_id": trace_id_var.get()})

    async def handle(request):
        return await fn(request)
''')


def probe_app(tmp_dir):
    from functions_framework.aio import create_asgi_app

    from kopru.runtime.function import registered

    src = tmp_dir / "main.py"
    src.write_text(PROBE_SOURCE)
    app = create_asgi_app(target="handle", source=str(src))
    return app, registered()["probe"]


def probe_catalog(**delivery):
    """The repository's catalog with the probe added as a consumer of onboarding."""
    from kopru.events.catalog import load_catalog

    cat = load_catalog()
    events = dict(cat.events)
    et = events["kopru.tenant.onboarded.v1"]
    events[et.type] = dataclasses.replace(et, consumers=tuple(sorted(set(et.consumers) | {"probe"})))
    policy = dataclasses.replace(cat.delivery, **delivery) if delivery else cat.delivery
    return dataclasses.replace(cat, events=events, delivery=policy)


async def emit_onboarded(tenant_id, n: int = 1, subdomain: str = "probe-x", per_tx: int = 200) -> list[str]:
    """n onboarded events for an existing tenant, written through the outbox."""
    import datetime

    from kopru.db import tenant_transaction
    from kopru.events import current_source

    current_source.set("/kopru/tenant-onboarding")
    ids = []
    done = 0
    while done < n:
        async with tenant_transaction(tenant_id, actor="test") as tx:
            for _ in range(min(per_tx, n - done)):
                ids.append(await tx.emit("kopru.tenant.onboarded.v1", {
                    "tenant_id": str(tenant_id), "subdomain": subdomain, "plan": "trial", "language": "tr-TR",
                    "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}))
                done += 1
    return ids
