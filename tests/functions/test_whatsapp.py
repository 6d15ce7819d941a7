"""whatsapp end to end: POST /whatsapp/messages -> outbox -> relay -> bus -> the consumer ->
the Cloud API (the simulator over real HTTP on loopback) -> status; Meta's webhook (the
simulator's signed notifications, delivered byte for byte to the function) with statuses
applied once and inbound messages opening the 24-hour window; the error codes; a send whose
answer was lost."""

from __future__ import annotations

import json

import pytest

from tests.helpers import bearer, drain as drain_all, pointed

PNID, TOKEN, APP_SECRET, VERIFY = "106540352242922", "EAAG-test-token-1", "app-secret-test-1", "verify-token-test-1"


@pytest.fixture(scope="module")
def wa(services):
    from kopru_tools.simulators.whatsapp import WhatsAppSimulator, serve

    sim = WhatsAppSimulator()
    sim.add_number(PNID, TOKEN, APP_SECRET)
    sim.add_template("siparis_kargoda", "tr", params=1)
    sim.add_template("kampanya", "tr", category="MARKETING")
    sim.add_template("durduruldu", "tr", status="PAUSED")
    with serve(sim) as url, pointed("WHATSAPP_BASE_URL", url):
        sim.url = url
        yield sim


@pytest.fixture
async def tenant(client, onboard, wa):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/whatsapp", headers=bearer(t["token"]),
                                              json={"phone_number_id": PNID, "access_token": TOKEN,
                                                    "app_secret": APP_SECRET, "verify_token": VERIFY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert TOKEN not in r.text and APP_SECRET not in r.text and VERIFY not in r.text
    assert body["secrets_set"] == ["access_token", "app_secret", "verify_token"]
    assert body["verified_name"] == "Köprü Dev"
    t["hook"] = "/whatsapp/webhooks/" + body["webhook_url"].split("/whatsapp/webhooks/", 1)[1]
    return t


async def drain(apps):
    await drain_all(apps, only=("whatsapp",))


def sends(wa):
    return [c for c in wa.calls if c.endpoint == "messages"]


async def received_sends(wa) -> int:
    """The sends the simulator received, refused ones included, through its inspection route
    (calls, not the messages it kept: a second send of one message counts)."""
    import httpx

    async with httpx.AsyncClient() as c:
        r = await c.get(wa.url + "/_simulator/calls")
    assert r.status_code == 200
    return len([c for c in r.json()["calls"] if c["endpoint"] == "messages"])


async def post_hook(client, t, raw: bytes, headers: dict):
    return await client("whatsapp").post(t["hook"], content=raw, headers=headers)


async def send(client, t, **body):
    body.setdefault("category", "transactional")
    return await client("whatsapp").post("/whatsapp/messages", headers=bearer(t["token"]), json=body)


async def read(client, t, mid):
    r = await client("whatsapp").get(f"/whatsapp/messages/{mid}", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()


# -- the webhook's verification and signature -------------------------------------------------

async def test_verification_get_answers_the_challenge_only_with_the_verify_token(client, tenant):
    q = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    r = await client("whatsapp").get(tenant["hook"], params=q)
    assert r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    r = await client("whatsapp").get(tenant["hook"], params={**q, "hub.verify_token": "not-the-token"})
    assert r.status_code == 403 and r.json()["code"] == "whatsapp.verify_token_invalid" and "1158201444" not in r.text
    r = await client("whatsapp").get(tenant["hook"], params={**q, "hub.mode": "unsubscribe"})
    assert r.status_code == 403
    # another tenant's id under this tenant's MAC: refused before any setting is read
    forged = tenant["hook"].replace(str(tenant["id"]), "00000000-0000-4000-8000-000000000000")
    r = await client("whatsapp").get(forged, params=q)
    assert r.status_code == 403 and r.json()["code"] == "whatsapp.webhook_forbidden"
    # a signature that is not even ASCII: the same 403, never a 500
    r = await client("whatsapp").get(tenant["hook"].rsplit("/", 1)[0] + "/%C3%BC%F0%9F%94%91", params=q)
    assert r.status_code == 403 and r.json()["code"] == "whatsapp.webhook_forbidden", r.text


async def test_signed_post_is_applied_and_a_wrong_or_missing_signature_is_not(client, tenant, wa, db):
    raw, headers = wa.inbound(PNID, "+905321110001", "Merhaba, siparişim nerede?")
    count = lambda: db.execute("select count(*) from whatsapp_inbound where tenant_id = %s",  # noqa: E731
                               (tenant["id"],)).fetchone()[0]
    windows = lambda: db.execute("select count(*) from whatsapp_windows where tenant_id = %s",  # noqa: E731
                                 (tenant["id"],)).fetchone()[0]
    r = await post_hook(client, tenant, raw, {"content-type": "application/json"})
    assert r.status_code == 401 and r.json()["code"] == "whatsapp.signature_missing"
    bad = {**headers, "x-hub-signature-256": "sha256=" + "0" * 64}
    r = await post_hook(client, tenant, raw, bad)
    assert r.status_code == 403 and r.json()["code"] == "whatsapp.signature_invalid"
    # the right signature over other bytes (one space more) does not pass either: the raw body is signed
    r = await post_hook(client, tenant, raw + b" ", headers)
    assert r.status_code == 403
    # signed, but nested past any parser's depth: a clear 422, not a 500
    import hashlib
    import hmac

    deep = b"[" * 100_000 + b"]" * 100_000  # under the body limit, past the parser's depth
    r = await post_hook(client, tenant, deep, {"content-type": "application/json", "x-hub-signature-256":
                        "sha256=" + hmac.new(APP_SECRET.encode(), deep, hashlib.sha256).hexdigest()})
    assert (r.status_code, r.json()["code"]) == (422, "request.validation_failed"), r.text[:200]
    assert count() == 0 and windows() == 0  # nothing applied
    r = await post_hook(client, tenant, raw, headers)
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 1 and count() == 1 and windows() == 1
    # the number is personal data under the register: not in clear in the rows
    row = db.execute("select * from whatsapp_inbound where tenant_id = %s", (tenant["id"],)).fetchone()
    assert "5321110001" not in str(row)
    ev = db.execute("select data from outbox where tenant_id = %s and type = 'kopru.whatsapp.received.v1'",
                    (tenant["id"],)).fetchall()
    assert len(ev) == 1 and "5321110001" not in json.dumps(ev[0][0]) and ev[0][0]["type"] == "text"
    # Meta delivers it again: the same message is not received twice
    r = await post_hook(client, tenant, raw, headers)
    assert r.status_code == 200 and r.json()["repeated"] == 1 and count() == 1


# -- the 24-hour window -----------------------------------------------------------------------

async def test_free_form_text_outside_the_window_is_refused_before_any_call(client, apps, tenant, wa, db):
    import time

    before = len(sends(wa))
    r = await send(client, tenant, to="0532 111 00 02", text={"body": "Siparişiniz yola çıktı."})
    assert r.status_code == 422 and r.json()["code"] == "whatsapp.window_closed", r.text
    assert db.execute("select count(*) from whatsapp_messages where tenant_id = %s",
                      (tenant["id"],)).fetchone()[0] == 0
    # a customer message 25 hours old opens nothing
    raw, headers = wa.inbound(PNID, "+905321110002", at=time.time() - 25 * 3600)
    assert (await post_hook(client, tenant, raw, headers)).status_code == 200
    r = await send(client, tenant, to="+905321110002", text={"body": "Siparişiniz yola çıktı."})
    assert r.status_code == 422 and r.json()["code"] == "whatsapp.window_closed"
    await drain(apps)
    assert len(sends(wa)) == before  # no call
    # an approved template outside the window: sent
    r = await send(client, tenant, to="+905321110002",
                   template={"name": "siparis_kargoda", "language": "tr", "parameters": ["TR-1234"]})
    assert r.status_code == 202, r.text
    await drain(apps)
    got = await read(client, tenant, r.json()["id"])
    assert got["status"] == "sent" and got["wamid"].startswith("wamid.")
    m = wa.sent_to("+905321110002")[-1]
    assert m.type == "template" and m.template == "siparis_kargoda" and m.parameters == ["TR-1234"]
    assert m.opaque == got["id"]  # our reference travels as biz_opaque_callback_data
    # the customer writes now: the window opens and free-form text goes
    raw, headers = wa.inbound(PNID, "+905321110002", "Teşekkürler")
    assert (await post_hook(client, tenant, raw, headers)).status_code == 200
    r = await send(client, tenant, to="0532 111 00 02", text={"body": "Rica ederiz, iyi günler."})
    assert r.status_code == 202, r.text
    await drain(apps)
    got = await read(client, tenant, r.json()["id"])
    assert got["status"] == "sent" and [h["status"] for h in got["history"]] == ["queued", "sending", "sent"]
    assert wa.sent_to("+905321110002")[-1].body == "Rica ederiz, iyi günler."
    assert len(sends(wa)) == before + 2
    # nothing in clear at rest
    row = db.execute("select * from whatsapp_messages where id = %s", (got["id"],)).fetchone()
    assert "Rica ederiz" not in str(row) and "5321110002" not in str(row)


async def test_commercial_needs_the_consent_and_content_is_one_of_text_or_template(client, tenant, wa):
    r = await send(client, tenant, to="+905321110003", category="commercial",
                   template={"name": "kampanya", "language": "tr"})
    assert r.status_code == 422 and r.json()["code"] == "whatsapp.consent_missing"
    r = await send(client, tenant, to="+905321110003", template={"name": "kampanya", "language": "tr"},
                   text={"body": "ikisi birden"})
    assert r.status_code == 422 and r.json()["code"] == "whatsapp.content_invalid"
    r = await send(client, tenant, to="12", template={"name": "kampanya", "language": "tr"})
    assert r.status_code == 422


# -- statuses applied once --------------------------------------------------------------------

async def _sent_template(client, apps, tenant, wa, number):
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["1"]})
    assert r.status_code == 202, r.text
    await drain(apps)
    got = await read(client, tenant, r.json()["id"])
    assert got["status"] == "sent"
    return got


