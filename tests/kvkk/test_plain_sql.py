"""The KVKK export and erasure consumers run without SQLAlchemy: real data-export and
data-erasure processes (functions-framework, as their images run) take the requested
events from the relay and walk the register in plain SQL, under tests.importprobe."""

from __future__ import annotations

import base64
import os

import httpx

from tests.helpers import bearer, drain_to
from tests.importprobe import assert_no_sqlalchemy, probe_env
from tests.kvkk.conftest import PHONE


async def _deliver(function: str, env: dict[str, str]) -> None:
    """Every pending outbox event, through the relay, to a real process of `function`."""
    from kopru.events.dispatcher import http_sender
    from tests.work.test_outward import FunctionProcess

    fn = FunctionProcess(function, env)
    try:
        async with httpx.AsyncClient(timeout=30) as h:
            bus = await drain_to({function: http_sender(h, fn.url + "/", function)})
            assert bus.dead_letters == [], bus.dead_letters
    finally:
        fn.kill()


async def test_export_and_erasure_consumers_never_import_sqlalchemy(client, sms_tenant, consents_api, services, db,
                                                                     tmp_path):
    from kopru.auth.crypto import master_key

    token = sms_tenant["token"]
    r = await consents_api.record(token)
    assert r.status_code == 201, r.text
    subject_id = r.json()["subject_id"]
    base = {"DATABASE_URL": services["app_url"], "KOPRU_MASTER_KEY": base64.b64encode(master_key()).decode(),
            "REDIS_URL": os.environ["REDIS_URL"], "KOPRU_ENV": "test", "KOPRU_LOG_LEVEL": "WARNING"}

    r = await client("data-export").post("/exports", json={"subject": {"phone": PHONE}}, headers=bearer(token))
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    probe, imports = probe_env(tmp_path, "data-export")
    await _deliver("data-export", {**base, **probe})
    assert_no_sqlalchemy(imports)
    got = (await client("data-export").get(f"/exports/{export_id}", headers=bearer(token))).json()
    assert got["status"] == "ready" and got["url"], got  # the process did the walk

    r = await client("data-erasure").post("/erasures", json={"subject": {"id": subject_id}}, headers=bearer(token))
    assert r.status_code == 202, r.text
    erasure_id = r.json()["id"]
    probe, imports = probe_env(tmp_path, "data-erasure")
    await _deliver("data-erasure", {**base, **probe})
    assert_no_sqlalchemy(imports)
    got = (await client("data-erasure").get(f"/erasures/{erasure_id}", headers=bearer(token))).json()
    assert got["status"] == "completed" and got["report"]["key_destroyed"] is True, got
    assert db.execute("select wrapped_key from data_subjects where id = %s", (subject_id,)).fetchone() == (None,)
