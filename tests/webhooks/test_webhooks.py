"""Outbound webhooks end to end over real HTTP on loopback: every delivery verifies with
the standardwebhooks library; failed attempts are retried on the schedule with one
webhook-id (counted at the receiver); 410 disables the endpoint; a rotated secret
verifies with either key during its window; loopback and metadata addresses are refused
when saved and when resolved at send; another tenant reaches nothing; bad input is a 4xx
with a stable code."""

from __future__ import annotations

import json
import uuid

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.helpers import bearer
from tests.webhooks.conftest import emit, payment_data

SUCCEEDED = "kopru.payment.succeeded.v1"


def row(db, sql, *args):
    return db.execute(sql, args).fetchone()


async def test_every_delivery_verifies_with_the_standardwebhooks_library(client, hooks, receiver, db):
    ep = await hooks["make"](event_types=[SUCCEEDED, "kopru.payment.failed.v1"], description="muhasebe")
    assert ep["secret"].startswith("whsec_")
    eur = await hooks["make"](filter=[{"exact": {"data.currency": "EUR"}}])
    sent = [await emit(client, hooks["id"], SUCCEEDED, payment_data()),
            await emit(client, hooks["id"], "kopru.payment.failed.v1",
                       {"payment_id": str(uuid.uuid4()), "code": "payment.declined"}),
            await emit(client, hooks["id"], SUCCEEDED, payment_data(currency="EUR")),
            await emit(client, hooks["id"], "kopru.payment.refunded.v1", {  # subscribed by nobody
                "payment_id": str(uuid.uuid4()), "refund_id": str(uuid.uuid4()), "amount": "1.00",
                "refunded_amount": "1.00", "currency": "TRY"})]
    got = receiver.at(ep["path"])
    assert len(got) == 3
    wh = Webhook(ep["secret"])
    for (headers, body), ce in zip(got, sent):
        payload = wh.verify(body, headers)
        assert payload == {"type": ce["type"], "timestamp": ce["time"], "data": ce["data"]}
        d = row(db, "select webhook_id, status, attempts, last_status from webhook_deliveries "
                    "where event_id = %s and endpoint_id = %s", ce["id"], ep["id"])
        assert d == (headers["webhook-id"], "succeeded", 1, 200)
        with pytest.raises(WebhookVerificationError):  # another key does not verify it
            Webhook("whsec_" + "QUJD" * 8).verify(body, headers)
    # the filter let only the EUR payment through
    [(headers, body)] = receiver.at(eur["path"])
    assert Webhook(eur["secret"]).verify(body, headers)["data"]["currency"] == "EUR"
    # a redelivered event makes nothing twice (inbox)
    await emit(client, hooks["id"], SUCCEEDED, sent[0]["data"], event_id=sent[0]["id"])
    assert len(receiver.at(ep["path"])) == 3
    # the secret is never stored in clear nor shown again
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}", headers=bearer(hooks["token"]))
    assert r.status_code == 200 and ep["secret"] not in r.text and "secret" not in r.json()
    raw = row(db, "select secret_enc from webhook_endpoints where id = %s", ep["id"])[0]
    assert ep["secret"].encode() not in bytes(raw) and ep["secret"][6:].encode() not in bytes(raw)
    # the log shows it
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}/deliveries?limit=2", headers=bearer(hooks["token"]))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [d["status"] for d in page["deliveries"]] == ["succeeded"] * 2 and page["next_cursor"]
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}/deliveries?cursor={page['next_cursor']}",
                                     headers=bearer(hooks["token"]))
    assert len(r.json()["deliveries"]) == 1 and r.json()["next_cursor"] is None