async def test_a_status_delivered_three_times_is_applied_once_and_read_before_delivered_ends_read(
        client, apps, tenant, wa, db):
    got = await _sent_template(client, apps, tenant, wa, "+905321110004")
    events = lambda t: db.execute("select count(*) from outbox where tenant_id = %s and type = %s",  # noqa: E731
                                  (tenant["id"], t)).fetchone()[0]
    raw, headers = wa.status(got["wamid"], "delivered")
    outs = [(await post_hook(client, tenant, raw, headers)).json() for _ in range(3)]
    assert [o["applied"] for o in outs] == [1, 0, 0] and [o["repeated"] for o in outs] == [0, 1, 1]
    after = await read(client, tenant, got["id"])
    assert after["status"] == "delivered" and [h["status"] for h in after["history"]].count("delivered") == 1
    assert events("kopru.whatsapp.delivered.v1") == 1
    # another message: read comes first, delivered after it (Meta keeps no order)
    two = await _sent_template(client, apps, tenant, wa, "+905321110005")
    read_hook, delivered_hook = wa.status(two["wamid"], "read"), wa.status(two["wamid"], "delivered")
    assert (await post_hook(client, tenant, *read_hook)).json()["applied"] == 1
    assert (await post_hook(client, tenant, *delivered_hook)).json()["repeated"] == 1
    final = await read(client, tenant, two["id"])
    assert final["status"] == "read" and [h["status"] for h in final["history"]] == ["queued", "sending", "sent", "read"]
    # a status for a message that is not ours: answered 200, nothing applied
    from kopru_tools.simulators.whatsapp import SimMessage

    with wa._lock:
        wa._messages.append(SimMessage("wamid.not-ours", PNID, "905321110099"))
    r = await post_hook(client, tenant, *wa.status("wamid.not-ours", "delivered"))
    assert r.status_code == 200 and r.json()["unknown"] == 1


