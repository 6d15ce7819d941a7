"""The supervisor of background loops: restarts with growing, jittered delays, the
health registry, readiness over the gateway and over `kopru relay`'s small HTTP
endpoint, and no exception ever left unretrieved."""

import asyncio
import gc
import json

import httpx
import pytest

from kopru.events.supervisor import Backoff, Health, readiness, serve_health, supervise

SECRET = "+905321234567"


class Flaky:
    """A loop that raises `fails` times (a message holding personal data), then
    reports itself up and runs until stop."""

    def __init__(self, fails: int, stop: asyncio.Event):
        self.fails, self.stop, self.runs = fails, stop, 0

    async def __call__(self, health):
        self.runs += 1
        if self.runs <= self.fails:
            raise ConnectionError(f"could not reach the database for {SECRET}")
        health.up()
        await self.stop.wait()


@pytest.fixture
async def loop_errors():
    """Everything the event loop's exception handler would report (a task exception
    never retrieved, a callback that raised)."""
    loop = asyncio.get_running_loop()
    seen = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))
    yield seen
    gc.collect()
    loop.set_exception_handler(old)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("error::RuntimeWarning")
async def test_restarts_with_growing_delays_then_runs(live_logs, loop_errors):
    stop = asyncio.Event()
    reg = Health()
    delays = []

    async def sleep(d):
        delays.append(d)

    loop = Flaky(4, stop)
    task = asyncio.create_task(supervise("relay", loop, stop, registry=reg, sleep=sleep, rand=lambda: 0.5))
    for _ in range(100):
        await asyncio.sleep(0)
        if reg.get("relay") and reg.get("relay").up:
            break
    st = reg.get("relay")
    assert st.up and st.restarts == 4 and st.last_error == "ConnectionError" and loop.runs == 5
    # 0.5 s doubling, each drawn from [d * 0.8, d] (jitter 0.2; rand 0.5 -> d * 0.9)
    assert delays == pytest.approx([0.45, 0.9, 1.8, 3.6])
    assert reg.ready() and reg.down() == []
    snap = reg.snapshot()["relay"]
    assert snap["up"] and snap["restarts"] == 4 and snap["last_error"] == "ConnectionError" and snap["since"]
    stop.set()
    await asyncio.wait_for(task, 5)
    assert task.exception() is None and reg.get("relay") is None  # a stopped loop leaves the registry
    failed = [json.loads(ln) for ln in live_logs if "background loop failed" in ln]
    assert len(failed) == 4  # once per restart
    assert all(f["loop"] == "relay" and f["error"] == "ConnectionError" and f["where"] for f in failed)
    assert [f["restarts"] for f in failed] == [1, 2, 3, 4]
    assert not any(SECRET in ln for ln in live_logs)  # the message is never logged
    del task, loop
    gc.collect()
    assert loop_errors == []


def test_backoff_doubles_to_the_cap_and_jitters_downwards():
    b = Backoff()
    top = [b.delay(n, rand=lambda: 0.0) for n in range(1, 10)]
    assert top == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    low = [b.delay(n, rand=lambda: 1.0) for n in range(1, 8)]
    assert low == pytest.approx([0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 24])


async def test_the_count_starts_over_after_a_healthy_period(loop_errors):
    stop = asyncio.Event()
    reg = Health()
    now = [0.0]
    delays = []
    runs = []

    async def sleep(d):
        delays.append(d)

    async def loop(health):
        runs.append(1)
        if len(runs) in (3, 5):  # up for a while, then fail
            health.up()
            now[0] += 31 if len(runs) == 3 else 1
        if len(runs) >= 6:
            health.up()
            await stop.wait()
            return
        raise OSError("down")

    task = asyncio.create_task(supervise("x", loop, stop, registry=reg, sleep=sleep, clock=lambda: now[0],
                                         rand=lambda: 0.0))
    for _ in range(200):
        await asyncio.sleep(0)
        if len(runs) >= 6:
            break
    stop.set()
    await asyncio.wait_for(task, 5)
    # fail, fail, (up 31 s) fail -> count reset, fail, (up 1 s) fail -> count goes on
    assert delays == [0.5, 1.0, 0.5, 1.0, 2.0]
    assert loop_errors == []


async def test_a_loop_with_nothing_to_do_leaves_the_registry():
    stop = asyncio.Event()
    reg = Health()

    async def nothing(health):
        return None

    await asyncio.wait_for(supervise("schedules", nothing, stop, registry=reg), 5)
    assert reg.snapshot() == {} and reg.ready()


async def test_cancelling_the_supervisor_cancels_the_loop():
    stop = asyncio.Event()
    reg = Health()
    cancelled = []

    async def forever(health):
        health.up()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    t = asyncio.create_task(supervise("x", forever, stop, registry=reg))
    await asyncio.sleep(0.05)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert cancelled and reg.snapshot() == {}


def test_readiness_answers():
    reg = Health()
    a, b = reg.register("relay"), reg.register("dispatcher:sms-send")
    a.up = True
    status, body, headers = readiness(reg, "en")
    assert status == 503 and headers["Content-Type"] == "application/problem+json" and headers["Retry-After"]
    assert body["code"] == "unavailable" and body["status"] == 503 and body["down"] == ["dispatcher:sms-send"]
    assert body["title"] == "The service is temporarily unavailable."
    assert set(body["loops"]) == {"relay", "dispatcher:sms-send"}
    b.up = True
    status, body, headers = readiness(reg)
    assert status == 200 and body["status"] == "ready"


async def test_gateway_readyz_follows_the_loops_and_healthz_stays_liveness():
    from kopru_tools.gateway import Gateway

    reg = Health()
    gw = Gateway({}, health=reg)
    st = reg.register("relay")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw), base_url="http://gw") as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["down"] == ["relay"] and r.headers["retry-after"] == "5"
        assert (await c.get("/healthz")).status_code == 200
        st.up = True
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json()["loops"]["relay"]["up"] is True


async def test_the_relay_and_dispatcher_health_endpoint():
    reg = Health()
    st = reg.register("relay")
    server = await serve_health("127.0.0.1", 0, reg)
    host, port = server.sockets[0].getsockname()[:2]
    assert host == "127.0.0.1"
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as c:
            r = await c.get("/readyz", headers={"Accept-Language": "en"})
            assert r.status_code == 503 and r.json()["down"] == ["relay"]
            assert r.headers["content-type"] == "application/problem+json" and r.headers["content-language"] == "en"
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/nope")).status_code == 404
            assert (await c.post("/readyz")).status_code == 405
            st.up = True
            r = await c.get("/readyz")
            assert r.status_code == 200 and r.json()["status"] == "ready"
    finally:
        server.close()
        await server.wait_closed()
