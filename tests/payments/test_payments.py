"""The payment function end to end against the iyzico simulator over real HTTP on loopback:
checkout form -> paid at iyzico -> `succeeded` exactly once however often (and however
concurrently) the browser callback and the notification arrive; declines, throttling, a
5xx mid-call, a lost callback and lost refund answers each end in one clear state; forged
and replayed notifications change nothing; another tenant reaches nothing. Calls are
counted at the simulator (what iyzico would see)."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import bearer
from tests.payments.conftest import API_KEY, BUYER, SECRET, TCKN, payment_body


def calls(sim, endpoint):
    return [c for c in sim.calls if c.endpoint == endpoint]


async def start(client, t, **kw):
    headers = {**bearer(t["token"]), **kw.pop("headers", {})}
    return await client("payment").post("/payments", json=payment_body(**kw), headers=headers)


async def read(client, t, pid):
    r = await client("payment").get(f"/payments/{pid}", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()


def token_of(out) -> str:
    return parse_qs(urlsplit(out["payment_page_url"]).query)["token"][0]


def callback_path(db, pid) -> str:
    """The callbackUrl we gave iyzico for this payment, as a path on the function."""
    from kopru.payments.service import callback_url

    tid = db.execute("select tenant_id from payments where id = %s", (pid,)).fetchone()[0]
    u = urlsplit(callback_url(tid, pid))
    return u.path.removeprefix("/function/payment") + "?" + u.query


def notify_path(url) -> str:
    u = urlsplit(url)
    return u.path.removeprefix("/function/payment") + "?" + u.query


def events(db, pid, type_):
    return db.execute("select count(*) from outbox where type = %s and subject = %s", (type_, str(pid))).fetchone()[0]


async def test_paid_once_when_callback_and_notification_each_arrive_twice_at_once(client, tenant, iyzico, db):
    before_init = len(calls(iyzico, "checkoutform.initialize"))
    r = await start(client, tenant)
    assert r.status_code == 201, r.text
    out = r.json()
    pid = out["id"]
    assert out["status"] == "pending" and out["amount"] == "150.00" and out["payment_page_url"].startswith("http")
    assert r.headers["location"] == f"/payments/{pid}"
    assert len(calls(iyzico, "checkoutform.initialize")) == before_init + 1
    # the TCKN is never in clear in our database, nor is the buyer's name
    raw = db.execute("select buyer_enc, basket::text from payments where id = %s", (pid,)).fetchone()
    assert TCKN.encode() not in bytes(raw[0]) and "Yılmaz".encode() not in bytes(raw[0])
    assert events(db, pid, "kopru.payment.initialized.v1") == 1

    seen = len(iyzico.recorder.got)
    fields = iyzico.complete(token_of(out))  # the buyer pays on iyzico's page
    note_raw, note_headers = (await iyzico.recorder.wait(seen + 1))[seen]
    assert json.loads(note_raw)["paymentConversationId"] == pid

    async def browser():
        return await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)

    async def notify():
        return await client("payment").post(notify_path(tenant["notification_url"]), content=note_raw, headers={
            "Content-Type": "application/json", "X-IYZ-SIGNATURE-V3": note_headers["x-iyz-signature-v3"]})

    res = await asyncio.gather(browser(), notify(), browser(), notify())
    for cb in (res[0], res[2]):
        assert cb.status_code == 303, cb.text
        loc = urlsplit(cb.headers["location"])
        assert (loc.netloc, loc.path) == ("magaza.example", "/odeme/sonuc")
        assert parse_qs(loc.query) == {"sepet": ["42"], "payment_id": [pid], "status": ["succeeded"]}
    # the notification once; its replay is refused and changes nothing
    assert sorted(x.status_code for x in (res[1], res[3])) == [200, 409]
    replay = next(x for x in (res[1], res[3]) if x.status_code == 409)
    assert replay.json()["code"] == "payment.notification_replayed"
    got = await read(client, tenant, pid)
    assert got["status"] == "succeeded" and got["iyzico_payment_id"] and got["paid_amount"] == "150.00"
    assert [h["status"] for h in got["history"]] == ["initializing", "pending", "succeeded"]
    assert events(db, pid, "kopru.payment.succeeded.v1") == 1
    assert "payment_page_url" not in got
    # one charge at iyzico, whatever we were told how often
    assert len([p for p in iyzico.payments if p.conversation_id == pid]) == 1
    # a later replay of the notification: refused before iyzico is even asked again
    reads = len(calls(iyzico, "checkoutform.retrieve")) + len(calls(iyzico, "payment.detail"))
    again = await notify()
    assert again.status_code == 409 and again.json()["code"] == "payment.notification_replayed"
    assert len(calls(iyzico, "checkoutform.retrieve")) + len(calls(iyzico, "payment.detail")) == reads


async def test_forged_and_foreign_notifications_and_callbacks_change_nothing(client, tenant, onboard, iyzico, db):
    from kopru.connectors.iyzico import notification_signature

    out = (await start(client, tenant)).json()
    pid = out["id"]
    seen = len(iyzico.recorder.got)
    iyzico.complete(token_of(out))
    note_raw, note_headers = (await iyzico.recorder.wait(seen + 1))[seen]
    note = json.loads(note_raw)
    path = notify_path(tenant["notification_url"])
    sig = note_headers["x-iyz-signature-v3"]
    other = await onboard()
    forged = [
        (path, note_raw, None),                                        # no signature
        (path, note_raw, "0" * 64),                                    # a wrong one
        (path, json.dumps({**note, "status": "FAILURE"}).encode(), sig),  # the body changed under it
        (path, note_raw, notification_signature("not-the-secret-key", note)),  # signed with another key
        (path.replace(str(tenant["id"]), str(other["id"])), note_raw, sig),   # another tenant's URL, same sig
        (path[:-3] + "abc", note_raw, sig),                             # the URL's MAC tampered
        (path, b"{not json", sig),
    ]
    for p, body, s in forged:
        headers = {"Content-Type": "application/json", **({"X-IYZ-SIGNATURE-V3": s} if s else {})}
        r = await client("payment").post(p, content=body, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "payment.notification_forbidden", (p, s, r.text)
        assert (await read(client, tenant, pid))["status"] == "pending"
    # the callback of another tenant, or with the MAC of another payment, is refused
    cb = callback_path(db, pid)
    for bad in (cb.replace(str(tenant["id"]), str(other["id"])), cb.replace(pid, str(uuid.uuid4()))):
        r = await client("payment").post(bad, data={"token": token_of(out)}, follow_redirects=False)
        assert r.status_code == 403 and r.json()["code"] == "payment.callback_forbidden", r.text
    assert (await read(client, tenant, pid))["status"] == "pending"
    assert events(db, pid, "kopru.payment.succeeded.v1") == 0
    # and another tenant's token does not read it
    r = await client("payment").get(f"/payments/{pid}", headers=bearer(other["token"]))
    assert r.status_code == 404 and r.json()["code"] == "payment.not_found"


async def test_a_bank_decline_fails_the_payment_with_its_code_in_turkish_and_english(client, tenant, iyzico, db):
    out = (await start(client, tenant)).json()
    pid = out["id"]
    fields = iyzico.complete(token_of(out), error_code="10051")
    r = await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
    assert r.status_code == 303 and "status=failed" in r.headers["location"]
    got = await read(client, tenant, pid)
    assert got["status"] == "failed" and got["error_code"] == "iyzico.10051"
    assert got["error"]["tr"] and got["error"]["en"] and "limit" in got["error"]["en"].lower()
    assert events(db, pid, "kopru.payment.failed.v1") == 1 and events(db, pid, "kopru.payment.succeeded.v1") == 0
    # a failed payment cannot be refunded
    r = await client("payment").post(f"/payments/{pid}/refunds", json={"amount": "1.00"}, headers=bearer(tenant["token"]))
    assert r.status_code == 409 and r.json()["code"] == "payment.not_refundable"


async def test_throttling_and_a_5xx_on_the_form_are_retried_with_the_same_key_and_one_form(client, tenant, iyzico, db):
    key = {"Idempotency-Key": f"sepet-{uuid.uuid4()}"}
    before = len(calls(iyzico, "checkoutform.initialize"))
    iyzico.fail_next(error_code="50000", endpoint="checkoutform.initialize")
    r = await start(client, tenant, headers=key)
    assert r.status_code == 503 and r.json()["code"] == "iyzico.unavailable", r.text
    pid = db.execute("select id from payments order by created_at desc limit 1").fetchone()[0]
    assert db.execute("select status from payments where id = %s", (pid,)).fetchone()[0] == "initializing"
    iyzico.fail_next(http_status=500, endpoint="checkoutform.initialize")
    r = await start(client, tenant, headers=key)
    assert r.status_code == 503, r.text
    r = await start(client, tenant, headers=key)  # the same payment, finished now
    assert r.status_code == 201 and r.headers.get("idempotent-replayed") == "true", r.text
    assert r.json()["id"] == str(pid) and r.json()["status"] == "pending"
    assert len(calls(iyzico, "checkoutform.initialize")) == before + 3  # throttled, 5xx, made
    r2 = await start(client, tenant, headers=key)
    assert r2.json()["payment_page_url"] == r.json()["payment_page_url"]
    assert len(calls(iyzico, "checkoutform.initialize")) == before + 3  # a replay calls nobody
    assert db.execute("select count(*) from payments where id = %s", (pid,)).fetchone()[0] == 1
    assert events(db, pid, "kopru.payment.initialized.v1") == 1
    # the same key with another basket is a conflict, not a replay
    r = await start(client, tenant, headers=key, amount="100.00",
                    items=[{"id": "k", "name": "Kitap", "category": "Kitap", "price": "100.00"}])
    assert r.status_code == 409 and r.json()["code"] == "request.idempotency_conflict"


async def test_a_lost_callback_is_settled_by_the_schedule_and_an_unpaid_expired_form_fails(client, tenant, iyzico, db):
    from kopru.payments.service import settle_stalled

    paid = (await start(client, tenant)).json()
    unpaid = (await start(client, tenant)).json()
    iyzico.complete(token_of(paid))  # paid; neither the browser nor the notification ever reach us
    # nothing is due yet: both were touched just now and their forms are alive
    await settle_stalled()
    assert (await read(client, tenant, paid["id"]))["status"] == "pending"
    db.execute("update payments set updated_at = now() - interval '1 hour' where id = %s", (paid["id"],))
    db.execute("update payments set token_expires_at = now() - interval '1 minute' where id = %s", (unpaid["id"],))
    detail_before = len(calls(iyzico, "payment.detail"))
    counts = await settle_stalled()
    assert counts["settled"] >= 2
    got = await read(client, tenant, paid["id"])
    assert got["status"] == "succeeded" and events(db, paid["id"], "kopru.payment.succeeded.v1") == 1
    got = await read(client, tenant, unpaid["id"])
    assert got["status"] == "failed" and got["error_code"] == "payment.expired"
    assert len(calls(iyzico, "payment.detail")) >= detail_before + 2  # asked by conversationId
    # settled ones are not asked again
    detail_before = len(calls(iyzico, "payment.detail"))
    await settle_stalled()
    assert len([c for c in calls(iyzico, "payment.detail")[detail_before:]
                if c.conversation_id in (paid["id"], unpaid["id"])]) == 0


async def _paid(client, tenant, iyzico, db) -> str:
    out = (await start(client, tenant)).json()
    fields = iyzico.complete(token_of(out))
    r = await client("payment").post(callback_path(db, out["id"]), data=fields, follow_redirects=False)
    assert r.status_code == 303 and "status=succeeded" in r.headers["location"], r.headers.get("location")
    return out["id"]


async def test_refunds_add_up_to_what_was_paid_and_never_beyond(client, tenant, iyzico, db):
    pid = await _paid(client, tenant, iyzico, db)
    url, h = f"/payments/{pid}/refunds", bearer(tenant["token"])
    r = await client("payment").post(url, json={"amount": "40.00", "reason": "buyer_request"}, headers=h)
    assert r.status_code == 202 and r.json()["status"] == "succeeded", r.text
    assert (await read(client, tenant, pid))["status"] == "partially_refunded"
    r = await client("payment").post(url, json={"amount": "110.01"}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "payment.refund_exceeds"
    r = await client("payment").post(url, json={"amount": "110.00"}, headers=h)
    assert r.status_code == 202 and r.json()["status"] == "succeeded", r.text
    got = await read(client, tenant, pid)
    assert got["status"] == "refunded" and got["refunded_amount"] == "150.00" and len(got["refunds"]) == 2
    assert events(db, pid, "kopru.payment.refunded.v1") == 2
    assert len([c for c in calls(iyzico, "payment.refund") if c.payment_id == got["iyzico_payment_id"]]) == 2
    assert iyzico.payment(got["iyzico_payment_id"]).refundable == 0


async def test_a_refund_whose_answer_was_lost_is_parked_not_paid_twice(client, tenant, iyzico, db):
    from kopru.payments.service import settle_stalled

    pid = await _paid(client, tenant, iyzico, db)
    iyzico.fail_next(drop=True, endpoint="payment.refund")  # iyzico refunds, the answer never comes
    r = await client("payment").post(f"/payments/{pid}/refunds", json={"amount": "10.00"},
                                     headers=bearer(tenant["token"]))
    assert r.status_code == 503 and r.json()["code"] == "iyzico.unavailable", r.text
    iyzico_id = db.execute("select iyzico_payment_id from payments where id = %s", (pid,)).fetchone()[0]
    n = len([c for c in calls(iyzico, "payment.refund") if c.payment_id == iyzico_id])
    assert n == 1
    # the schedule takes the stalled refund over: it is ambiguous, so it is parked, never sent again
    db.execute("update outward_calls set updated_at = now() - interval '1 hour' where operation = 'payment.refund' "
               "and ref = (select id::text from payment_refunds where payment_id = %s)", (pid,))
    await settle_stalled()
    got = await read(client, tenant, pid)
    assert got["refunds"][0]["status"] == "unknown" and got["status"] == "succeeded"
    assert len([c for c in calls(iyzico, "payment.refund") if c.payment_id == iyzico_id]) == 1
    assert db.execute("select state from outward_calls where operation = 'payment.refund' and ref = %s",
                      (got["refunds"][0]["id"],)).fetchone()[0] == "unknown"


async def test_cancel_once_then_nothing_more(client, tenant, iyzico, db):
    pid = await _paid(client, tenant, iyzico, db)
    h = bearer(tenant["token"])
    r = await client("payment").post(f"/payments/{pid}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    r = await client("payment").post(f"/payments/{pid}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    iyzico_id = r.json()["iyzico_payment_id"]
    assert len([c for c in calls(iyzico, "payment.cancel") if c.payment_id == iyzico_id]) == 1
    assert events(db, pid, "kopru.payment.cancelled.v1") == 1
    r = await client("payment").post(f"/payments/{pid}/refunds", json={"amount": "1.00"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "payment.not_refundable"


async def test_bad_baskets_and_missing_settings_write_nothing(client, tenant, onboard, iyzico, db):
    count = "select count(*) from payments"
    before = db.execute(count).fetchone()[0]
    cases = [
        (payment_body(amount="149.99"), 422, "payment.basket_mismatch"),
        (payment_body(amount="150.001"), 422, "payment.invalid_amount"),
        (payment_body(paid_amount="149.00"), 422, "payment.invalid_amount"),
        (payment_body(amount="-1"), 422, "payment.invalid_amount"),
        (payment_body(buyer={**BUYER, "ip": "999.1.1.1"}), 422, "payment.invalid_ip"),
        (payment_body(buyer={**BUYER, "identity_number": "123"}), 422, "request.validation_failed"),
        (payment_body(amount=150.0), 422, "request.validation_failed"),  # money as a JSON float: no
        (payment_body(return_url="javascript:alert(1)"), 422, "request.validation_failed"),
        (payment_body(items=[]), 422, "request.validation_failed"),
    ]
    for body, status, code in cases:
        r = await client("payment").post("/payments", json=body, headers=bearer(tenant["token"]))
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
        assert TCKN not in r.text
    bare = await onboard()
    r = await client("payment").post("/payments", json=payment_body(), headers=bearer(bare["token"]))
    assert r.status_code == 409 and r.json()["code"] == "payment.not_configured"
    assert db.execute(count).fetchone()[0] == before
    # wrong keys are refused when saved
    r = await client("tenant-onboarding").put(f"/tenants/{bare['id']}/integrations/iyzico", headers=bearer(bare["token"]),
                                              json={"api_key": API_KEY, "secret_key": "wrong-secret-key"})
    assert r.status_code == 422 and r.json()["code"] == "iyzico.credentials_invalid", r.text


async def test_a_signed_notification_of_a_payment_not_ours_is_answered_and_changes_nothing(client, tenant, iyzico, db):
    """Another shop on the same iyzico merchant: the notification verifies, names no payment
    of ours, and is answered 200 (iyzico stops retrying) with nothing written."""
    from kopru.connectors.iyzico import notification_signature

    body = {"paymentConversationId": str(uuid.uuid4()), "merchantId": 1, "token": "tok-elsewhere",
            "status": "SUCCESS", "iyziReferenceCode": str(uuid.uuid4()), "iyziEventType": "CHECKOUT_FORM_AUTH",
            "iyziEventTime": 1, "iyziPaymentId": 99}
    before = db.execute("select count(*) from payment_notifications").fetchone()[0]
    r = await client("payment").post(notify_path(tenant["notification_url"]), content=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "X-IYZ-SIGNATURE-V3": notification_signature(SECRET, body)})
    assert r.status_code == 200 and r.json() == {"matched": False}, r.text
    assert db.execute("select count(*) from payment_notifications").fetchone()[0] == before