# -- the error codes --------------------------------------------------------------------------

async def test_131047_is_permanent_and_130429_is_retried_each_ending_in_one_state(client, apps, tenant, wa):
    number = "+905321110006"
    before = len(sends(wa))
    wa.fail_next(code=131047)
    got = await _failed_or_sent(client, apps, tenant, number)
    assert got["status"] == "failed" and got["error_code"] == "whatsapp.131047"
    assert got["error"]["en"].startswith("More than 24 hours") and got["error"]["tr"]
    assert len(sends(wa)) == before + 1  # not retried
    wa.fail_next(code=130429)
    got = await _failed_or_sent(client, apps, tenant, number)
    assert got["status"] == "sent" and [h["status"] for h in got["history"]] == ["queued", "sending", "sent"]
    assert len(sends(wa)) == before + 3  # the throttled call and the retry
    assert len([m for m in wa.sent_to(number)]) == 1  # the throttled one, once
    # a template error and an async failure: permanent with their codes
    r = await send(client, tenant, to=number, template={"name": "durduruldu", "language": "tr"})
    await drain(apps)
    assert (await read(client, tenant, r.json()["id"]))["error_code"] == "whatsapp.132015"
    wa.undeliverable.add(number[1:])
    try:
        got = await _failed_or_sent(client, apps, tenant, number)  # accepted: Meta answers 200 first
        raw, headers = wa.outbox[-1]
        assert (await post_hook(client, tenant, raw, headers)).json()["applied"] == 1
        got = await read(client, tenant, got["id"])
        assert got["status"] == "failed" and got["error_code"] == "whatsapp.131026"
        assert [h["status"] for h in got["history"]][-2:] == ["sent", "failed"]
    finally:
        wa.undeliverable.discard(number[1:])


