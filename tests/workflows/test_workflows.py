"""Tenant workflows end to end, in process with iyzico and Netgsm simulators over loopback:
"on kopru.payment.succeeded.v1 where data.amount >= 1000, text the buyer" runs once per
matching payment (redelivered: still one SMS, counted at Netgsm) and never for a smaller
one; a workflow with an unknown action, a wrong mapping or a missing scope is refused when
saved with its code; a dry run sends nothing; a crash between two steps, or inside one after
its side effect, resumes with no step run twice."""

from __future__ import annotations

import json
import uuid

from tests.helpers import bearer, drain, grant, sender_auth
from tests.payments.conftest import BUYER
from tests.workflows.conftest import FLOW, SUCCEEDED, big_payment_workflow, nonce, pay, save, sms_step

BUYER_NO = BUYER["phone"][3:]  # Netgsm's form of +905321234567


def texts(netgsm, marker: str) -> list:
    return [m for m in netgsm.messages if marker in m.msg]


async def runs_of(client, t, wid) -> list[dict]:
    r = await client("workflows").get(f"/workflows/{wid}/runs", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()["runs"]


async def redeliver(client, db, tenant_id, payment_id) -> None:
    """The payment's succeeded event, delivered again to the workflows function as the bus does."""
    ev = db.execute("select event_id, source, type, data, created_at from outbox where tenant_id = %s and type = %s "
                    "and data->>'payment_id' = %s", (str(tenant_id), SUCCEEDED, payment_id)).fetchone()
    ce = {"specversion": "1.0", "id": str(ev[0]), "source": ev[1], "type": ev[2], "time": ev[4].isoformat(),
          "datacontenttype": "application/json", "tenantid": str(tenant_id), "partitionkey": str(tenant_id),
          "data": ev[3]}
    r = await client("workflows").post("/", json=ce, headers={**sender_auth("workflows"),
                                                              "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 204, r.text


async def test_a_big_payment_texts_the_buyer_once_and_a_small_one_never(client, apps, shop, iyzico, netgsm, db):
    from kopru.workflows.engine import execute

    mark = "Büyük ödeme " + nonce()
    r = await save(client, shop, big_payment_workflow(sms_step(mark)))
    assert r.status_code == 201, r.text
    wf = r.json()
    assert r.headers["location"] == f"/workflows/{wf['id']}" and wf["enabled"] is True
    assert wf["trigger"]["condition"] == "to_number(data.amount) >= `1000`"

    big = await pay(client, shop, iyzico, db, "1500.00")
    small = await pay(client, shop, iyzico, db, "999.99")  # one kuruş under: the condition is exact
    await drain(apps, only=FLOW)
    sent = texts(netgsm, mark)
    assert len(sent) == 1, [m.msg for m in sent]
    assert sent[0].no == BUYER_NO and sent[0].msg == f"{mark} 1500.00 TL"

    [run] = await runs_of(client, shop, wf["id"])
    assert (run["status"], run["step"], run["steps"], run["code"]) == ("succeeded", 1, 1, None)
    assert run["event_type"] == SUCCEEDED and run["results"][0]["sms_id"]
    assert db.execute("select count(*) from workflow_runs where tenant_id = %s", (str(shop["id"]),)).fetchone()[0] == 1
    ran = db.execute("select event->'data'->>'payment_id' from workflow_runs where workflow_id = %s",
                     (wf["id"],)).fetchone()[0]
    assert ran == big and ran != small

    # redelivered (the inbox knows it), and the run executed again by hand: still one SMS
    await redeliver(client, db, shop["id"], big)
    await redeliver(client, db, shop["id"], small)
    assert await execute(shop["id"], uuid.UUID(run["id"]), actor="test") == "succeeded"
    await drain(apps, only=FLOW)
    assert len(texts(netgsm, mark)) == 1
    assert len(await runs_of(client, shop, wf["id"])) == 1

    # disabled: no new run
    r = await client("workflows").patch(f"/workflows/{wf['id']}", json={"enabled": False}, headers=bearer(shop["token"]))
    assert r.status_code == 200 and r.json()["enabled"] is False, r.text
    await pay(client, shop, iyzico, db, "2000.00")
    await drain(apps, only=FLOW)
    assert len(texts(netgsm, mark)) == 1 and len(await runs_of(client, shop, wf["id"])) == 1


async def test_a_failed_step_keeps_its_step_and_code(client, apps, shop, iyzico, netgsm, db):
    """A commercial SMS keeps İYS's rules as any SMS: no consent, no message, and the run
    says where it stopped and why."""
    mark = "Kampanya " + nonce()
    first = sms_step(mark + " a")
    commercial = sms_step(mark + " b", kind={"const": "commercial"}, recipient_type={"const": "BIREYSEL"})
    r = await save(client, shop, big_payment_workflow(first, commercial))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    await pay(client, shop, iyzico, db, "1000.00")
    await drain(apps, only=FLOW)
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"], run["code"]) == ("failed", 1, "sms.iys_no_consent"), run
    assert run["error"]["en"] and run["error"]["tr"]
    assert [m.msg for m in texts(netgsm, mark)] == [f"{mark} a 1000.00 TL"]


async def test_unknown_action_wrong_mapping_missing_scope_are_refused_when_saved(client, onboard, shop, db):
    ok = big_payment_workflow(sms_step("x"))
    cases = [
        ({**ok, "steps": [{"action": "sms.yolla", "input": {}}]}, 422, "workflow.action_unknown"),
        # the sample of kopru.payment.succeeded.v1 has no phone: the SMS has no recipient
        (big_payment_workflow(sms_step("x", to_payment_buyer="data.buyer_phone")), 422, "workflow.mapping_invalid"),
        (big_payment_workflow(sms_step("x", to_payment_buyer="data.payment_id ==")), 422, "workflow.mapping_invalid"),
        (big_payment_workflow(sms_step("x", telefon="data.payment_id")), 422, "workflow.mapping_invalid"),
        (big_payment_workflow({"action": "sms.send", "input": {"to_payment_buyer": "data.payment_id",
                                                               "kind": {"const": "transactional"}}}),
         422, "workflow.mapping_invalid"),  # no message
        (big_payment_workflow(sms_step("x", kind={"const": "commercial"})), 422, "workflow.mapping_invalid"),
        (big_payment_workflow({"action": "payment.refund", "input": {"payment_id": "data.payment_id",
                                                                     "amount": "data.currency"}}),
         422, "workflow.mapping_invalid"),  # "TRY" is not an amount
        (big_payment_workflow({"action": "webhook.call", "input": {"endpoint_id": {"const": str(uuid.uuid4())}}}),
         422, "workflow.endpoint_invalid"),
        ({**ok, "trigger": {"type": "kopru.sms.requested.v1"}}, 422, "workflow.trigger_unknown"),
        ({**ok, "trigger": {"type": SUCCEEDED, "filter": [{"greater": {"data.amount": "1000"}}]}},
         422, "workflow.filter_invalid"),
        ({**ok, "trigger": {"type": SUCCEEDED, "condition": "data.amount >=="}}, 422, "workflow.condition_invalid"),
    ]
    for body, status, code in cases:
        r = await save(client, shop, body)
        assert (r.status_code, r.json().get("code")) == (status, code), (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client("workflows").post("/workflows", json=cases[1][0],
                                       headers={**bearer(shop["token"]), "Accept-Language": "en"})
    assert r.json()["errors"][0]["field"].startswith("steps.0.input")
    assert "sample of the trigger's event" in r.json()["title"]

    # a client with workflows:write but not sms:send cannot save an SMS step; nor one without payments:write a refund
    r = await client("tenant-onboarding").post(f"/tenants/{shop['id']}/clients", headers=bearer(shop["token"]),
                                               json={"name": "akış", "scopes": ["workflows:write", "workflows:read"]})
    assert r.status_code == 201, r.text
    narrow = (await grant(client, r.json()["client_id"], r.json()["client_secret"]))["access_token"]
    r = await save(client, shop, ok, token=narrow)
    assert (r.status_code, r.json()["code"]) == (403, "workflow.scope_missing"), r.text
    assert "sms:send" in r.json()["detail"]
    r = await client("workflows").post("/workflows", json=ok, headers={**bearer(narrow), "Accept-Language": "en"})
    assert r.json()["title"] == "The client saving this workflow lacks the scope one of its steps needs."
    r = await client("workflows").get("/workflows", headers=bearer(narrow))
    assert r.status_code == 200 and r.json()["workflows"] == []
    assert db.execute("select count(*) from workflows where tenant_id = %s", (str(shop["id"]),)).fetchone()[0] == 0

    # the plan's limit: a trial tenant keeps 3
    trial = await onboard(plan="trial")
    for i in range(3):
        r = await save(client, trial, {**ok, "name": f"akış {i}"})
        assert r.status_code == 201, r.text
    r = await save(client, trial, ok)
    assert (r.status_code, r.json()["code"]) == (409, "tenant.plan_limit"), r.text


async def test_a_dry_run_shows_what_would_be_sent_and_sends_nothing(client, apps, shop, netgsm, iyzico, receiver,
                                                                   private, db):
    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(shop["token"]), json={
        "url": receiver.url + "/muhasebe", "event_types": [SUCCEEDED]})
    assert r.status_code == 201, r.text
    endpoint = r.json()["id"]
    mark = "Deneme " + nonce()
    body = big_payment_workflow(
        sms_step(mark),
        {"action": "webhook.call", "input": {"endpoint_id": {"const": endpoint},
                                             "payload": "{tutar: data.amount, odeme: data.payment_id}"}},
        {"action": "payment.refund", "input": {"payment_id": "data.payment_id", "amount": {"const": "10.00"},
                                               "reason": {"const": "other"}}})
    r = await save(client, shop, body)
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    tables = ("sms_messages", "outbox", "webhook_deliveries", "payment_refunds", "outward_calls", "workflow_runs",
              "idempotent_requests")
    count = lambda: {t: db.execute(f"select count(*) from {t} where tenant_id = %s", (str(shop["id"]),)).fetchone()[0]
                     for t in tables}
    before, sms_calls, at_receiver, at_iyzico = count(), len(netgsm.calls), len(receiver.at("/muhasebe")), \
        len(getattr(iyzico, "calls", []))
    pid = str(uuid.uuid4())
    data = {"payment_id": pid, "iyzico_payment_id": "1", "amount": "2500.00", "paid_amount": "2500.00",
            "currency": "TRY"}
    r = await client("workflows").post(f"/workflows/{wid}/dry-run", json={"data": data}, headers=bearer(shop["token"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["would_run"] is True and out["sent"] is False
    sms, hook, refund = out["steps"]
    assert sms["input"] == {"to_payment_buyer": pid, "message": f"{mark} 2500.00 TL", "kind": "transactional"}
    assert sms["would_send"]["message"] == f"{mark} 2500.00 TL" and sms["would_send"]["segments"] == 1
    assert hook["would_send"]["url"] == receiver.url + "/muhasebe"
    assert hook["would_send"]["body"]["data"] == {"tutar": "2500.00", "odeme": pid}
    assert refund["would_send"] == {"provider": "iyzico", "payment_id": pid, "amount": "10.00", "reason": "other"}
    # a small payment: the condition says no; no data: a sample from the schema
    r = await client("workflows").post(f"/workflows/{wid}/dry-run", json={"data": {**data, "amount": "999.99"}},
                                       headers=bearer(shop["token"]))
    assert r.json()["condition_holds"] is False and r.json()["would_run"] is False
    r = await client("workflows").post(f"/workflows/{wid}/dry-run", json={}, headers=bearer(shop["token"]))
    assert r.status_code == 200 and r.json()["event"]["data"]["amount"] == "1000.00", r.text
    r = await client("workflows").post(f"/workflows/{wid}/dry-run", json={"data": {"amount": 5}},
                                       headers=bearer(shop["token"]))
    assert (r.status_code, r.json()["code"]) == (422, "workflow.sample_invalid"), r.text
    await drain(apps, only=FLOW)
    # nothing sent anywhere, nothing queued or written
    assert count() == before
    assert len(netgsm.calls) == sms_calls and not texts(netgsm, mark)
    assert len(receiver.at("/muhasebe")) == at_receiver
    assert len(getattr(iyzico, "calls", [])) == at_iyzico


async def test_a_crash_between_steps_resumes_and_no_step_runs_twice(client, apps, shop, iyzico, netgsm, receiver,
                                                                   private, db, monkeypatch):
    from kopru.workflows import engine

    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(shop["token"]), json={
        "url": receiver.url + "/kasa", "event_types": [SUCCEEDED]})
    assert r.status_code == 201, r.text
    endpoint = r.json()["id"]
    mark = "Adım " + nonce()
    r = await save(client, shop, big_payment_workflow(
        sms_step(mark + " 1"), sms_step(mark + " 2"),
        {"action": "webhook.call", "input": {"endpoint_id": {"const": endpoint}}}))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]

    # the process dies twice: after step 0 was recorded (between two steps), and after step 1's
    # SMS was requested but before the run's row moved past it (inside a step)
    real, crashes = engine.record_step, []

    async def dying(tenant_id, run_id, index, result, *, actor):
        if index == 0 and "after-0" not in crashes:
            crashes.append("after-0")
            await real(tenant_id, run_id, index, result, actor=actor)
            raise RuntimeError("killed between step 0 and step 1")
        if index == 1 and "inside-1" not in crashes:
            crashes.append("inside-1")
            raise RuntimeError("killed after step 1's side effect, before it was recorded")
        if index == 2 and "inside-2" not in crashes:
            crashes.append("inside-2")
            raise RuntimeError("killed after step 2's delivery, before it was recorded")
        return await real(tenant_id, run_id, index, result, actor=actor)

    monkeypatch.setattr(engine, "record_step", dying)
    pid = await pay(client, shop, iyzico, db, "1200.00")
    bus = await drain(apps, only=FLOW)  # the bus redelivers after each 500: the run resumes
    assert crashes == ["after-0", "inside-1", "inside-2"] and not bus.dead_letters
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"], run["steps"]) == ("succeeded", 3, 3), run
    # each step once: one SMS per step (step 1 ran twice; its Idempotency-Key answered the first request), one delivery
    assert sorted(m.msg for m in texts(netgsm, mark)) == [f"{mark} 1 1200.00 TL", f"{mark} 2 1200.00 TL"]
    assert db.execute("select count(*) from sms_messages where tenant_id = %s", (str(shop["id"]),)).fetchone()[0] == 2
    [(headers, raw)] = receiver.at("/kasa")
    assert json.loads(raw)["data"]["payment_id"] == pid and json.loads(raw)["workflow"]["step"] == 2
    assert [r_["step"] for r_ in run["results"]] == [0, 1, 2]
    # step 2 ran twice: its delivery was made once, and the run names that one
    [(delivery,)] = db.execute("select id from webhook_deliveries where endpoint_id = %s", (endpoint,)).fetchall()
    assert run["results"][2]["delivery_id"] == str(delivery)


async def test_the_schedule_resumes_an_unfinished_run(client, apps, shop, iyzico, netgsm, db, monkeypatch):
    from kopru.workflows import engine

    mark = "Takvim " + nonce()
    r = await save(client, shop, big_payment_workflow(sms_step(mark + " 1"), sms_step(mark + " 2")))
    wid = r.json()["id"]
    real, crashed = engine.record_step, []

    async def dying(tenant_id, run_id, index, result, *, actor):
        if not crashed:
            crashed.append(index)
            await real(tenant_id, run_id, index, result, actor=actor)
            raise RuntimeError("killed")
        return await real(tenant_id, run_id, index, result, actor=actor)

    monkeypatch.setattr(engine, "record_step", dying)
    pid = await pay(client, shop, iyzico, db, "3000.00")
    ev = db.execute("select event_id, source, created_at, data from outbox where tenant_id = %s and type = %s "
                    "and data->>'payment_id' = %s", (str(shop["id"]), SUCCEEDED, pid)).fetchone()
    ce = {"specversion": "1.0", "id": str(ev[0]), "source": ev[1], "type": SUCCEEDED, "time": ev[2].isoformat(),
          "tenantid": str(shop["id"]), "datacontenttype": "application/json", "data": ev[3]}
    r = await client("workflows").post("/", json=ce, headers={**sender_auth("workflows"),
                                                              "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 500  # the one delivery died; nobody redelivers it
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"]) == ("running", 1)
    assert (await engine.resume_due(older_than=3600)).get("succeeded") is None  # not yet due
    counts = await engine.resume_due(older_than=0)
    assert counts["succeeded"] >= 1, counts
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"]) == ("succeeded", 2)
    await drain(apps, only=FLOW)
    assert sorted(m.msg for m in texts(netgsm, mark)) == [f"{mark} 1 3000.00 TL", f"{mark} 2 3000.00 TL"]


async def test_a_transient_error_waits_at_its_step_and_the_redelivery_resumes(client, apps, shop, iyzico, netgsm, db,
                                                                             monkeypatch):
    from kopru.errors import KopruError
    from kopru.sms import service as sms_service

    mark = "Bekle " + nonce()
    r = await save(client, shop, big_payment_workflow(sms_step(mark)))
    wid = r.json()["id"]
    real, failed = sms_service.request_sms, []

    async def flaky(ctx, body, key):
        if not failed:
            failed.append(key)
            raise KopruError("unavailable")  # 503: the database or a provider could not be reached
        return await real(ctx, body, key)

    monkeypatch.setattr(sms_service, "request_sms", flaky)
    await pay(client, shop, iyzico, db, "1000.01")
    bus = await drain(apps, only=FLOW)
    assert failed and failed[0].startswith("wf-") and not bus.dead_letters
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"], run["attempts"]) == ("succeeded", 1, 1), run
    assert len(texts(netgsm, mark)) == 1


async def test_routes_read_list_delete_and_the_registry(client, shop, db):
    ids = []
    for i in range(3):
        r = await save(client, shop, {**big_payment_workflow(sms_step("x")), "name": f"akış {i}"})
        ids.append(r.json()["id"])
    r = await client("workflows").get("/workflows?limit=2", headers=bearer(shop["token"]))
    page = r.json()
    assert [w["id"] for w in page["workflows"]] == ids[:2] and page["next_cursor"]
    r = await client("workflows").get(f"/workflows?cursor={page['next_cursor']}", headers=bearer(shop["token"]))
    assert [w["id"] for w in r.json()["workflows"]] == ids[2:] and r.json()["next_cursor"] is None
    r = await client("workflows").get(f"/workflows/{ids[0]}", headers=bearer(shop["token"]))
    assert r.status_code == 200 and r.json()["steps"][0]["action"] == "sms.send"
    r = await client("workflows").patch(f"/workflows/{ids[1]}", json={"name": "yeni ad"}, headers=bearer(shop["token"]))
    assert r.status_code == 200 and (r.json()["name"], r.json()["enabled"]) == ("yeni ad", True), r.text
    r = await client("workflows").get(f"/workflows/{ids[1]}", headers=bearer(shop["token"]))
    assert r.json()["name"] == "yeni ad" and r.json()["updated_at"] > r.json()["created_at"]
    r = await client("workflows").delete(f"/workflows/{ids[0]}", headers=bearer(shop["token"]))
    assert r.status_code == 204
    r = await client("workflows").get(f"/workflows/{ids[0]}", headers=bearer(shop["token"]))
    assert (r.status_code, r.json()["code"]) == (404, "workflow.not_found")
    r = await client("workflows").get(f"/workflows/{ids[0]}/runs", headers=bearer(shop["token"]))
    assert r.status_code == 404
    r = await client("workflows").get("/workflows/actions", headers=bearer(shop["token"]))
    cat = r.json()
    by = {a["name"]: a for a in cat["actions"]}
    assert set(by) == {"sms.send", "webhook.call", "payment.refund", "einvoice.issue", "credit.request", "call.bridge",
                       "vehicle.locate", "whatsapp.send"}
    assert by["credit.request"]["scope"] == "credit:request" and "credit.no_consent" in by["credit.request"]["consent"][0]["en"]
    assert by["call.bridge"]["scope"] == "calls:write" and "to_call_caller" in by["sms.send"]["input"]["properties"]
    assert "kopru.call.missed.v1" in cat["trigger_types"]
    assert by["einvoice.issue"]["scope"] == "einvoice:write"
    assert by["sms.send"]["scope"] == "sms:send" and "İYS" in by["sms.send"]["consent"][0]["tr"]
    assert "message" in by["sms.send"]["input"]["properties"]
    assert SUCCEEDED in cat["trigger_types"]


async def test_a_line_feed_in_an_id_is_our_404_not_the_frameworks(client, shop):
    for fn, path in (("workflows", "/workflows/a%0Ab"), ("workflows", "/workflows/%0A/dry-run"),
                     ("webhooks", "/webhooks/endpoints/x%0A")):
        r = await client(fn).get(path, headers=bearer(shop["token"])) if "dry-run" not in path else \
            await client(fn).post(path, json={}, headers=bearer(shop["token"]))
        assert (r.status_code, r.headers["content-type"]) == (404, "application/problem+json"), (path, r.text)


async def test_a_refund_step_refunds_once(client, apps, shop, iyzico, netgsm, db):
    from kopru.workflows.engine import execute

    r = await save(client, shop, big_payment_workflow(
        {"action": "payment.refund", "input": {"payment_id": "data.payment_id", "amount": {"const": "25.00"},
                                               "reason": {"const": "buyer_request"}}}, name="Kargo iadesi"))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    pid = await pay(client, shop, iyzico, db, "1100.00")
    await drain(apps, only=FLOW)
    [run] = await runs_of(client, shop, wid)
    assert (run["status"], run["step"]) == ("succeeded", 1), run
    await redeliver(client, db, shop["id"], pid)
    assert await execute(shop["id"], uuid.UUID(run["id"]), actor="test") == "succeeded"
    refunds = db.execute("select amount, status from payment_refunds where payment_id = %s", (pid,)).fetchall()
    assert [(str(a), s) for a, s in refunds] == [("25.00", "succeeded")]
    r = await client("payment").get(f"/payments/{pid}", headers=bearer(shop["token"]))
    assert r.json()["status"] == "partially_refunded", r.text
