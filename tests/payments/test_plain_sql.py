"""The payment paths run without SQLAlchemy (CLAUDE.md: plain SQL on request and consumer
paths): a real payment function process (functions-framework, as its image runs) starts a
payment, settles it on the browser's callback and iyzico's notification, refunds part of it
and reads it, charges and cancels a 3-D Secure payment, and runs its schedule's tick; a real
payment-chain process takes the payment's succeeded event. Neither
process ever imports `sqlalchemy` (a sitecustomize on the processes' path records the stack
of any import of it; the test process's own imports do not count)."""

from __future__ import annotations

import os
import uuid

import httpx

from tests.helpers import bearer, drain_to, sender_auth
from tests.importprobe import assert_no_sqlalchemy as _no_sqlalchemy, probe_env
from tests.payments.conftest import API_KEY, SECRET, payment_body
from tests.payments.test_payments import callback_path, notify_path, token_of
from tests.payments.test_threeds import CARD, iyzico_id


def _probe_env(tmp_path, services, name: str) -> tuple[dict[str, str], object]:
    import base64

    from kopru.auth.crypto import master_key

    env, out = probe_env(tmp_path, name)
    return {"DATABASE_URL": services["app_url"], "KOPRU_MASTER_KEY": base64.b64encode(master_key()).decode(),
            "REDIS_URL": os.environ["REDIS_URL"], "IYZICO_BASE_URL": os.environ["IYZICO_BASE_URL"],
            "KOPRU_ENV": "test", "KOPRU_LOG_LEVEL": "WARNING", **env}, out


async def test_payment_and_chain_processes_never_import_sqlalchemy(client, onboard, iyzico, db, services, tmp_path):
    from tests.work.test_outward import FunctionProcess

    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "secret_key": SECRET, "invoice": True})
    assert r.status_code == 200, r.text
    notification_url = r.json()["notification_url"]
    env, out = _probe_env(tmp_path, services, "payment")

    fn = FunctionProcess("payment", env)
    try:
        async with httpx.AsyncClient(base_url=fn.url, timeout=15) as h:
            r = await h.post("/payments", json=payment_body(), headers=bearer(t["token"]))
            assert r.status_code == 201, r.text
            pid = r.json()["id"]
            seen = len(iyzico.recorder.got)
            fields = iyzico.complete(token_of(r.json()))
            note_raw, note_headers = (await iyzico.recorder.wait(seen + 1))[seen]
            r = await h.post(callback_path(db, pid), data=fields)
            assert r.status_code == 303 and "status=succeeded" in r.headers["location"], r.text
            note = {"Content-Type": "application/json", "X-IYZ-SIGNATURE-V3": note_headers["x-iyz-signature-v3"]}
            r = await h.post(notify_path(notification_url), content=note_raw, headers=note)
            assert r.status_code == 200 and r.json()["matched"] is True, r.text
            r = await h.post(notify_path(notification_url), content=note_raw, headers=note)
            assert r.status_code == 409, r.text
            await _chain(tmp_path, services, pid, db)  # the succeeded event, to a payment-chain process
            r = await h.post(f"/payments/{pid}/refunds", json={"amount": "40.00"}, headers=bearer(t["token"]))
            assert r.status_code == 202 and r.json()["status"] == "succeeded", r.text
            r = await h.get(f"/payments/{pid}", headers=bearer(t["token"]))
            assert r.status_code == 200 and r.json()["status"] == "partially_refunded", r.text
            # direct 3-D Secure: started, authenticated through the browser, charged, cancelled
            r = await h.post("/payments/3ds", json={**payment_body(), "card": dict(CARD)}, headers=bearer(t["token"]))
            assert r.status_code == 201, r.text
            tds = r.json()["id"]
            r = await h.post(callback_path(db, tds), data=iyzico.complete_3ds(iyzico_id(db, tds), md_status="1"))
            assert r.status_code == 303 and "status=succeeded" in r.headers["location"], r.text
            r = await h.post(f"/payments/{tds}/cancel", headers=bearer(t["token"]))
            assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
            # the schedule's tick: stalled payments settled, stalled calls taken over
            r = await h.post("/", content=b'{}', headers={
                "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/kopru/schedule",
                "ce-type": "kopru.payment.settle_poll.v1", "content-type": "application/json",
                **sender_auth("payment", "schedule")})
            assert r.status_code == 200 and "settled" in r.json(), r.text
    finally:
        fn.kill()
    _no_sqlalchemy(out)


async def _chain(tmp_path, services, pid: str, db) -> None:
    from kopru.events.dispatcher import http_sender
    from tests.work.test_outward import FunctionProcess

    env, out = _probe_env(tmp_path, services, "payment-chain")
    chain = FunctionProcess("payment-chain", env)
    try:
        async with httpx.AsyncClient(timeout=15) as h:
            bus = await drain_to({"payment-chain": http_sender(h, chain.url + "/", "payment-chain")})
    finally:
        chain.kill()
    _no_sqlalchemy(out)
    # the chain did its work there: no Nilvera settings, said in the payment's history
    codes = [c for (c,) in db.execute("select code from payment_history where payment_id = %s", (pid,)).fetchall()]
    assert "chain.einvoice_not_configured" in codes, (codes, bus.dead_letters)