async def _failed_or_sent(client, apps, tenant, number):
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["9"]})
    assert r.status_code == 202, r.text
    await drain(apps)
    return await read(client, tenant, r.json()["id"])


# -- a send whose answer was lost -------------------------------------------------------------

@pytest.fixture
def unproven_after(monkeypatch):
    from kopru.config import reset_settings

    def set_(seconds: float) -> None:
        monkeypatch.setenv("KOPRU_WHATSAPP_UNPROVEN_AFTER_SECONDS", str(seconds))
        reset_settings()

    yield set_
    monkeypatch.undo()
    reset_settings()


async def test_lost_answer_is_proven_by_the_status_webhook_and_never_sent_twice(client, apps, tenant, wa, db,
                                                                                  monkeypatch):
    number = "+905321110007"
    wa.fail_next(http_status=502, raw=True, take=True)  # Meta took it; a proxy lost the answer
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["7"]})
    mid = r.json()["id"]
    await drain(apps)  # ambiguous: redeliveries wait for proof, nothing is sent again
    assert (await read(client, tenant, mid))["status"] == "sending"
    assert len(wa.sent_to(number)) == 1
    raw, headers = wa.outbox[-1]  # the `sent` status Meta posted, naming our id
    assert json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] == mid
    assert (await post_hook(client, tenant, raw, headers)).json()["applied"] == 1
    got = await read(client, tenant, mid)
    assert got["status"] == "sent" and got["wamid"] == wa.sent_to(number)[0].wamid
    assert got["history"][-1]["code"] == "whatsapp.proven_by_status"
    from kopru.whatsapp.service import recover_stalled
    from kopru.work import sweep

    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)
    await recover_stalled()
    state = db.execute("select state from outward_calls where provider = 'whatsapp' and ref = %s", (mid,)).fetchone()
    assert state[0] == "succeeded"
    assert len(wa.sent_to(number)) == 1 and (await read(client, tenant, mid))["status"] == "sent"


