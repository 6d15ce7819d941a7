"""The webhook delivery consumer, the webhooks-retry tick, the workflow engine (a
webhook.call step) and the workflows-resume tick run without SQLAlchemy: each runs in a
fresh interpreter against the test database (as a deployed function reaches it: by
DATABASE_URL, so no embedded bootstrap or migration) under tests.importprobe, and SQLAlchemy
must not be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone

from tests.helpers import bearer
from tests.webhooks.conftest import payment_data
from tests.workflows.conftest import SUCCEEDED, save

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent('''
    import asyncio, json, sys

    mode, arg = sys.argv[1], json.loads(sys.argv[2])

    async def main():
        if mode == "event":
            from starlette.requests import Request
            from kopru.events.ingress import issue
            from kopru.runtime.registry import function_sources, load_module

            mod = load_module(function_sources()[arg["fn"]])
            body = json.dumps(arg["ce"]).encode()
            headers = [(b"content-type", b"application/cloudevents+json"),
                       (b"authorization", ("Bearer " + issue(arg["fn"])).encode())]
            scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}

            async def receive():
                return {"type": "http.request", "body": body, "more_body": False}

            return (await mod.handle(Request(scope, receive))).status_code
        if mode == "webhooks-retry":
            from kopru.webhooks.delivery import send_due
            return await send_due(budget=0)
        from kopru.workflows.engine import resume_due
        return await resume_due(older_than=0)

    out = asyncio.run(main())
    print("RESULT " + json.dumps({"out": out}))
''')


def fresh(mode: str, arg: dict | None = None) -> dict:
    """Run `mode` in a fresh interpreter under the import probe (tests.importprobe): its
    result, and "sqlalchemy" with the stack of the import when there was one."""
    import tempfile
    from pathlib import Path

    from kopru.config import settings
    from kopru.db.engine import database_urls, libpq_url, relay_database_url
    from tests.importprobe import probe_env

    app, owner = database_urls()
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        probe, imports = probe_env(Path(tmp), mode)
        env = {**os.environ, "DATABASE_URL": libpq_url(app), "DATABASE_OWNER_URL": libpq_url(owner),
               "RELAY_DATABASE_URL": libpq_url(relay_database_url()), "KOPRU_LOG_LEVEL": "ERROR", **probe}
        if not env.get("KOPRU_MASTER_KEY"):
            env["KOPRU_MASTER_KEY"] = (settings().data_dir / "master.key").read_text().strip()
        out = subprocess.run([sys.executable, "-c", CHILD, mode, json.dumps(arg or {})], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
        lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        assert out.returncode == 0 and lines, out.stderr[-3000:]
        found = imports.read_text() if imports.exists() else None
    return {**json.loads(lines[-1][len("RESULT "):]), "sqlalchemy": found}


def cloudevent(tenant_id, data: dict) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/kopru/payment", "type": SUCCEEDED,
            "time": datetime.now(timezone.utc).isoformat(), "datacontenttype": "application/json",
            "tenantid": str(tenant_id), "partitionkey": str(tenant_id), "data": data}


async def test_the_delivery_consumer_and_the_engine_run_without_sqlalchemy(client, shop, receiver, private, db):
    receiver.script["/cold"] = [500]  # the first attempt fails: the consumer schedules the retry
    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(shop["token"]), json={
        "url": receiver.url + "/cold", "event_types": [SUCCEEDED], "personal_data": True, "purpose": "muhasebe kaydı"})
    assert r.status_code == 201, r.text
    ep = r.json()["id"]

    got = fresh("event", {"fn": "webhooks", "ce": cloudevent(shop["id"], payment_data())})
    assert got["out"] == 204 and not got["sqlalchemy"], got
    assert db.execute("select status, attempts from webhook_deliveries where endpoint_id = %s",
                      (ep,)).fetchall() == [("pending", 1)]
    db.execute("update webhook_deliveries set next_attempt_at = now() where endpoint_id = %s", (ep,))
    got = fresh("webhooks-retry")
    assert got["out"].get("succeeded") == 1 and not got["sqlalchemy"], got

    r = await save(client, shop, {"name": "kasa", "trigger": {"type": SUCCEEDED},
                                  "steps": [{"action": "webhook.call", "input": {"endpoint_id": {"const": ep}}}]})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    got = fresh("event", {"fn": "workflows", "ce": cloudevent(shop["id"], payment_data())})
    assert got["out"] == 204 and not got["sqlalchemy"], got
    assert db.execute("select status, step from workflow_runs where workflow_id = %s", (wid,)).fetchall() == [
        ("succeeded", 1)]
    db.execute("update workflow_runs set status = 'running', step = 0, finished_at = null where workflow_id = %s",
               (wid,))
    got = fresh("workflows-resume")
    assert got["out"].get("succeeded") == 1 and not got["sqlalchemy"], got
