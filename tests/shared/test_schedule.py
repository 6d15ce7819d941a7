"""The cron schedules `kopru dev` ticks (production: PingSource / cron-connector)."""

import asyncio
import dataclasses
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from kopru.events.schedule import cron_matches, run_schedules

IST = ZoneInfo("Europe/Istanbul")


@pytest.mark.parametrize("expr,when,ok", [
    ("0 3 * * *", datetime(2026, 11, 26, 3, 0, tzinfo=IST), True),
    ("0 3 * * *", datetime(2026, 11, 26, 3, 1, tzinfo=IST), False),
    ("*/5 * * * *", datetime(2026, 11, 26, 10, 15, tzinfo=IST), True),
    ("*/5 * * * *", datetime(2026, 11, 26, 10, 16, tzinfo=IST), False),
    ("0 9-17 * * 1-5", datetime(2026, 11, 26, 12, 0, tzinfo=IST), True),   # a Thursday
    ("0 9-17 * * 1-5", datetime(2026, 11, 29, 12, 0, tzinfo=IST), False),  # a Sunday
    ("0 0 1 * 0", datetime(2026, 11, 29, 0, 0, tzinfo=IST), True),  # dom or dow when both are set
    ("0 0 1 * 7", datetime(2026, 11, 29, 0, 0, tzinfo=IST), True),  # 7 is Sunday too
])
def test_cron_matches(expr, when, ok):
    assert cron_matches(expr, when) is ok


def test_bad_cron_is_refused():
    with pytest.raises(ValueError):
        cron_matches("61 * * * *", datetime(2026, 1, 1, tzinfo=IST))


async def test_a_schedule_ticks_its_function_once_per_matching_minute():
    from kopru.events.catalog import Schedule, load_catalog

    cat = dataclasses.replace(load_catalog(), schedules={"probe": Schedule("probe", "0 3 * * *", "kopru.test.tick.v1")})
    got = []

    async def sender(headers, body):
        got.append(headers)
        return 204, b""

    stop = asyncio.Event()
    # 00:00 UTC is 03:00 in Istanbul
    clock = lambda: datetime(2026, 11, 26, 0, 0, 5, tzinfo=timezone.utc)
    task = asyncio.create_task(run_schedules({"probe": sender, "other": sender}, stop, catalog=cat, now=clock))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(got) == 1
    assert got[0]["ce-type"] == "kopru.test.tick.v1" and got[0]["ce-id"] == "probe-20261126T0300+0300"