async def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(client, hooks, receiver, db):
    from kopru.webhooks.delivery import send_due

    ep = await hooks["make"]()
    receiver.script[ep["path"]] = [500, (503, {"Retry-After": "1"}), 200]
    ce = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert len(receiver.at(ep["path"])) == 1  # the first attempt, at once
    d = row(db, "select status, attempts, last_status, last_code, "
                "extract(epoch from next_attempt_at - now()) from webhook_deliveries where event_id = %s", ce["id"])
    assert d[:4] == ("pending", 1, 500, "webhook.http_error") and 3.5 < d[4] < 6
    # the tick waits (within its budget) for the 5-second retry
    await send_due(budget=8)
    assert len(receiver.at(ep["path"])) == 2
    d = row(db, "select attempts, last_status, extract(epoch from next_attempt_at - now()) from webhook_deliveries "
                "where event_id = %s", ce["id"])
    assert d[:2] == (2, 503) and 240 < d[2] < 360  # 5 minutes +-10 %, longer than Retry-After
    assert row(db, "select failing_since is not null from webhook_endpoints where id = %s", ep["id"])[0]
    await send_due(budget=0)  # not due yet: nothing sent
    assert len(receiver.at(ep["path"])) == 2
    db.execute("update webhook_deliveries set next_attempt_at = now() where event_id = %s", (ce["id"],))
    await send_due(budget=0)
    got = receiver.at(ep["path"])
    assert len(got) == 3
    assert len({h["webhook-id"] for h, _ in got}) == 1 and len({b for _, b in got}) == 1
    for h, b in got:
        Webhook(ep["secret"]).verify(b, h)
    d = row(db, "select status, attempts, last_status, last_code, delivered_at is not null from webhook_deliveries "
                "where event_id = %s", ce["id"])
    assert d == ("succeeded", 3, 200, None, True)
    assert row(db, "select failing_since from webhook_endpoints where id = %s", ep["id"])[0] is None
    # one outward call, ended once
    assert row(db, "select state from outward_calls where provider = 'webhook' and ref = "
                   "(select call_ref::text from webhook_deliveries where event_id = %s)", ce["id"]) == ("succeeded",)
    # a replay sends it again with the same webhook-id
    did = row(db, "select id from webhook_deliveries where event_id = %s", ce["id"])[0]
    r = await client("webhooks").post(f"/webhooks/deliveries/{did}/replay", headers=bearer(hooks["token"]))
    assert r.status_code == 202 and r.json()["status"] == "succeeded" and r.json()["replays"] == 1, r.text
    assert [h["webhook-id"] for h, _ in receiver.at(ep["path"])] == [got[0][0]["webhook-id"]] * 4


async def test_410_disables_the_endpoint_and_tells_the_tenant(client, hooks, receiver, db):
    ep = await hooks["make"]()
    receiver.script[ep["path"]] = [410]
    ce = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert row(db, "select status, attempts, last_status, last_code from webhook_deliveries where event_id = %s",
               ce["id"]) == ("failed", 1, 410, "webhook.endpoint_gone")
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}", headers=bearer(hooks["token"]))
    assert (r.json()["enabled"], r.json()["disabled_reason"]) == (False, "gone")
    told = row(db, "select data from outbox where type = 'kopru.webhook.endpoint_disabled.v1' and subject = %s",
               ep["id"])[0]
    assert told["reason"] == "gone" and told["code"] == "webhook.endpoint_gone"
    await emit(client, hooks["id"], SUCCEEDED, payment_data())  # nothing goes to a disabled endpoint
    assert len(receiver.at(ep["path"])) == 1
    did = row(db, "select id from webhook_deliveries where event_id = %s", ce["id"])[0]
    r = await client("webhooks").post(f"/webhooks/deliveries/{did}/replay", headers=bearer(hooks["token"]))
    assert r.status_code == 409 and r.json()["code"] == "webhook.endpoint_disabled"
    r = await client("webhooks").patch(f"/webhooks/endpoints/{ep['id']}", json={"enabled": True},
                                       headers=bearer(hooks["token"]))
    assert r.status_code == 200 and r.json()["enabled"] and r.json()["disabled_reason"] is None
    await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert len(receiver.at(ep["path"])) == 2