async def test_a_5xx_after_meta_took_the_send_is_parked_and_proven_by_the_status_webhook(
        client, apps, tenant, wa, db, monkeypatch):
    """HTTP 500 in Graph's error shape (131000) although Meta took the message: no blind
    second send; the status webhook naming our id proves it."""
    number = "+905321110010"
    before = await received_sends(wa)
    wa.fail_next(code=131000, take=True)
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["10"]})
    mid = r.json()["id"]
    await drain(apps)  # ambiguous: redeliveries wait for proof
    assert (await read(client, tenant, mid))["status"] == "sending"
    row = lambda: db.execute("select state, ambiguous, code from outward_calls "  # noqa: E731
                             "where provider = 'whatsapp' and ref = %s", (mid,)).fetchone()
    assert row()[:2] == ("pending", True)
    assert await received_sends(wa) == before + 1  # one call to Meta, never a second
    raw, headers = wa.outbox[-1]
    assert json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] == mid
    assert (await post_hook(client, tenant, raw, headers)).json()["applied"] == 1
    got = await read(client, tenant, mid)
    assert got["status"] == "sent" and got["wamid"] == wa.sent_to(number)[0].wamid
    assert got["history"][-1]["code"] == "whatsapp.proven_by_status"
    from kopru.whatsapp.service import recover_stalled
    from kopru.work import sweep

    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)
    await recover_stalled()
    await drain(apps)
    assert row()[0] == "succeeded"
    assert await received_sends(wa) == before + 1 and len(wa.sent_to(number)) == 1


async def test_a_5xx_where_meta_took_nothing_is_parked_then_unknown_never_sent_again(
        client, apps, tenant, wa, db, unproven_after, monkeypatch):
    """HTTP 503 in Graph's error shape (131016) and Meta took nothing: that cannot be told
    from the answer, so it is parked like a lost answer; with no webhook ever, it surfaces
    `unknown` for an operator once KOPRU_WHATSAPP_UNPROVEN_AFTER_SECONDS has passed."""
    number = "+905321110011"
    unproven_after(3600)
    before, notified = await received_sends(wa), len(wa.outbox)
    wa.fail_next(code=131016)
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["11"]})
    mid = r.json()["id"]
    await drain(apps)
    assert (await read(client, tenant, mid))["status"] == "sending"  # parked, waiting for proof
    state = lambda: db.execute("select state, ambiguous, code from outward_calls "  # noqa: E731
                               "where provider = 'whatsapp' and ref = %s", (mid,)).fetchone()
    assert state()[:2] == ("pending", True)
    assert await received_sends(wa) == before + 1 and wa.sent_to(number) == []
    from kopru.whatsapp.service import recover_stalled
    from kopru.work import sweep

    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)
    await recover_stalled()  # still inside the proof window: waits, sends nothing
    assert state()[0] == "pending" and await received_sends(wa) == before + 1
    unproven_after(0)  # the window has passed with no status webhook
    await recover_stalled()
    got = await read(client, tenant, mid)
    assert got["status"] == "unknown" and got["error_code"] == "whatsapp.send_unproven"
    assert state()[0] == "unknown"
    assert db.execute("select count(*) from outbox where tenant_id = %s and type = 'kopru.work.outcome_unknown.v1' "
                      "and subject = %s", (tenant["id"], mid)).fetchone()[0] == 1
    await drain(apps)
    await recover_stalled()
    assert await received_sends(wa) == before + 1 and wa.sent_to(number) == []  # never sent again
    assert len(wa.outbox) == notified  # and Meta never announced it


async def test_unproven_send_is_parked_unknown_for_an_operator(client, apps, tenant, wa, db, unproven_after):
    number = "+905321110008"
    unproven_after(0)
    before = len(sends(wa))
    wa.fail_next(http_status=502, raw=True)  # Meta did not take it, but nothing says so
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["8"]})
    mid = r.json()["id"]
    await drain(apps)
    got = await read(client, tenant, mid)
    assert got["status"] == "unknown" and got["error_code"] == "whatsapp.send_unproven"
    assert got["error"]["en"].startswith("The WhatsApp send's answer did not show whether Meta took the message")
    assert len(sends(wa)) == before + 1 and wa.sent_to(number) == []  # no blind second send
    assert db.execute("select count(*) from outbox where tenant_id = %s and type = 'kopru.work.outcome_unknown.v1' "
                      "and subject = %s", (tenant["id"], mid)).fetchone()[0] == 1


