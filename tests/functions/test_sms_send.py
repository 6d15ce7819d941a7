"""sms-send end to end: POST /sms -> outbox -> relay -> bus -> the consumer -> Netgsm
(the simulator, over real HTTP on loopback) -> status, with the İYS rule, the bad
inputs, and the fault cases that must never send twice."""

import pytest

from tests.helpers import NETGSM_USER as USER, bearer, drain as drain_all

PHONE = "0532 123 45 67"


async def drain(apps):
    await drain_all(apps, only=("sms-send",))


def sent_to(netgsm, number="5321234567"):
    return [m for m in netgsm.messages if m.no == number]


async def test_send_end_to_end(client, apps, sms_tenant, netgsm, db):
    await drain(apps)  # nothing another module left queued is counted here
    before = len(netgsm.messages)
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": "Siparişiniz yola çıktı.", "kind": "transactional"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["encoding"] == "GSM7_TR" and body["segments"] == 1
    # nothing in clear at rest: not the number, not the text
    row = db.execute("select * from sms_messages where id = %s", (body["id"],)).fetchone()
    assert "Siparişiniz" not in str(row) and "5321234567" not in str(row)
    await drain(apps)
    got = (await client("sms-send").get(f"/sms/{body['id']}", headers=bearer(sms_tenant["token"]))).json()
    assert got["status"] == "sent" and got["netgsm_jobid"]
    assert [h["status"] for h in got["history"]] == ["queued", "sending", "sent"]
    assert len(netgsm.messages) == before + 1
    m = netgsm.messages[-1]
    assert m.msg == "Siparişiniz yola çıktı." and m.no == "5321234567" and m.iysfilter == "0"
    assert m.msgheader == "ANADOLU" and m.encoding == "TR"


async def test_ambiguous_5xx_then_crash_between_call_and_write_send_once(client, apps, sms_tenant, netgsm, monkeypatch,
                                                                        work_settings):
    """Netgsm answers 500 to the send (it may have taken it: ambiguous), the redelivery asks
    Netgsm's report first and finds nothing long enough after (absent: sent); then the
    process "dies" right after Netgsm accepted a second message and before the status
    write: the sweep, once the lease ran out, finds it in Netgsm's report and records it
    without sending again. Counted as calls at the simulator."""
    from kopru.connectors.netgsm import NetgsmClient
    from kopru.sms.service import recover_stalled

    work_settings(lease=1.5, absent_after=0)
    calls = lambda: [c for c in netgsm.calls if c.endpoint == "send"]  # noqa: E731
    netgsm.fail_next(http_status=500, endpoint="send")
    before = len(calls())
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": "+90 532 765 43 21", "message": "Kod: 1234", "kind": "transactional"})
    sms_id = r.json()["id"]
    await drain(apps)  # 500 (nothing taken) -> redelivered -> report asked -> absent -> sent
    got = (await client("sms-send").get(f"/sms/{sms_id}", headers=bearer(sms_tenant["token"]))).json()
    assert got["status"] == "sent" and [h["status"] for h in got["history"]] == ["queued", "sending", "sent"]
    assert len(calls()) == before + 2  # the 500 and the send: nothing else
    assert [m.no for m in netgsm.messages].count("5327654321") == 1

    real_send = NetgsmClient.send
    crashed = []

    async def send_then_die(self, *a, **kw):
        res = await real_send(self, *a, **kw)
        if not crashed:
            crashed.append(res.jobid)
            raise RuntimeError("killed between the call and the status write")
        return res

    monkeypatch.setattr(NetgsmClient, "send", send_then_die)
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": "+90 532 765 43 22", "message": "Kodunuz: 9876", "kind": "transactional"})
    sms2 = r.json()["id"]
    await drain(apps)  # accepted, "crash"; the redeliveries find its live lease: nothing sent
    assert (await client("sms-send").get(f"/sms/{sms2}", headers=bearer(sms_tenant["token"]))).json()["status"] == "sending"
    import asyncio

    await asyncio.sleep(1.6)  # the lease runs out
    from kopru.work import sweep

    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)
    counts = await recover_stalled()
    assert counts.get("succeeded", 0) >= 1, counts
    got = (await client("sms-send").get(f"/sms/{sms2}", headers=bearer(sms_tenant["token"]))).json()
    assert got["status"] == "sent" and got["netgsm_jobid"] == crashed[0]
    assert got["history"][-1] == {**got["history"][-1], "status": "sent", "code": "reconciled"}
    assert [m.no for m in netgsm.messages].count("5327654322") == 1
    assert len(calls()) == before + 3
    # the same event once more (a redelivery after sent): acknowledged, no call, no history, no event
    from kopru_tools.eventing import asgi_sender

    send = asgi_sender(apps["sms-send"], "sms-send")
    status, _ = await send({"ce-specversion": "1.0", "ce-id": "redelivered-1", "ce-source": "/kopru/sms-send",
                            "ce-type": "kopru.sms.requested.v1", "ce-tenantid": str(sms_tenant["id"]),
                            "content-type": "application/json"}, ('{"sms_id": "%s"}' % sms2).encode())
    assert status == 204 and len(calls()) == before + 3
    again = (await client("sms-send").get(f"/sms/{sms2}", headers=bearer(sms_tenant["token"]))).json()
    assert len(again["history"]) == len(got["history"])


