"""A failed run is taken up again by the tenant once its cause is fixed (POST
/workflows/{id}/runs/{run_id}/retry), at the step it stopped at, sending once; a run whose
step waited longer than its Idempotency-Key is kept is not resumed blindly (it might have
been sent before a crash) but failed with `workflow.resume_expired` for a person to check."""

from __future__ import annotations

import uuid

from tests.helpers import bearer, drain
from tests.workflows.conftest import nonce, save
from tests.workflows.test_workflow_subjects import consent

RECORDED = "kopru.consent.recorded.v1"
FLOW = ("workflows", "sms-send")


def campaign(mark: str) -> dict:
    """On an analytics consent, a commercial SMS to the subject: İYS needs its own consent."""
    return {"name": "Kampanya", "trigger": {"type": RECORDED, "filter": [{"exact": {"data.purpose": "analytics"}}]},
            "steps": [{"action": "sms.send", "input": {
                "to_subject": "data.subject_id", "message": {"const": f"Kampanya {mark}"},
                "kind": {"const": "commercial"}, "recipient_type": {"const": "BIREYSEL"}}}]}


async def iys_consent(client, t, phone: str) -> None:
    r = await client("consent-record").post("/consents", headers=bearer(t["token"]), json={
        "subject": {"phone": phone}, "purpose": "marketing", "legal_basis": "explicit_consent",
        "data_categories": ["contact"], "channel": "web", "consent_text": "Kampanya iletisi izni",
        "retention_days": 365, "iys": {"type": "MESAJ", "recipient_type": "BIREYSEL", "source": "HS_WEB"}})
    assert r.status_code == 201, r.text


async def test_a_failed_run_is_retried_once_its_cause_is_fixed(client, apps, shop, netgsm, db, onboard):
    mark = nonce()
    r = await save(client, shop, campaign(mark))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    await consent(client, shop, "+905321230031", purpose="analytics")
    await drain(apps, only=FLOW)
    [run] = (await client("workflows").get(f"/workflows/{wid}/runs", headers=bearer(shop["token"]))).json()["runs"]
    assert (run["status"], run["step"], run["code"]) == ("failed", 0, "sms.iys_no_consent")
    retry = f"/workflows/{wid}/runs/{run['id']}/retry"

    # nothing fixed: it fails again, at the same step, with the same code; still nothing sent
    r = await client("workflows").post(retry, headers=bearer(shop["token"]))
    assert r.status_code == 200 and (r.json()["status"], r.json()["code"]) == ("failed", "sms.iys_no_consent"), r.text
    assert not [m for m in netgsm.messages if mark in m.msg]

    await iys_consent(client, shop, "+905321230031")
    await drain(apps, only=FLOW)
    r = await client("workflows").post(retry, headers=bearer(shop["token"]))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["step"], r.json()["code"]) == ("succeeded", 1, None)
    await drain(apps, only=FLOW)  # the SMS the step asked for goes out through sms-send
    assert [m.msg for m in netgsm.messages if mark in m.msg] == [f"Kampanya {mark}"]

    # a run that did not fail, an unknown run, another tenant's workflow
    r = await client("workflows").post(retry, headers=bearer(shop["token"]))
    assert r.status_code == 409 and r.json()["code"] == "workflow.run_not_failed"
    r = await client("workflows").post(f"/workflows/{wid}/runs/{uuid.uuid4()}/retry", headers=bearer(shop["token"]))
    assert r.status_code == 404 and r.json()["code"] == "workflow.run_not_found"
    r = await client("workflows").post(f"/workflows/{wid}/runs/not-an-id/retry", headers=bearer(shop["token"]))
    assert r.status_code == 404 and r.json()["code"] == "workflow.run_not_found"
    other = await onboard()
    r = await client("workflows").post(retry, headers=bearer(other["token"]))
    assert r.status_code == 404 and r.json()["code"] == "workflow.not_found"
    assert [m.msg for m in netgsm.messages if mark in m.msg] == [f"Kampanya {mark}"]


async def test_a_step_older_than_its_key_is_not_resumed_blindly(client, apps, shop, netgsm, db, monkeypatch):
    from kopru.workflows import engine

    async def made_only(tenant_id, runs, *, actor):  # the process dies; no resume for a day
        return {}

    monkeypatch.setattr(engine, "_execute_all", made_only)
    mark = nonce()
    r = await save(client, shop, {"name": "Hoş geldin", "trigger": {"type": RECORDED},
                                  "steps": [{"action": "sms.send", "input": {
                                      "to_subject": "data.subject_id", "message": {"const": f"Merhaba {mark}"},
                                      "kind": {"const": "transactional"}}}]})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    await consent(client, shop, "+905321230032")
    await drain(apps, only=FLOW)
    [(rid,)] = db.execute("select id from workflow_runs where workflow_id = %s", (wid,)).fetchall()
    db.execute("update workflow_runs set updated_at = now() - interval '23 hours 30 minutes' where id = %s", (rid,))
    calls = len(netgsm.calls)
    assert await engine.execute(shop["id"], rid, actor="test") == "failed"
    assert db.execute("select status, code, step from workflow_runs where id = %s", (rid,)).fetchone() == \
        ("failed", "workflow.resume_expired", 0)
    assert len(netgsm.calls) == calls
    # a person checked at Netgsm: not sent. The retry sends it, once.
    monkeypatch.undo()
    r = await client("workflows").post(f"/workflows/{wid}/runs/{rid}/retry", headers=bearer(shop["token"]))
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    await drain(apps, only=FLOW)
    assert [m.msg for m in netgsm.messages if mark in m.msg] == [f"Merhaba {mark}"]
