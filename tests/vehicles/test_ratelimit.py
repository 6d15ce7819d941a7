"""The Arvento account's one request slot (kopru.vehicles.ratelimit) under real concurrency
on the real PostgreSQL, counted at the simulator: a holder whose hold ran out cannot give
away the slot another took since, and two pollers that both found no session log in once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx

from tests.vehicles.conftest import INTERVAL_S, WINDOW_S


def logins(arvento, label: str) -> list[dict]:
    r = httpx.get(arvento.url + "/_simulator/calls", timeout=5)  # the simulator's read-only inspection route
    assert r.status_code == 200
    return [c for c in r.json()["calls"] if c["account"] == label and c["endpoint"] == "login"]


async def test_a_holder_whose_hold_ran_out_leaves_the_next_holders_slot_alone(arvento, monkeypatch):
    """A's call outlives its hold; B takes the slot and is still at Arvento when A's answer
    finally comes and A gives the slot back. That must not free B's slot: C, arriving after
    A's interval, still waits for B, and Arvento never sees two requests within its window."""
    from kopru.connectors import arvento as av
    from kopru.vehicles import ratelimit

    monkeypatch.setattr(ratelimit, "GRACE_S", 0.0)  # a short hold: interval + 0.1 s
    user, label = f"yaris-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    arvento.add_account(user, "parola", label=label)
    key = ratelimit.account_key(arvento.url, user)

    a = await ratelimit.claim(key, INTERVAL_S, timeout_s=0.1)
    assert a is not None
    await av.ArventoRest(user, "parola", arvento.url).login()            # A's request; its answer is slow
    # B, another instance, waits for the slot and gets it once A's hold ran out
    b = await ratelimit.claim(key, INTERVAL_S, wait_s=3.0)
    assert b is not None and b != a
    freed = await ratelimit.release(key, INTERVAL_S, a)                  # A's answer, at last: not its slot now
    await asyncio.sleep(INTERVAL_S + 0.1)                                 # past what A's release would have set
    c, _ = await ratelimit.try_claim(key, INTERVAL_S)
    if c is not None:  # (the bug) C takes the slot while B holds it, and reaches Arvento first
        await av.ArventoRest(user, "parola", arvento.url).login()
    with contextlib.suppress(av.RateLimited):
        await av.ArventoRest(user, "parola", arvento.url).login()        # B's request
    assert arvento.stats()[label]["rate_limited"] == 0                   # B was not refused: C never went
    assert c is None and freed is False
    assert await ratelimit.next_at(key) == b                             # B's hold untouched
    assert await ratelimit.release(key, INTERVAL_S, b) is True
    # C, waiting concurrently with a fourth instance D: one at a time, each after the interval
    async def later() -> None:
        held = await ratelimit.claim(key, INTERVAL_S, wait_s=5.0)
        assert held is not None
        try:
            await av.ArventoRest(user, "parola", arvento.url).login()
        finally:
            assert await ratelimit.release(key, INTERVAL_S, held)

    await asyncio.gather(later(), later())
    got = logins(arvento, label)
    assert len(got) == 4 and all(x["http_status"] == 200 for x in got), got
    stats = arvento.stats()[label]
    assert stats["rate_limited"] == 0 and stats["min_gap_s"] >= WINDOW_S, stats


async def test_two_pollers_that_found_no_session_log_in_once(fleet, arvento):
    """Both pollers read "no session" before either took the slot; the one that waited
    acts on the session the first one saved (read in the slot), and does not log in again
    (which would kill the first one's session: one session per account)."""
    from kopru.vehicles.service import poll_tenant

    t = await fleet(1)
    before = len(logins(arvento, t["label"]))  # the settings check's login (its session is not kept)
    got = await asyncio.gather(poll_tenant(t["id"], wait_s=4.0), poll_tenant(t["id"], wait_s=4.0))
    assert len(logins(arvento, t["label"])) - before == 1, got
    assert sum(g.get("logins", 0) for g in got) == 1 and not any(g.get("session_lost") for g in got), got
    assert sum(g.get("position_reads", 0) for g in got) >= 1, got
    stats = arvento.stats()[t["label"]]
    assert stats["rate_limited"] == 0 and stats["min_gap_s"] >= WINDOW_S, stats