async def test_permanent_netgsm_error_fails_without_retry(client, apps, sms_tenant, netgsm):
    netgsm.fail_next(code="40", endpoint="send")
    before = len(netgsm.messages)
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": "Merhaba", "kind": "transactional"})
    await drain(apps)
    got = (await client("sms-send").get(f"/sms/{r.json()['id']}", headers=bearer(sms_tenant["token"]))).json()
    assert got["status"] == "failed" and got["error_code"] == "netgsm.40"
    assert got["error"]["en"] == "The message header (sender name) is not registered with Netgsm." and got["error"]["tr"]
    assert len(netgsm.messages) == before


async def test_commercial_needs_an_iys_consent(client, apps, sms_tenant, netgsm, db):
    msg = {"to": "05551112233", "message": "Kampanya!", "kind": "commercial", "recipient_type": "BIREYSEL"}
    n = db.execute("select count(*) from sms_messages").fetchone()[0]
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]), json=msg)
    assert r.status_code == 422 and r.json()["code"] == "sms.iys_no_consent"
    assert db.execute("select count(*) from sms_messages").fetchone()[0] == n
    consent = {"subject": {"phone": "+905551112233"}, "purpose": "marketing", "legal_basis": "explicit_consent",
               "data_categories": ["contact"], "channel": "web", "consent_text": "Kampanya iletileri", "retention_days": 365,
               "iys": {"type": "MESAJ", "recipient_type": "BIREYSEL", "source": "HS_WEB"}}
    assert (await client("consent-record").post("/consents", json=consent, headers=bearer(sms_tenant["token"]))).status_code == 201
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]), json=msg)
    assert r.status_code == 202
    await drain(apps)
    assert sent_to(netgsm, "5551112233")[-1].iysfilter == "11"


@pytest.mark.parametrize("body,status,code", [
    ({"to": "12345", "message": "x", "kind": "transactional"}, 422, "sms.invalid_number"),
    ({"to": "0212 123 45 67", "message": "x", "kind": "transactional"}, 422, "sms.invalid_number"),  # a landline
    ({"to": PHONE, "message": "x", "kind": "commercial"}, 422, "sms.recipient_type_required"),
    ({"to": PHONE, "message": "x" * 1200, "kind": "transactional"}, 422, "sms.message_too_long"),
    ({"to": PHONE, "message": "x", "kind": "spam"}, 422, "request.validation_failed"),
    ({"to": PHONE, "message": "x", "kind": "transactional", "from": "X"}, 422, "request.validation_failed"),
    ({"to": 5321234567, "message": "x", "kind": "transactional"}, 422, "request.validation_failed"),
])
async def test_bad_sms_requests(client, sms_tenant, db, body, status, code):
    n = db.execute("select count(*) from sms_messages").fetchone()[0]
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]), json=body)
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert db.execute("select count(*) from sms_messages").fetchone()[0] == n


