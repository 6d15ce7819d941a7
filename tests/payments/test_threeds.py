"""Direct 3-D Secure: the card goes to iyzico once and is kept nowhere; the bank's answer
comes back through the payer's browser signed by iyzico; the card is charged (auth) once,
also when the answer to auth is lost (reconciled by payment/detail before anything is
called again); a failed 3-D Secure or a forged callback charges nothing."""

from __future__ import annotations

import asyncio
import logging

from tests.helpers import bearer
from tests.payments.conftest import payment_body
from tests.payments.test_payments import callback_path, calls, events

CARD = {"holder_name": "Ayşe Yılmaz", "number": "5528790000000008", "expire_month": "12", "expire_year": "2030",
        "cvc": "123"}


async def start(client, t, card=CARD, **kw):
    return await client("payment").post("/payments/3ds", json={**payment_body(**kw), "card": dict(card)},
                                        headers=bearer(t["token"]))


def iyzico_id(db, pid) -> str:
    return db.execute("select iyzico_payment_id from payments where id = %s", (pid,)).fetchone()[0]


def no_card_anywhere(db, number: str, tenant_id) -> None:
    """Not the number, nor its last eight digits, in anything this tenant's payments wrote (other
    tenants' rows are other tests': an e-invoice number such as KPR2026000000008 has those eight)."""
    for table in ("payments", "payment_history", "outbox", "audit_log", "idempotent_requests", "outward_calls"):
        rows = db.execute(f"select t::text from {table} t where tenant_id = %s", (str(tenant_id),)).fetchall()
        assert rows or table in ("idempotent_requests", "payment_history"), table
        assert not any(number in r[0] or number[-8:] in r[0] for r in rows), table


async def test_authenticated_and_charged_once_however_often_the_browser_returns(client, tenant, iyzico, db, caplog):
    caplog.set_level(logging.DEBUG)
    r = await start(client, tenant)
    assert r.status_code == 201, r.text
    out = r.json()
    pid = out["id"]
    assert out["status"] == "pending" and "<form" in out["threeds_html"].lower()
    assert CARD["number"] not in r.text
    fields = iyzico.complete_3ds(iyzico_id(db, pid), md_status="1")
    before = len(calls(iyzico, "threeds.auth"))
    res = await asyncio.gather(*(client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
                                 for _ in range(3)))
    assert all(x.status_code == 303 for x in res), [x.text for x in res]
    got = (await client("payment").get(f"/payments/{pid}", headers=bearer(tenant["token"]))).json()
    assert got["status"] == "succeeded" and events(db, pid, "kopru.payment.succeeded.v1") == 1
    assert len(calls(iyzico, "threeds.auth")) == before + 1  # charged once
    assert sum("status=succeeded" in x.headers["location"] for x in res) >= 1
    no_card_anywhere(db, CARD["number"], tenant["id"])
    assert CARD["number"] not in caplog.text and CARD["cvc"] + '"' not in caplog.text
    # the simulator saw the card once, and shows only its last four digits
    assert all(c.card in (None, "************0008") for c in iyzico.calls)


async def test_a_failed_3ds_or_a_forged_callback_charges_nothing(client, tenant, iyzico, db):
    pid = (await start(client, tenant)).json()["id"]
    fields = iyzico.complete_3ds(iyzico_id(db, pid), md_status="0")
    forged = {**fields, "mdStatus": "1"}  # the payer flips the bank's answer: the signature no longer holds
    before = len(calls(iyzico, "threeds.auth"))
    r = await client("payment").post(callback_path(db, pid), data=forged, follow_redirects=False)
    assert r.status_code == 403 and r.json()["code"] == "payment.callback_forbidden"
    r = await client("payment").post(callback_path(db, pid), data={k: v for k, v in fields.items() if k != "signature"},
                                     follow_redirects=False)
    assert r.status_code == 403
    r = await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
    assert r.status_code == 303 and "status=failed" in r.headers["location"]
    got = (await client("payment").get(f"/payments/{pid}", headers=bearer(tenant["token"]))).json()
    assert got["status"] == "failed" and got["error_code"] == "payment.threeds_failed" and got["error"]["en"]
    assert len(calls(iyzico, "threeds.auth")) == before


