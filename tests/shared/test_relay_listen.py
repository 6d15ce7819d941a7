"""The relay's LISTEN connection can die without a word: a backend that stops
answering (a half-open socket, a frozen server) never raises on its own. The relay
proves it alive on every idle wake-up and, when it is not, its run ends and the
supervisor starts it again on a fresh connection; a terminated backend likewise."""

import asyncio
import os
import signal
import time

import pytest

from kopru.events.relay import Relay
from kopru.events.supervisor import Backoff, Health, supervise
from tests.eventsupport import emit_onboarded


class Recording:
    def __init__(self):
        self.ids: list[str] = []

    async def publish_batch(self, records):
        self.ids += [dict(h)["ce_id"].decode() for _t, _k, h, _v in records]


def listen_pids(db) -> list[int]:
    return [r[0] for r in db.execute(
        "select pid from pg_stat_activity where usename = 'kopru_relay' and query = 'select 1' "
        "or (usename = 'kopru_relay' and query ilike 'listen %%')").fetchall()]


async def until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("how", ["frozen", "terminated"])
async def test_a_dead_listen_connection_is_noticed_and_replaced(onboard, db, how):
    t = await onboard()
    bus = Recording()
    relay = Relay(bus)
    reg = Health()
    stop = asyncio.Event()

    async def loop(health):
        await relay.run(stop, idle=0.1, health=health, probe_timeout=1.0)

    task = asyncio.create_task(supervise("relay", loop, stop, registry=reg, backoff=Backoff(initial=0.1, maximum=1)))
    frozen: list[int] = []
    try:
        await until(lambda: reg.ready() and reg.get("relay") and listen_pids(db), 30, "the relay up and listening")
        before = set(listen_pids(db))
        for pid in before:
            if how == "frozen":
                os.kill(pid, signal.SIGSTOP)  # alive, silent: no error will ever come from it
                frozen.append(pid)
            else:
                db.execute("select pg_terminate_backend(%s)", (pid,))
        await until(lambda: reg.get("relay").restarts >= 1, 15, "the relay to notice")
        assert reg.get("relay").last_error in (("TimeoutError",) if how == "frozen" else
                                               ("OperationalError", "AdminShutdown", "TimeoutError"))
        await until(lambda: reg.ready() and set(listen_pids(db)) - before, 15, "a fresh LISTEN connection")
        ids = await emit_onboarded(t["id"], 3)
        await until(lambda: set(ids) <= set(bus.ids), 15, "events published after the reconnection")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
            db.execute("select pg_terminate_backend(%s)", (pid,))
        stop.set()
        await asyncio.wait_for(task, 30)
        await relay.dispose()
