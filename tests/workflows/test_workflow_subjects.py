"""Workflows and the personal-data register: a person to text is a data subject (no number
is typed into a workflow), a run names the subject its event named, so the subject's export
shows it and the erasure clears it (a run still going stops, sending nothing), and finished
runs are deleted 90 days after they end while a run still going is kept. Also: a step is
recorded only by the one who is still at it."""

from __future__ import annotations

import uuid

from tests.helpers import bearer, drain
from tests.workflows.conftest import nonce, save

RECORDED = "kopru.consent.recorded.v1"
FLOW = ("workflows", "sms-send")


def welcome(mark: str, **over) -> dict:
    inp = {"to_subject": "data.subject_id", "message": {"const": f"Hoş geldiniz {mark}"},
           "kind": {"const": "transactional"}, **over}
    return {"name": "İzin verene hoş geldin SMS'i",
            "trigger": {"type": RECORDED, "filter": [{"exact": {"data.purpose": "marketing"}}]},
            "steps": [{"action": "sms.send", "input": inp}]}


async def consent(client, t, phone: str, purpose: str = "marketing") -> uuid.UUID:
    r = await client("consent-record").post("/consents", headers=bearer(t["token"]), json={
        "subject": {"phone": phone}, "purpose": purpose, "legal_basis": "explicit_consent",
        "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30})
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["subject_id"])


async def test_a_consent_welcomes_its_subject_and_the_run_is_in_its_export_until_erased(client, apps, shop, netgsm,
                                                                                        db):
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import collect, erase_subject

    mark = nonce()
    r = await save(client, shop, welcome(mark))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    subject = await consent(client, shop, "+905321230001")
    await consent(client, shop, "+905321230002", purpose="analytics")  # filtered out: no run, no SMS
    await drain(apps, only=FLOW)
    sent = [m for m in netgsm.messages if mark in m.msg]
    assert [(m.no, m.msg) for m in sent] == [("5321230001", f"Hoş geldiniz {mark}")]
    [(run_subject, status)] = db.execute("select subject_id, status from workflow_runs where workflow_id = %s",
                                         (wid,)).fetchall()
    assert (run_subject, status) == (subject, "succeeded")

    async with tenant_transaction(shop["id"], actor="test") as tx:
        doc = await collect(tx, subject)
    [rec] = doc["records"]["workflow_runs"]
    assert rec["event"]["data"]["subject_id"] == str(subject) and "5321230001" not in str(rec)

    async with tenant_transaction(shop["id"], actor="test") as tx:
        report = await erase_subject(tx, subject)
    [cleared] = [c for c in report["cleared"] if c["table"] == "workflow_runs"]
    assert cleared["rows"] == 1 and cleared["columns"] == ["event"]
    assert db.execute("select event from workflow_runs where workflow_id = %s", (wid,)).fetchall() == [(None,)]
    # the run is still listed for the tenant (status, steps, results: ids), without the event
    r = await client("workflows").get(f"/workflows/{wid}/runs", headers=bearer(shop["token"]))
    assert r.status_code == 200 and [x["status"] for x in r.json()["runs"]] == ["succeeded"], r.text


async def test_no_number_is_typed_into_a_workflow(client, shop):
    for inp in ({"to": {"const": "+905321230003"}}, {"to_subject": {"const": "+905321230003"}}):
        body = welcome("x")
        body["steps"][0]["input"] = {k: v for k, v in body["steps"][0]["input"].items() if k != "to_subject"} | inp
        r = await save(client, shop, body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] in ("workflow.input_invalid", "workflow.recipient_invalid", "workflow.mapping_invalid")
        assert "5321230003" not in r.text  # never echoed


async def test_an_erased_subjects_run_stops_and_sends_nothing(client, apps, shop, netgsm, db, monkeypatch):
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import erase_subject
    from kopru.workflows import engine

    async def made_only(tenant_id, runs, *, actor):  # the process dies after the runs were made
        return {}

    monkeypatch.setattr(engine, "_execute_all", made_only)
    mark = nonce()
    r = await save(client, shop, welcome(mark))
    assert r.status_code == 201, r.text
    subject = await consent(client, shop, "+905321230004")
    await drain(apps, only=FLOW)
    [(rid, status)] = db.execute("select id, status from workflow_runs where workflow_id = %s",
                                 (r.json()["id"],)).fetchall()
    assert status == "running"
    async with tenant_transaction(shop["id"], actor="test") as tx:
        await erase_subject(tx, subject)
    calls = len(netgsm.calls)
    assert await engine.execute(shop["id"], rid, actor="test") == "failed"
    assert db.execute("select status, code, step from workflow_runs where id = %s", (rid,)).fetchone() == \
        ("failed", "kvkk.subject_erased", 0)
    assert len(netgsm.calls) == calls and not [m for m in netgsm.messages if mark in m.msg]


async def test_finished_runs_are_purged_after_90_days_and_running_ones_kept(client, apps, shop, netgsm, db,
                                                                           monkeypatch):
    from kopru.kvkk.purge import purge
    from kopru.workflows import engine

    r = await save(client, shop, welcome(nonce()))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    for i in range(3):
        await consent(client, shop, f"+90532123001{i}")
    await drain(apps, only=FLOW)
    ids = [x for (x,) in db.execute("select id from workflow_runs where workflow_id = %s order by created_at",
                                    (wid,)).fetchall()]
    assert len(ids) == 3
    old, recent, going = ids
    db.execute("update workflow_runs set finished_at = now() - interval '91 days', "
               "created_at = now() - interval '92 days' where id = %s", (old,))
    db.execute("update workflow_runs set finished_at = now() - interval '89 days' where id = %s", (recent,))
    db.execute("update workflow_runs set status = 'running', step = 0, finished_at = null, "
               "created_at = now() - interval '400 days', updated_at = now() - interval '400 days' where id = %s",
               (going,))
    await purge(tenant_id=shop["id"])
    left = {x for (x,) in db.execute("select id from workflow_runs where workflow_id = %s", (wid,)).fetchall()}
    assert left == {recent, going}
    # leave no run `running` for the resume schedule other tests run over every tenant
    db.execute("update workflow_runs set status = 'failed', code = 'test', finished_at = now() where id = %s", (going,))


async def test_a_step_is_recorded_only_by_whoever_is_still_at_it(client, apps, shop, netgsm, db, monkeypatch):
    from kopru.workflows import engine

    async def made_only(tenant_id, runs, *, actor):
        return {}

    monkeypatch.setattr(engine, "_execute_all", made_only)
    r = await save(client, shop, welcome(nonce()))
    assert r.status_code == 201, r.text
    await consent(client, shop, "+905321230020")
    await drain(apps, only=FLOW)
    [rid] = [x for (x,) in db.execute("select id from workflow_runs where workflow_id = %s",
                                      (r.json()["id"],)).fetchall()]
    assert await engine.record_step(shop["id"], rid, 1, {"sms_id": "b"}, actor="test") is False  # not there yet
    assert await engine.record_step(shop["id"], rid, 0, {"sms_id": "a"}, actor="test") is True
    assert await engine.record_step(shop["id"], rid, 0, {"sms_id": "c"}, actor="test") is False  # someone else was first
    row = db.execute("select step, status, results from workflow_runs where id = %s", (rid,)).fetchone()
    assert row == (1, "succeeded", [{"step": 0, "sms_id": "a"}])
