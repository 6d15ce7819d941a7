"""Every scheduled function takes its tick as the ticker sends it (`run_schedules`: the
catalog's type, the ticker's own sender token) at its `POST /`, and answers 200 with what
it did: no schedule in events/catalog.json points at a function that cannot take it."""

import asyncio
import json
from datetime import datetime, timedelta, timezone

import httpx


def _first_match(cron: str, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    from kopru.events.schedule import cron_matches

    t = datetime(2026, 3, 2, tzinfo=ZoneInfo(zone))
    for _ in range(7 * 24 * 60):
        if cron_matches(cron, t):
            return t.astimezone(timezone.utc)
        t += timedelta(minutes=1)
    raise AssertionError(f"{cron} never matches in a week")


async def test_every_scheduled_function_answers_its_tick(apps, monkeypatch):
    from kopru.config import reset_settings
    from kopru.events.catalog import load_catalog
    from kopru.events.dispatcher import http_sender
    from kopru.events.schedule import run_schedules

    monkeypatch.setenv("KOPRU_WEBHOOK_TICK_BUDGET_SECONDS", "0")  # webhooks-retry: one pass, no waiting
    reset_settings()
    try:
        cat = load_catalog()
        assert {"payment", "webhooks-retry", "workflows-resume"} <= set(cat.schedules)
        for fn, sched in cat.schedules.items():
            assert fn in apps, f"{fn} is scheduled but not a function"
            at = _first_match(sched.cron, sched.timezone)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[fn]), base_url="http://f") as c:
                send, got, stop = http_sender(c, "/", fn), [], asyncio.Event()

                async def ticked(h, b):
                    got.append(await send(h, b))
                    stop.set()
                    return got[-1]

                await asyncio.wait_for(run_schedules({fn: ticked}, stop, catalog=cat, now=lambda: at), 120)
            (status, answer), = got
            assert status == 200, (fn, answer)
            assert isinstance(json.loads(answer), dict), (fn, answer)  # what the tick did, as counts
    finally:
        monkeypatch.undo()
        reset_settings()
