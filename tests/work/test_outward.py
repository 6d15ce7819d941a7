"""The integration core's promise, shown on the real parts: each thing asked of an
outside service happens once. Counted as CALLS the simulator received (its inspection
list, duplicates included), not as messages it kept.

- 8 concurrent deliveries of one kopru.sms.requested.v1: one Netgsm call; redeliveries
  after the end: no call, no history row, no event (the e-invoice twin is in
  tests/functions/test_einvoice_submit.py).
- kill -9 of a real sms-send process between Netgsm's answer and the status write, then a
  new process and a redelivery: Netgsm's report is asked first, the message ends `sent`
  with the jobid Netgsm gave, never sent twice.
- kill -9 while Netgsm held a 500 (nothing taken): the redelivery waits until Netgsm's
  report can prove absence, then sends once.
- several candidates in Netgsm's report: parked `unknown` with its code and event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.helpers import bearer, drain

PHONE = "+90 532 111 22 33"
NETGSM_NO = "5321112233"


def _sends(netgsm) -> int:
    return sum(1 for c in netgsm.calls if c.endpoint == "send")


def _event(type_: str, tenant_id, data: dict, event_id: str | None = None) -> tuple[dict, bytes]:
    return ({"ce-specversion": "1.0", "ce-id": event_id or str(uuid.uuid4()), "ce-source": "/test/redelivery",
             "ce-type": type_, "ce-tenantid": str(tenant_id), "content-type": "application/json"},
            json.dumps(data).encode())


async def _queued_sms(client, tenant, text="Kargonuz yolda.", to=PHONE) -> str:
    r = await client("sms-send").post("/sms", headers=bearer(tenant["token"]),
                                      json={"to": to, "message": text, "kind": "transactional"})
    assert r.status_code == 202, r.text
    return r.json()["id"]


async def _sms(client, tenant, sms_id) -> dict:
    return (await client("sms-send").get(f"/sms/{sms_id}", headers=bearer(tenant["token"]))).json()


def _outbox(db, type_: str, key: str, value: str) -> int:
    return db.execute("select count(*) from outbox where type = %s and data->>%s = %s", (type_, key, value)).fetchone()[0]


async def test_eight_concurrent_deliveries_of_one_sms_make_one_netgsm_call(client, apps, sms_tenant, netgsm, db):
    from kopru_tools.eventing import asgi_sender

    await drain(apps, only=("sms-send",))
    sms_id = await _queued_sms(client, sms_tenant)
    before = _sends(netgsm)
    netgsm.fail_next(delay=0.5, endpoint="send")  # Netgsm takes it and answers slowly: the others arrive meanwhile
    send = asgi_sender(apps["sms-send"], "sms-send")
    headers, body = _event("kopru.sms.requested.v1", sms_tenant["id"], {"sms_id": sms_id})
    # the same event id eight times, and a republished copy with a fresh id
    results = await asyncio.gather(*(send({**headers, "ce-id": headers["ce-id"] if i < 7 else str(uuid.uuid4())}, body)
                                     for i in range(8)))
    assert all(status == 204 for status, _ in results), results
    assert _sends(netgsm) == before + 1
    got = await _sms(client, sms_tenant, sms_id)
    assert got["status"] == "sent" and [h["status"] for h in got["history"]] == ["queued", "sending", "sent"]
    assert _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1
    # the outbox's own event, and another redelivery, after the end: nothing at all
    await drain(apps, only=("sms-send",))
    status, _ = await send(*_event("kopru.sms.requested.v1", sms_tenant["id"], {"sms_id": sms_id}))
    assert status == 204 and _sends(netgsm) == before + 1
    again = await _sms(client, sms_tenant, sms_id)
    assert again["history"] == got["history"] and _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1


async def _park(client, apps, sms_tenant, netgsm, text: str, to: str, netgsm_no: str) -> str:
    """An SMS parked `unknown`: two messages of its length to its number went out after it
    was accepted (say, through Netgsm's own panel) and our own attempt's answer was lost
    (a 500: ambiguous). Which one is ours cannot be told."""
    from kopru.connectors.netgsm import Credentials, NetgsmClient
    from tests.helpers import NETGSM_PASSWORD, NETGSM_USER

    sms_id = await _queued_sms(client, sms_tenant, text=text, to=to)
    async with NetgsmClient(os.environ["NETGSM_BASE_URL"]) as c:
        for _ in range(2):
            await c.send(Credentials(NETGSM_USER, NETGSM_PASSWORD), "ANADOLU", [(text, "+90" + netgsm_no)],
                         iysfilter="0", ref="panel")
    netgsm.fail_next(http_status=500, endpoint="send")
    await drain(apps, only=("sms-send",))
    return sms_id


async def test_several_candidates_park_the_sms_as_unknown_and_an_operator_settles_it(
        client, apps, sms_tenant, netgsm, db, work_settings, capsys):
    """Parked: nothing sent, `unknown` with its code and its own event. Then the operator's
    `kopru work parked | settle | resend`: a verdict is recorded once and audited; a resend
    goes out once through the sweep."""
    from kopru_tools.cli import main
    from kopru.work import sweep

    work_settings(lease=30, absent_after=0)
    await drain(apps, only=("sms-send",))
    before = _sends(netgsm)
    sms_id = await _park(client, apps, sms_tenant, netgsm, "Randevunuz yarın 10:00.", "+90 532 111 22 44", "5321112244")
    got = await _sms(client, sms_tenant, sms_id)
    assert got["status"] == "unknown" and got["error_code"] == "work.outcome_unknown", got
    assert _sends(netgsm) == before + 3  # the two from the panel and our 500: nothing else
    assert db.execute("select count(*) from outbox where type = 'kopru.work.outcome_unknown.v1' and data->>'ref' = %s",
                      (sms_id,)).fetchone()[0] == 1
    assert _outbox(db, "kopru.sms.failed.v1", "sms_id", sms_id) == 0
    # a redelivery of a parked SMS sends nothing
    await drain(apps, only=("sms-send",))
    from kopru_tools.eventing import asgi_sender

    status, _ = await asgi_sender(apps["sms-send"], "sms-send")(
        *_event("kopru.sms.requested.v1", sms_tenant["id"], {"sms_id": sms_id}))
    assert status == 204 and _sends(netgsm) == before + 3

    tid = str(sms_tenant["id"])
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["work", "parked", "--tenant", tid]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["provider"], p["operation"], p["ref"], p["code"]) for p in listed] == [
        ("netgsm", "sms.send", sms_id, "work.outcome_unknown")]
    jobid = [m.jobid for m in netgsm.messages if m.no == "5321112244"][0]
    args = ["work", "settle", "--tenant", tid, "--provider", "netgsm", "--operation", "sms.send", "--ref", sms_id]
    assert await asyncio.to_thread(main, [*args, "--failed", "Not A Code"]) == 2
    assert await asyncio.to_thread(main, [*args, "--sent", "x" * 65]) == 2
    assert await asyncio.to_thread(main, [*args, "--sent", jobid]) == 0
    got = await _sms(client, sms_tenant, sms_id)
    assert got["status"] == "sent" and got["netgsm_jobid"] == jobid
    assert got["history"][-1]["status"] == "sent" and got["history"][-1]["code"] == "settled"
    assert _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1
    assert await asyncio.to_thread(main, [*args, "--sent", jobid]) == 1  # not parked any more: nothing changes
    assert _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1
    assert db.execute("select count(*) from audit_log where action = 'work.settled' and target = %s",
                      (f"netgsm:sms.send:{sms_id}",)).fetchone()[0] == 1

    # another one parked; the operator learns it never went out: resent once by the sweep
    other = await _park(client, apps, sms_tenant, netgsm, "Kargonuz dağıtımda.", "+90 532 111 22 88", "5321112288")
    assert (await _sms(client, sms_tenant, other))["status"] == "unknown"
    sends = _sends(netgsm)
    assert await asyncio.to_thread(main, ["work", "resend", "--tenant", tid, "--provider", "netgsm",
                                          "--operation", "sms.send", "--ref", other]) == 0
    from kopru.sms.service import recover_stalled

    await recover_stalled()
    assert (await _sms(client, sms_tenant, other))["status"] == "sent"
    assert [m.no for m in netgsm.messages].count("5321112288") == 3  # the panel's two and the one resend
    assert _sends(netgsm) >= sends + 1
    assert sweep.STALL_AFTER_S == 300  # the reopened effect was due at once, no clock games


# -- kill -9 of a real function process ------------------------------------------------------------------

class FunctionProcess:
    """functions-framework serving one function, as its image does, on a free loopback port."""

    def __init__(self, function: str, env: dict[str, str]):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        src = REPO / "functions" / function.replace("-", "_") / "main.py"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "functions-framework"), "--asgi", "--source", str(src),
             "--target", "handle", "--host", "127.0.0.1", "--port", str(self.port)],
            env={**os.environ, **env}, cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("the function process did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def process_env(services):
    from kopru.auth.crypto import master_key

    return {"DATABASE_URL": services["app_url"], "KOPRU_MASTER_KEY": base64.b64encode(master_key()).decode(),
            "REDIS_URL": os.environ["REDIS_URL"], "NETGSM_BASE_URL": os.environ["NETGSM_BASE_URL"],
            "KOPRU_ENV": "test", "KOPRU_LOG_LEVEL": "WARNING", "KOPRU_OUTWARD_LEASE_SECONDS": "1"}


async def _post_event(url: str, headers: dict, body: bytes, timeout: float = 10.0) -> int:
    from tests.helpers import sender_auth

    async with httpx.AsyncClient(timeout=timeout) as h:
        return (await h.post(url + "/", headers={**headers, **sender_auth("sms-send", "dispatcher")},
                             content=body)).status_code


async def _kill_during_send(fn: FunctionProcess, netgsm, headers, body, before: int) -> None:
    """Deliver the event to the process and kill -9 it once Netgsm has the call."""
    task = asyncio.create_task(_post_event(fn.url, headers, body))
    deadline = time.monotonic() + 10
    while _sends(netgsm) == before and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert _sends(netgsm) == before + 1, "the send never reached Netgsm"
    fn.kill()
    with pytest.raises(httpx.HTTPError):
        await task


async def test_kill_9_between_netgsm_answer_and_status_write_sends_once(client, apps, sms_tenant, netgsm, db,
                                                                        process_env):
    await drain(apps, only=("sms-send",))
    sms_id = await _queued_sms(client, sms_tenant, text="Siparişiniz teslim edildi.", to="+90 532 111 22 55")
    headers, body = _event("kopru.sms.requested.v1", sms_tenant["id"], {"sms_id": sms_id})
    before, messages_before = _sends(netgsm), netgsm.count()
    netgsm.fail_next(delay=3.0, endpoint="send")  # Netgsm takes it at once and answers 3 s later
    fn = FunctionProcess("sms-send", {**process_env, "KOPRU_NETGSM_ABSENT_AFTER_SECONDS": "600"})
    try:
        await _kill_during_send(fn, netgsm, headers, body, before)
    finally:
        fn.kill()
    assert netgsm.count() == messages_before + 1  # Netgsm has it; we never heard
    assert (await _sms(client, sms_tenant, sms_id))["status"] == "sending"
    await asyncio.sleep(1.2)  # the dead holder's lease runs out
    fn = FunctionProcess("sms-send", process_env)
    try:
        assert await _post_event(fn.url, headers, body) == 204  # the redelivery
        assert await _post_event(fn.url, headers, body) == 204  # and another
    finally:
        fn.kill()
    got = await _sms(client, sms_tenant, sms_id)
    jobid = [m.jobid for m in netgsm.messages if m.no == "5321112255"]
    assert got["status"] == "sent" and [got["netgsm_jobid"]] == jobid, (got, jobid)
    assert got["history"][-1]["code"] == "reconciled"
    assert _sends(netgsm) == before + 1 and netgsm.count() == messages_before + 1
    assert _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1


async def test_kill_9_while_netgsm_held_a_500_sends_once_after_absence_is_proven(client, apps, sms_tenant, netgsm,
                                                                                 process_env):
    await drain(apps, only=("sms-send",))
    sms_id = await _queued_sms(client, sms_tenant, text="Faturanız hazır.", to="+90 532 111 22 66")
    headers, body = _event("kopru.sms.requested.v1", sms_tenant["id"], {"sms_id": sms_id})
    before, messages_before = _sends(netgsm), netgsm.count()
    netgsm.fail_next(http_status=500, delay=3.0, endpoint="send")  # nothing taken; the answer would be a 500
    env = {**process_env, "KOPRU_NETGSM_ABSENT_AFTER_SECONDS": "3"}
    fn = FunctionProcess("sms-send", env)
    try:
        await _kill_during_send(fn, netgsm, headers, body, before)
    finally:
        fn.kill()
    await asyncio.sleep(1.2)
    fn = FunctionProcess("sms-send", env)
    try:
        # too early to tell: Netgsm's report has nothing yet, nothing is sent, asked again later
        assert await _post_event(fn.url, headers, body) == 503
        assert _sends(netgsm) == before + 1
        await asyncio.sleep(2.0)
        assert await _post_event(fn.url, headers, body) == 204
    finally:
        fn.kill()
    got = await _sms(client, sms_tenant, sms_id)
    assert got["status"] == "sent" and _sends(netgsm) == before + 2
    assert netgsm.count() == messages_before + 1


async def test_an_sms_whose_event_never_arrives_is_sent_once_by_the_sweep(client, apps, sms_tenant, netgsm, db,
                                                                          monkeypatch):
    """The request records that a send is owed (a `pending` outward call) with the SMS
    itself: when its event is lost or dead-lettered, the scheduled sweep sends it, and the
    event arriving afterwards changes nothing."""
    from kopru.sms.service import recover_stalled
    from kopru.work import sweep

    await drain(apps, only=("sms-send",))
    sms_id = await _queued_sms(client, sms_tenant, text="Sepetiniz hazır.", to="+90 532 111 22 77")
    assert db.execute("select state from outward_calls where ref = %s", (sms_id,)).fetchone() == ("pending",)
    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)  # as if 5 minutes passed with no delivery
    assert (await recover_stalled()).get("succeeded", 0) >= 1  # others' leftovers may be taken over too
    assert (await _sms(client, sms_tenant, sms_id))["status"] == "sent"
    assert [m.no for m in netgsm.messages].count("5321112277") == 1
    sends = _sends(netgsm)
    await drain(apps, only=("sms-send",))  # the event, late
    assert _sends(netgsm) == sends and _outbox(db, "kopru.sms.sent.v1", "sms_id", sms_id) == 1


async def test_the_sweep_measures_parked_and_owed_effects_per_tenant_and_provider(apps, onboard, db, monkeypatch):
    """Nothing stalls silently: each provider's sweep records, per tenant, the effects parked
    `unknown` for an operator, the effects still owed and the oldest owed one's age, as the
    database counts them (kopru_outward_parked / _owed / _owed_oldest at /metrics)."""
    import re

    from kopru.config import reset_settings
    from kopru.work.sweep import recover
    from kopru_tools import metrics as tool_metrics
    from kopru_tools.gateway import Gateway

    t = await onboard()
    tid = str(t["id"])

    def row(state: str, ref: str, age_s: int) -> None:
        db.execute("insert into outward_calls (id, tenant_id, provider, operation, ref, state, ambiguous, attempts, "
                   "created_at, updated_at) values (%s, %s, 'netgsm', 'sms.send', %s, %s, false, 1, "
                   "now() - make_interval(secs => %s), now())", (str(uuid.uuid4()), tid, ref, state, age_s))

    row("unknown", "parked-1", 3600)
    row("unknown", "parked-2", 60)
    row("pending", "owed-1", 1200)  # owed for 20 minutes, tried a moment ago: not stalled, not taken over
    row("succeeded", "done-1", 7200)
    monkeypatch.setenv("KOPRU_METRICS", "1")
    reset_settings()
    try:
        tool_metrics.setup()

        def untouched(*_):
            raise AssertionError("nothing here is stalled: the sweep takes nothing over")

        await recover("netgsm", untouched, actor="test")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Gateway(dict(apps))), base_url="http://gw") as gw:
            text = (await gw.get("/metrics")).text

        def value(name: str) -> float:
            for m in re.finditer(r"^%s\{(.*?)\} (\S+)$" % name, text, re.M):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                if labels.get("tenant") == tid and labels.get("provider") == "netgsm":
                    return float(m.group(2))
            raise AssertionError(f"{name} not recorded for the tenant")

        assert value("kopru_outward_parked") == 2
        assert value("kopru_outward_owed") == 1
        assert 1200 <= value("kopru_outward_owed_oldest_seconds") < 1300
    finally:
        monkeypatch.delenv("KOPRU_METRICS")
        reset_settings()