async def test_idempotency_key_replays_the_first_answer(client, apps, sms_tenant, netgsm):
    h = {**bearer(sms_tenant["token"]), "Idempotency-Key": "order-42-shipped"}
    body = {"to": PHONE, "message": "Kargonuz yolda", "kind": "transactional"}
    r1 = await client("sms-send").post("/sms", headers=h, json=body)
    r2 = await client("sms-send").post("/sms", headers=h, json=body)
    first, again = r1.json(), r2.json()
    assert again["id"] == first["id"] and again.get("replayed") is True and "replayed" not in first
    # the replay says so in a header too (the body keeps `replayed`, as SmsAccepted documents it)
    assert "idempotent-replayed" not in r1.headers and r2.headers["idempotent-replayed"] == "true"
    assert r1.headers["location"] == r2.headers["location"] == f"/sms/{first['id']}"
    # the same key with another message is refused, not mistaken for a replay
    r = await client("sms-send").post("/sms", headers=h, json={**body, "message": "Başka bir mesaj"})
    assert r.status_code == 409 and r.json()["code"] == "request.idempotency_conflict"


async def test_not_configured_and_wrong_credentials(client, onboard, netgsm):
    t = await onboard()
    r = await client("sms-send").post("/sms", headers=bearer(t["token"]), json={"to": PHONE, "message": "x", "kind": "otp"})
    assert r.status_code == 409 and r.json()["code"] == "sms.not_configured"
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/netgsm", headers=bearer(t["token"]),
                                              json={"usercode": USER, "password": "wrong", "msgheader": "KOPRU"})
    assert r.status_code == 422 and r.json()["code"] == "netgsm.credentials_invalid"


async def test_estimate(client, sms_tenant):
    r = await client("sms-send").post("/sms/estimate", headers=bearer(sms_tenant["token"]), json={"message": "Şişli'de buluşalım 😊"})
    assert r.status_code == 200 and r.json()["encoding"] == "UCS2" and r.json()["segments"] == 1


async def test_otp_goes_through_netgsms_otp_service(client, apps, sms_tenant, netgsm):
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": "Dogrulama kodunuz: 482913", "kind": "otp"})
    assert r.status_code == 202
    await drain(apps)
    got = (await client("sms-send").get(f"/sms/{r.json()['id']}", headers=bearer(sms_tenant["token"]))).json()
    assert got["status"] == "sent"
    assert netgsm.messages[-1].kind == "otp" and netgsm.messages[-1].msg == "Dogrulama kodunuz: 482913"
    # Turkish letters or two segments do not fit the OTP service
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": "Doğrulama kodunuz: 482913", "kind": "otp"})
    assert r.status_code == 422 and r.json()["code"] == "sms.otp_invalid"


async def test_delivery_reports_move_messages_to_delivered_or_failed(client, apps, sms_tenant, netgsm, db):
    from kopru.sms.service import poll_reports

    ids = []
    for number in ("05321110001", "05321110002", "05321110003"):
        r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                          json={"to": number, "message": "Bilgi", "kind": "transactional"})
        ids.append(r.json()["id"])
    await drain(apps)
    jobs = [(await client("sms-send").get(f"/sms/{i}", headers=bearer(sms_tenant["token"]))).json()["netgsm_jobid"] for i in ids]
    netgsm.set_status(jobs[0], 1)   # delivered
    netgsm.set_status(jobs[1], 16)  # İYS rejected
    netgsm.set_status(jobs[2], 0)   # still pending
    counts = await poll_reports()
    assert counts["delivered"] >= 1 and counts["failed"] >= 1
    got = [(await client("sms-send").get(f"/sms/{i}", headers=bearer(sms_tenant["token"]))).json() for i in ids]
    assert [g["status"] for g in got] == ["delivered", "failed", "sent"]
    assert got[1]["error_code"] == "netgsm.report.16"
    types = [r[0] for r in db.execute("select type from outbox where tenant_id = %s and subject = any(%s)",
                                      (str(sms_tenant["id"]), ids[:2])).fetchall()]
    assert "kopru.sms.delivered.v1" in types and "kopru.sms.failed.v1" in types


async def test_another_tenant_cannot_read_an_sms_by_its_real_id(client, onboard, sms_tenant):
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": "Merhaba", "kind": "transactional"})
    sms_id = r.json()["id"]
    other = await onboard()
    got = await client("sms-send").get(f"/sms/{sms_id}", headers=bearer(other["token"]))
    assert got.status_code == 404 and got.json()["code"] == "sms.not_found"
    assert (await client("sms-send").get(f"/sms/{sms_id}", headers=bearer(sms_tenant["token"]))).status_code == 200


