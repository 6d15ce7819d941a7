"""sms-report: Netgsm's delivery reports pushed to POST /sms/reports (the simulator
posts them over real HTTP to the function served on loopback) and polled on the
function's schedule tick; statuses mapped, each message moved once, another tenant's
messages out of reach, bad pushes refused."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.functions.test_sms_send import drain
from tests.helpers import NETGSM_PASSWORD as PASSWORD, NETGSM_USER as USER, bearer, sender_auth


@pytest.fixture(scope="module")
def served(apps):
    from kopru_tools.simulators.netgsm import serve

    with serve(apps["sms-report"]) as url:
        yield url


async def _report_url(client, t, served) -> str:
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/netgsm", headers=bearer(t["token"]),
                                              json={"usercode": USER, "password": PASSWORD, "msgheader": "ANADOLU"})
    assert r.status_code == 200, r.text
    url = urlsplit(r.json()["report_url"])
    assert url.path == "/function/sms-report/sms/reports"
    q = parse_qs(url.query)
    assert q["tenant"] == [str(t["id"])] and len(q["sig"][0]) >= 40
    return f"{served}/sms/reports?{url.query}"


async def _send(client, apps, t, numbers) -> tuple[list[str], list[str]]:
    ids = []
    for number in numbers:
        r = await client("sms-send").post("/sms", headers=bearer(t["token"]),
                                          json={"to": number, "message": "Kargonuz yolda", "kind": "transactional"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    await drain(apps)
    jobs = [(await client("sms-send").get(f"/sms/{i}", headers=bearer(t["token"]))).json()["netgsm_jobid"] for i in ids]
    return ids, jobs


async def _statuses(client, t, ids):
    return [(await client("sms-send").get(f"/sms/{i}", headers=bearer(t["token"]))).json() for i in ids]


async def test_pushed_reports_move_each_message_once(client, apps, sms_tenant, netgsm, served, db):
    url = await _report_url(client, sms_tenant, served)
    ids, jobs = await _send(client, apps, sms_tenant, ("05321110011", "05321110012", "05321110013"))
    netgsm.set_status(jobs[0], 1)   # delivered
    netgsm.set_status(jobs[1], 17)  # İYS error
    netgsm.set_status(jobs[2], 0)   # still pending
    assert await netgsm.push_reports(url, jobs) == 3
    got = await _statuses(client, sms_tenant, ids)
    assert [g["status"] for g in got] == ["delivered", "failed", "sent"]
    assert got[1]["error_code"] == "netgsm.report.17"
    assert [h["status"] for h in got[0]["history"]] == ["queued", "sending", "sent", "delivered"]
    events = lambda: sorted(r[0] for r in db.execute(  # noqa: E731
        "select type from outbox where tenant_id = %s and subject = any(%s) and type <> 'kopru.sms.requested.v1' "
        "and type <> 'kopru.sms.sent.v1'", (str(sms_tenant["id"]), ids)).fetchall())
    assert events() == ["kopru.sms.delivered.v1", "kopru.sms.failed.v1"]
    # Netgsm pushing the same reports again changes nothing
    r = httpx.post(url, json=[{"jobid": jobs[0], "status": 1}, {"jobid": jobs[1], "status": 17}])
    assert r.status_code == 200 and r.json()["repeated"] == 2
    assert events() == ["kopru.sms.delivered.v1", "kopru.sms.failed.v1"]
    # form fields are taken too
    netgsm.set_status(jobs[2], 1)
    r = httpx.post(url, data={"jobid": jobs[2], "status": "1", "number": "905321110013"})
    assert r.status_code == 200 and r.json()["delivered"] == 1
    assert (await _statuses(client, sms_tenant, ids[2:]))[0]["status"] == "delivered"


async def test_bad_pushes_are_refused_and_other_tenants_untouched(client, apps, sms_tenant, onboard, netgsm, served):
    url = await _report_url(client, sms_tenant, served)
    ids, jobs = await _send(client, apps, sms_tenant, ("05321110021",))
    q = parse_qs(urlsplit(url).query)
    base = url.split("?")[0]
    # a forged or missing signature, another tenant's signature on this tenant
    b = await onboard()
    b_url = await _report_url(client, b, served)
    b_sig = parse_qs(urlsplit(b_url).query)["sig"][0]
    for params in ({"tenant": q["tenant"][0], "sig": "A" * 43}, {"tenant": q["tenant"][0]},
                   {"tenant": q["tenant"][0], "sig": "ü" * 43},  # not even ASCII: still 403, not a 500
                   {"tenant": q["tenant"][0], "sig": b_sig}, {"tenant": "nope", "sig": q["sig"][0]}):
        r = httpx.post(base, params=params, json={"jobid": jobs[0], "status": 1})
        assert r.status_code == 403 and r.json()["code"] == "sms.report_push_forbidden", params
    # tenant B's own valid URL cannot reach tenant A's message
    r = httpx.post(b_url, json={"jobid": jobs[0], "status": 1})
    assert r.status_code == 200 and r.json()["unknown"] == 1
    assert (await _statuses(client, sms_tenant, ids))[0]["status"] == "sent"
    # malformed and incomplete bodies
    r = httpx.post(url, content=b'{"jobid": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "request.malformed_json"
    for body in ({"status": 1}, {"jobid": jobs[0]}, [], [1, 2], {"jobid": {"x": 1}, "status": 1}):
        r = httpx.post(url, json=body)
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", body
    r = httpx.post(url, content=b"[" + b'{"jobid": "1", "status": 1},' * 20000 + b"{}]",
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (await _statuses(client, sms_tenant, ids))[0]["status"] == "sent"


async def test_reports_are_polled_on_the_schedule_tick(client, apps, sms_tenant, netgsm):
    ids, jobs = await _send(client, apps, sms_tenant, ("05321110031",))
    netgsm.set_status(jobs[0], 1)
    r = await client("sms-report").post("/", content=b"", headers={
        "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/apis/v1/namespaces/kopru/pingsources/x",
        "ce-type": "dev.knative.sources.ping", "content-type": "application/json", **sender_auth("sms-report")})
    assert r.status_code == 200 and r.json()["delivered"] >= 1
    assert (await _statuses(client, sms_tenant, ids))[0]["status"] == "delivered"