async def test_a_bank_decline_at_auth_fails_with_the_banks_code(client, tenant, iyzico, db):
    declined = {**CARD, "number": "4111111111111129"}  # iyzico's sandbox card that ends in 10051
    pid = (await start(client, tenant, card=declined)).json()["id"]
    fields = iyzico.complete_3ds(iyzico_id(db, pid), md_status="1")
    r = await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
    assert "status=failed" in r.headers["location"]
    got = (await client("payment").get(f"/payments/{pid}", headers=bearer(tenant["token"]))).json()
    assert got["status"] == "failed" and got["error_code"] == "iyzico.10051"
    no_card_anywhere(db, declined["number"], tenant["id"])


async def test_a_lost_auth_answer_is_reconciled_never_charged_twice(client, tenant, iyzico, db):
    pid = (await start(client, tenant)).json()["id"]
    fields = iyzico.complete_3ds(iyzico_id(db, pid), md_status="1")
    iyzico.fail_next(drop=True, endpoint="threeds.auth")  # iyzico charges; the answer never arrives
    before = len(calls(iyzico, "threeds.auth"))
    r = await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
    assert r.status_code == 303 and "status=pending" in r.headers["location"], r.headers.get("location")
    # the browser again: the attempt is ambiguous, so iyzico is asked first, and it says paid
    r = await client("payment").post(callback_path(db, pid), data=fields, follow_redirects=False)
    assert r.status_code == 303 and "status=succeeded" in r.headers["location"]
    got = (await client("payment").get(f"/payments/{pid}", headers=bearer(tenant["token"]))).json()
    assert got["status"] == "succeeded", got
    assert len(calls(iyzico, "threeds.auth")) == before + 1
    assert events(db, pid, "kopru.payment.succeeded.v1") == 1


async def test_bad_cards_are_refused_without_echo(client, tenant, iyzico, db):
    count = db.execute("select count(*) from payments").fetchone()[0]
    for card, code in (({**CARD, "number": "5528790000000009"}, "payment.card_invalid"),
                       ({**CARD, "expire_month": "13"}, "request.validation_failed"),
                       ({**CARD, "cvc": "12"}, "request.validation_failed")):
        r = await start(client, tenant, card=card)
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert card["number"] not in r.text and "552879" not in r.text  # not even the BIN
    assert db.execute("select count(*) from payments").fetchone()[0] == count


async def test_kill_9_between_iyzicos_charge_and_our_write_charges_once(client, tenant, iyzico, db, services):
    """A real payment function process (functions-framework, as its image runs) is killed
    -9 after iyzico charged the card and before it answered; the payer's browser comes back
    to a new process once the dead holder's lease ran out: iyzico is asked, the payment is
    recorded paid, auth is never called again."""
    import base64
    import os
    import time

    import httpx

    from kopru.auth.crypto import master_key
    from tests.work.test_outward import FunctionProcess

    env = {"DATABASE_URL": services["app_url"], "KOPRU_MASTER_KEY": base64.b64encode(master_key()).decode(),
           "REDIS_URL": os.environ["REDIS_URL"], "IYZICO_BASE_URL": os.environ["IYZICO_BASE_URL"],
           "KOPRU_ENV": "test", "KOPRU_LOG_LEVEL": "WARNING", "KOPRU_OUTWARD_LEASE_SECONDS": "1"}
    pid = (await start(client, tenant)).json()["id"]
    charge = iyzico_id(db, pid)
    fields = iyzico.complete_3ds(charge, md_status="1")
    before = len(calls(iyzico, "threeds.auth"))
    iyzico.fail_next(delay=3.0, endpoint="threeds.auth")  # iyzico charges at once and answers 3 s later
    fn = FunctionProcess("payment", env)
    try:
        task = asyncio.create_task(httpx.AsyncClient(timeout=10).post(fn.url + callback_path(db, pid), data=fields))
        deadline = time.monotonic() + 10
        while iyzico.payment(charge).payment_status != "SUCCESS" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert iyzico.payment(charge).payment_status == "SUCCESS", "auth never reached iyzico"
        fn.kill()
        try:
            await task
            raise AssertionError("the killed process answered")
        except httpx.HTTPError:
            pass
    finally:
        fn.kill()
    assert db.execute("select status from payments where id = %s", (pid,)).fetchone()[0] == "pending"
    await asyncio.sleep(1.2)  # the dead holder's lease runs out
    fn = FunctionProcess("payment", env)
    try:
        async with httpx.AsyncClient(timeout=10) as h:
            r = await h.post(fn.url + callback_path(db, pid), data=fields)
            assert r.status_code == 303 and "status=succeeded" in r.headers["location"], r.text
    finally:
        fn.kill()
    assert len(calls(iyzico, "threeds.auth")) == before + 1
    assert events(db, pid, "kopru.payment.succeeded.v1") == 1