async def test_a_status_webhook_settles_a_send_already_parked_unknown(client, apps, tenant, wa, db, unproven_after):
    """Meta took it, the answer was lost and no proof came in time: parked unknown. The status
    webhook naming our id then arrives: the message is sent and the parked effect ends
    succeeded with Meta's id (no operator needed, nothing sent again)."""
    number = "+905321110009"
    unproven_after(0)
    wa.fail_next(http_status=502, raw=True, take=True)
    r = await send(client, tenant, to=number, template={"name": "siparis_kargoda", "language": "tr",
                                                         "parameters": ["9"]})
    mid = r.json()["id"]
    await drain(apps)
    assert (await read(client, tenant, mid))["status"] == "unknown"
    state = lambda: db.execute("select state, code, external_ref from outward_calls "  # noqa: E731
                               "where provider = 'whatsapp' and ref = %s", (mid,)).fetchone()
    assert state()[0] == "unknown"
    raw, headers = wa.outbox[-1]
    assert (await post_hook(client, tenant, raw, headers)).json()["applied"] == 1
    wamid = wa.sent_to(number)[0].wamid
    assert state() == ("succeeded", "whatsapp.proven_by_status", wamid)
    got = await read(client, tenant, mid)
    assert got["status"] == "sent" and got["wamid"] == wamid and len(wa.sent_to(number)) == 1


async def test_whatsapp_send_is_a_workflow_action(client, tenant):
    r = await client("workflows").get("/workflows/actions", headers=bearer(tenant["token"]))
    assert r.status_code == 200
    names = [a["name"] for a in r.json()["actions"]]
    assert "whatsapp.send" in names
    assert "kopru.whatsapp.received.v1" in r.json()["trigger_types"]


async def test_an_erasure_clears_the_window_and_the_messages_and_names_meta(client, apps, tenant, wa, db):
    number = "+905321110009"
    raw, headers = wa.inbound(PNID, number, "Merhaba")
    assert (await post_hook(client, tenant, raw, headers)).json()["received"] == 1
    r = await send(client, tenant, to=number, text={"body": "Size nasıl yardımcı olabiliriz?"})
    assert r.status_code == 202, r.text
    await drain(apps)
    assert (await read(client, tenant, r.json()["id"]))["status"] == "sent"
    r = await client("data-erasure").post("/erasures", json={"subject": {"phone": number}},
                                          headers=bearer(tenant["token"]))
    assert r.status_code == 202, r.text
    await drain_all(apps, only=("data-erasure",))
    er = (await client("data-erasure").get(f"/erasures/{r.json()['id']}", headers=bearer(tenant["token"]))).json()
    assert er["status"] == "completed", er
    cleared = {c["table"] for c in er["report"]["cleared"]}
    assert {"whatsapp_messages", "whatsapp_inbound", "whatsapp_windows"} <= cleared
    assert any(tp["recipient"].startswith("Meta") for tp in er["report"]["third_parties"])
    assert db.execute("select count(*) from whatsapp_windows where tenant_id = %s and last_inbound_at is not null",
                      (tenant["id"],)).fetchone()[0] == 0
    # the window is closed with the erasure: free-form text is refused again
    r = await send(client, tenant, to=number, text={"body": "Merhaba"})
    assert r.status_code == 422 and r.json()["code"] == "whatsapp.window_closed"


async def test_a_token_that_cannot_be_a_header_value_is_refused_not_a_500(client, onboard, wa):
    """The access token goes out as `Authorization: Bearer …`: a non-ASCII or spaced one is a
    422 when saved, before Meta is asked (a 500 from the HTTP client otherwise)."""
    t = await onboard()
    calls = len(wa.calls)
    for bad in ("EAAGtokenğüş123", "EAAG token 123", "EAAG\ttoken123"):
        r = await client("tenant-onboarding").put(
            f"/tenants/{t['id']}/integrations/whatsapp", headers=bearer(t["token"]),
            json={"phone_number_id": PNID, "access_token": bad, "app_secret": APP_SECRET, "verify_token": VERIFY})
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", r.text
    assert len(wa.calls) == calls