async def test_an_endpoint_failing_for_five_days_is_disabled(client, hooks, receiver, db):
    ep = await hooks["make"]()
    receiver.script[ep["path"]] = [500]
    db.execute("update webhook_endpoints set failing_since = now() - interval '5 days 1 minute' where id = %s",
               (ep["id"],))
    ce = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}", headers=bearer(hooks["token"]))
    assert (r.json()["enabled"], r.json()["disabled_reason"]) == (False, "failing")
    assert row(db, "select data->>'reason' from outbox where type = 'kopru.webhook.endpoint_disabled.v1' "
                   "and subject = %s", ep["id"]) == ("failing",)
    from kopru.webhooks.delivery import send_due

    db.execute("update webhook_deliveries set next_attempt_at = now() where event_id = %s", (ce["id"],))
    await send_due(budget=0)
    assert row(db, "select status, last_code from webhook_deliveries where event_id = %s", ce["id"]) == \
        ("failed", "webhook.endpoint_disabled")
    assert len(receiver.at(ep["path"])) == 1


async def test_a_rotated_secret_verifies_with_either_key_during_the_window(client, hooks, receiver, db):
    ep = await hooks["make"]()
    r = await client("webhooks").post(f"/webhooks/endpoints/{ep['id']}/rotate", headers=bearer(hooks["token"]))
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != ep["secret"] and r.json()["previous_secret_until"]
    await emit(client, hooks["id"], SUCCEEDED, payment_data())
    [(h, b)] = receiver.at(ep["path"])
    assert len(h["webhook-signature"].split(" ")) == 2
    Webhook(ep["secret"]).verify(b, h)
    Webhook(new).verify(b, h)
    db.execute("update webhook_endpoints set previous_secret_until = now() - interval '1 second' where id = %s",
               (ep["id"],))
    await emit(client, hooks["id"], SUCCEEDED, payment_data())
    h, b = receiver.at(ep["path"])[1]
    assert len(h["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(b, h)
    with pytest.raises(WebhookVerificationError):
        Webhook(ep["secret"]).verify(b, h)


@pytest.mark.parametrize("url,code", [
    ("https://127.0.0.1/hook", "webhook.url_forbidden"),
    ("https://169.254.169.254/latest/meta-data/", "webhook.url_forbidden"),
    ("https://[fd00:ec2::254]/", "webhook.url_forbidden"),
    ("https://[::ffff:127.0.0.1]/", "webhook.url_forbidden"),
    ("https://10.1.2.3/", "webhook.url_forbidden"),
    ("https://100.64.0.1/", "webhook.url_forbidden"),
    ("https://localhost:8443/", "webhook.url_forbidden"),
    ("https://metadata.google.internal/", "webhook.url_forbidden"),
    ("http://hooks.example.com/", "webhook.url_https_required"),
    ("https://user:pw@hooks.example.com/", "webhook.url_invalid"),
    ("https://hooks.example.com/#x", "webhook.url_invalid"),
    ("ftp://hooks.example.com/", "webhook.url_invalid"),
    ("https:///nohost", "webhook.url_invalid"),
])
async def test_private_addresses_are_refused_when_saved(client, hooks, private, db, url, code):
    private(False)
    before = row(db, "select count(*) from webhook_endpoints")[0]
    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(hooks["token"]),
                                      json={"url": url, "event_types": [SUCCEEDED]})
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert url not in r.text
    assert row(db, "select count(*) from webhook_endpoints")[0] == before


async def test_private_addresses_are_refused_when_resolved_at_send(client, hooks, receiver, private, db):
    from kopru.webhooks import guard

    ep = await hooks["make"]()  # saved while private addresses are allowed (kopru dev)
    meta = await hooks["make"](url="http://169.254.169.254/latest/meta-data/")
    private(False)
    ce = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert receiver.at(ep["path"]) == []
    for e in (ep, meta):
        assert row(db, "select status, attempts, last_code, last_status from webhook_deliveries "
                       "where event_id = %s and endpoint_id = %s", ce["id"], e["id"]) == \
            ("pending", 1, "webhook.address_forbidden", None)
    # a name is judged by every address it resolves to
    with pytest.raises(guard.Forbidden):
        await guard.resolve("localhost", 443)
    for ip in ("127.0.0.1", "169.254.169.254", "fd00:ec2::254", "::1", "192.168.1.1", "100.100.100.200",
               "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "0.0.0.0"):
        with pytest.raises(guard.Forbidden):
            await guard.resolve(ip, 443)
    assert await guard.resolve("93.184.216.34", 443) == "93.184.216.34"
    with pytest.raises(guard.SendError) as err:
        await guard.post(receiver.url + ep["path"], b"{}", {}, timeout=5)
    assert err.value.code == "webhook.address_forbidden" and not err.value.sent
    assert receiver.at(ep["path"]) == []


async def test_redirects_are_not_followed(client, hooks, receiver, db):
    ep = await hooks["make"]()
    receiver.script[ep["path"]] = [(307, {"Location": receiver.url + "/elsewhere"})]
    ce = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert receiver.at("/elsewhere") == []
    assert row(db, "select last_status, last_code from webhook_deliveries where event_id = %s", ce["id"]) == \
        (307, "webhook.http_error")


async def test_another_tenants_endpoints_and_deliveries_are_404(client, hooks, onboard, receiver, db):
    b_ep = await hooks["make"]()  # tenant "hooks" is B here
    await emit(client, hooks["id"], SUCCEEDED, payment_data())
    b_delivery = row(db, "select id from webhook_deliveries where endpoint_id = %s", b_ep["id"])[0]
    a = await onboard()
    h = bearer(a["token"])
    w = client("webhooks")
    for method, url, body in (
            ("GET", f"/webhooks/endpoints/{b_ep['id']}", None),
            ("PATCH", f"/webhooks/endpoints/{b_ep['id']}", {"enabled": False}),
            ("DELETE", f"/webhooks/endpoints/{b_ep['id']}", None),
            ("POST", f"/webhooks/endpoints/{b_ep['id']}/rotate", None),
            ("GET", f"/webhooks/endpoints/{b_ep['id']}/deliveries", None),
            ("POST", f"/webhooks/endpoints/{b_ep['id']}/replay?since=2026-01-01T00:00:00Z", None),
            ("POST", f"/webhooks/deliveries/{b_delivery}/replay", None)):
        r = await w.request(method, url, headers=h, json=body)
        assert r.status_code in (404, 422) and r.json()["code"].startswith("webhook."), (method, url, r.text)
        if r.status_code == 422:
            assert r.json()["code"] == "webhook.since_invalid"
    r = await w.post(f"/webhooks/endpoints/{b_ep['id']}/replay?since=" + _recent(), headers=h)
    assert r.status_code == 404 and r.json()["code"] == "webhook.endpoint_not_found"
    r = await w.get("/webhooks/endpoints", headers=h)
    assert r.status_code == 200 and r.json()["endpoints"] == []
    assert row(db, "select enabled from webhook_endpoints where id = %s", b_ep["id"]) == (True,)
    # A's event reaches none of B's endpoints
    await emit(client, a["id"], SUCCEEDED, payment_data())
    assert len(receiver.at(b_ep["path"])) == 1


def _recent() -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+", "%2B")


@pytest.mark.parametrize("body,code", [
    ({"url": "https://hooks.example.com/", "event_types": ["*"]}, "webhook.event_type_unknown"),
    ({"url": "https://hooks.example.com/", "event_types": ["kopru.sms.requested.v1"]}, "webhook.event_type_unknown"),
    ({"url": "https://hooks.example.com/", "event_types": ["kopru.nope.v1"]}, "webhook.event_type_unknown"),
    ({"url": "https://hooks.example.com/", "event_types": []}, "request.validation_failed"),
    ({"url": "https://hooks.example.com/", "event_types": ["kopru.consent.recorded.v1"]},
     "webhook.personal_data_undeclared"),
    ({"url": "https://hooks.example.com/", "event_types": [SUCCEEDED], "personal_data": True},
     "webhook.purpose_required"),
    ({"url": "https://hooks.example.com/", "event_types": [SUCCEEDED], "filter": [{"regex": {"type": ".*"}}]},
     "webhook.filter_invalid"),
    ({"url": "https://hooks.example.com/", "event_types": [SUCCEEDED], "filter": [{"exact": {"data": "x"}}]},
     "webhook.filter_invalid"),
    ({"url": "https://hooks.example.com/", "event_types": [SUCCEEDED], "tenant_id": str(uuid.uuid4())},
     "request.validation_failed"),
    ({"url": 42, "event_types": [SUCCEEDED]}, "request.validation_failed"),
])
async def test_bad_bodies_are_4xx_with_a_stable_code(client, hooks, db, body, code):
    before = row(db, "select count(*) from webhook_endpoints")[0]
    r = await client("webhooks").post("/webhooks/endpoints", json=body, headers=bearer(hooks["token"]))
    assert 400 <= r.status_code < 500 and r.json()["code"] == code, r.text
    assert row(db, "select count(*) from webhook_endpoints")[0] == before


async def test_garbage_ids_cursors_and_times_are_4xx(client, hooks):
    w, h = client("webhooks"), bearer(hooks["token"])
    ep = await hooks["make"]()
    for method, url, status, code in (
            ("GET", "/webhooks/endpoints/not-a-uuid", 404, "webhook.endpoint_not_found"),
            ("GET", f"/webhooks/endpoints/{uuid.uuid4()}", 404, "webhook.endpoint_not_found"),
            ("POST", "/webhooks/deliveries/xyz/replay", 404, "webhook.delivery_not_found"),
            ("GET", "/webhooks/endpoints?cursor=Zm9yZ2Vk", 400, "request.invalid_cursor"),
            ("GET", "/webhooks/endpoints?limit=0", 422, "request.validation_failed"),
            ("POST", f"/webhooks/endpoints/{ep['id']}/replay?since=yesterday", 422, "webhook.since_invalid"),
            ("POST", f"/webhooks/endpoints/{ep['id']}/replay?since=2026-01-01T00:00:00", 422, "webhook.since_invalid"),
            ("POST", f"/webhooks/endpoints/{ep['id']}/replay", 422, "webhook.since_invalid")):
        r = await w.request(method, url, headers=h)
        assert (r.status_code, r.json()["code"]) == (status, code), (url, r.text)
    r = await w.post("/webhooks/endpoints", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "request.malformed_json"
    r = await w.patch(f"/webhooks/endpoints/{ep['id']}", json={"event_types": ["kopru.consent.withdrawn.v1"]},
                      headers=h)
    assert r.status_code == 422 and r.json()["code"] == "webhook.personal_data_undeclared"
    r = await w.get("/webhooks/endpoints", headers=bearer(hooks["token"]) | {"Authorization": "Bearer forged"})
    assert r.status_code == 401


async def test_replay_since_sends_finished_deliveries_again(client, hooks, receiver, db):
    from kopru.webhooks.delivery import send_due

    ep = await hooks["make"]()
    for _ in range(3):
        await emit(client, hooks["id"], SUCCEEDED, payment_data())
    r = await client("webhooks").post(f"/webhooks/endpoints/{ep['id']}/replay?since={_recent()}",
                                      headers=bearer(hooks["token"]))
    assert r.status_code == 202 and r.json()["replayed"] == 3, r.text
    await send_due(budget=0)
    got = receiver.at(ep["path"])
    assert len(got) == 6 and len({h["webhook-id"] for h, _ in got}) == 3


async def test_a_personal_data_webhook_is_a_disclosure_in_the_subjects_export(client, hooks, receiver, apps, db):
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import collect
    from tests.helpers import drain

    ep = await hooks["make"](event_types=["kopru.consent.recorded.v1"], personal_data=True,
                             purpose="CRM'de pazarlama izinlerini güncellemek")
    other = await hooks["make"]()  # payments only, no personal data
    r = await client("consent-record").post("/consents", headers=bearer(hooks["token"]), json={
        "subject": {"phone": "+905321234567"}, "purpose": "marketing", "legal_basis": "explicit_consent",
        "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30})
    assert r.status_code == 201, r.text
    subject = r.json()["subject_id"]
    await drain(apps, only=("webhooks",))
    [(h, b)] = receiver.at(ep["path"])
    data = Webhook(ep["secret"]).verify(b, h)["data"]
    assert data["subject_id"] == subject and "+905321234567" not in b.decode() and "5321234567" not in b.decode()
    assert receiver.at(other["path"]) == []
    async with tenant_transaction(hooks["id"], actor="test") as tx:
        doc = await collect(tx, uuid.UUID(subject))
    [tp] = [t for t in doc["third_parties"] if t["source"] == "webhook_deliveries"]
    assert tp["records"] == 1 and "webhook" in tp["recipient"]
    [rec] = doc["records"]["webhook_deliveries"]
    assert rec["host"] == "127.0.0.1" and rec["purpose"] == "CRM'de pazarlama izinlerini güncellemek"
    assert json.loads(rec["body"])["data"]["subject_id"] == subject


async def test_erasing_a_subject_clears_what_its_webhooks_carried_and_names_the_receiver(client, hooks, receiver,
                                                                                         apps, db):
    """The erasure report tells the subject where its data went (the receiver, which Köprü
    cannot erase at), and the delivery log keeps no copy of what was sent; a delivery still
    waiting for a retry is not sent afterwards with nothing in it."""
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import collect, erase_subject
    from tests.helpers import drain

    ep = await hooks["make"](event_types=["kopru.consent.recorded.v1"], personal_data=True,
                             purpose="CRM'de pazarlama izinlerini güncellemek")
    r = await client("consent-record").post("/consents", headers=bearer(hooks["token"]), json={
        "subject": {"phone": "+905321234599"}, "purpose": "marketing", "legal_basis": "explicit_consent",
        "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30})
    assert r.status_code == 201, r.text
    subject = uuid.UUID(r.json()["subject_id"])
    await drain(apps, only=("webhooks",))
    assert len(receiver.at(ep["path"])) == 1
    async with tenant_transaction(hooks["id"], actor="test") as tx:
        report = await erase_subject(tx, subject)
    [cleared] = [c for c in report["cleared"] if c["table"] == "webhook_deliveries"]
    assert cleared["rows"] == 1 and cleared["columns"] == ["body"]
    [tp] = [t for t in report["third_parties"] if "webhook" in t["recipient"]]
    assert tp["records"] == 1 and tp["notified"] is False
    bodies = db.execute("select body from webhook_deliveries where subject_id = %s", (subject,)).fetchall()
    assert bodies == [(None,)]
    async with tenant_transaction(hooks["id"], actor="test") as tx:
        doc = await collect(tx, subject)
    assert all(rec.get("body") is None for rec in doc["records"].get("webhook_deliveries", []))
    # the log still lists the delivery (its status, times, receiver), with no payload
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}/deliveries", headers=bearer(hooks["token"]))
    assert r.status_code == 200 and [d["payload"] for d in r.json()["deliveries"]] == [None]


async def test_a_patch_changes_what_the_endpoint_takes_and_an_empty_filter_removes_it(client, hooks, receiver, db):
    ep = await hooks["make"](filter=[{"exact": {"data.currency": "EUR"}}])
    h = bearer(hooks["token"])
    r = await client("webhooks").patch(f"/webhooks/endpoints/{ep['id']}", headers=h, json={
        "description": "muhasebe", "event_types": [SUCCEEDED, "kopru.payment.failed.v1"],
        "filter": [{"exact": {"data.currency": "TRY"}}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["description"], sorted(out["event_types"]), out["filter"]) == (
        "muhasebe", sorted([SUCCEEDED, "kopru.payment.failed.v1"]), [{"exact": {"data.currency": "TRY"}}])
    await emit(client, hooks["id"], SUCCEEDED, payment_data(currency="EUR"))
    tl = await emit(client, hooks["id"], SUCCEEDED, payment_data())
    assert [json.loads(b)["data"]["payment_id"] for _, b in receiver.at(ep["path"])] == [tl["data"]["payment_id"]]
    r = await client("webhooks").patch(f"/webhooks/endpoints/{ep['id']}", headers=h, json={"filter": []})
    assert r.status_code == 200 and r.json()["filter"] is None, r.text
    await emit(client, hooks["id"], SUCCEEDED, payment_data(currency="EUR"))
    assert len(receiver.at(ep["path"])) == 2
    r = await client("webhooks").get(f"/webhooks/endpoints/{ep['id']}", headers=h)
    assert r.json()["filter"] is None and r.json()["description"] == "muhasebe"