async def test_integration_settings_read_back_without_secrets_and_test_connection(client, sms_tenant, onboard, netgsm):
    from tests.helpers import NETGSM_PASSWORD

    tid, h = sms_tenant["id"], bearer(sms_tenant["token"])
    got = await client("tenant-onboarding").get(f"/tenants/{tid}/integrations/netgsm", headers=h)
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["usercode"] and body["msgheader"] == "ANADOLU" and body["secrets_set"] == ["password"]
    assert NETGSM_PASSWORD not in got.text and "report_url" in body
    calls = len(netgsm.calls)
    t = await client("tenant-onboarding").post(f"/tenants/{tid}/integrations/netgsm/test", headers=h)
    assert t.status_code == 200 and t.json()["ok"] is True and len(netgsm.calls) == calls + 1
    # not configured, unknown provider, another tenant
    other = await onboard()
    r = await client("tenant-onboarding").get(f"/tenants/{other['id']}/integrations/netgsm", headers=bearer(other["token"]))
    assert r.status_code == 404 and r.json()["code"] == "integration.not_configured"
    r = await client("tenant-onboarding").get(f"/tenants/{tid}/integrations/netgsm", headers=bearer(other["token"]))
    assert r.status_code == 404 and r.json()["code"] == "tenant.not_found"
    r = await client("tenant-onboarding").get(f"/tenants/{tid}/integrations/iyzico", headers=h)
    assert r.status_code == 404
    # wrong credentials: refused by Netgsm, nothing stored (the old settings stay)
    r = await client("tenant-onboarding").put(f"/tenants/{tid}/integrations/netgsm", headers=h,
                                              json={"usercode": "8509999999", "password": "wrong", "msgheader": "X"})
    assert r.status_code == 422 and r.json()["code"] == "netgsm.credentials_invalid"
    assert (await client("tenant-onboarding").get(f"/tenants/{tid}/integrations/netgsm", headers=h)).json() == body


async def test_metrics_count_requests_per_function_and_sms_per_tenant(client, apps, sms_tenant, netgsm, monkeypatch):
    """kopru dev's /metrics (the OpenTelemetry SDK with the Prometheus exporter): after a
    send, the sms-send route's request counter and the tenant's SMS counter; route labels are
    templates, never ids."""
    import httpx

    from kopru.config import reset_settings
    from kopru_tools import metrics as tool_metrics
    from kopru_tools.gateway import Gateway

    monkeypatch.setenv("KOPRU_METRICS", "1")
    reset_settings()
    try:
        tool_metrics.setup()
        gw = httpx.AsyncClient(transport=httpx.ASGITransport(app=Gateway(dict(apps))), base_url="http://gw")
        r = await gw.post("/function/sms-send/sms", headers=bearer(sms_tenant["token"]),
                          json={"to": PHONE, "message": "Ölçüm", "kind": "transactional"})
        assert r.status_code == 202
        await gw.get(f"/function/sms-send/sms/{r.json()['id']}", headers=bearer(sms_tenant["token"]))
        await drain(apps)
        text = (await gw.get("/metrics")).text
        import re

        def samples(name):  # (labels, value) of one metric, parsed from the Prometheus text
            out = []
            for m in re.finditer(r"^%s\{(.*?)\} (\S+)$" % name, text, re.M):
                out.append((dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))), float(m.group(2))))
            return out

        tid = str(sms_tenant["id"])
        assert any(lb["function"] == "sms-send" and lb["route"] == "POST /sms" and lb["status"] == "2xx" and v >= 1
                   for lb, v in samples("kopru_requests_total")), text[-3000:]
        assert any(lb["route"] == "GET /sms/{id}" for lb, _ in samples("kopru_requests_total"))
        assert r.json()["id"] not in text  # route templates, never ids
        assert any(lb == {**lb, "outcome": "sent", "tenant": tid} and v >= 1 for lb, v in samples("kopru_sms_total"))
        assert "kopru_request_duration" in text and "5321234567" not in text
    finally:
        monkeypatch.undo()
        reset_settings()
