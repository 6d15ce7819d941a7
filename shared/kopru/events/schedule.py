"""Schedules in `kopru dev`: the catalog's cron expressions (five fields, in the
schedule's time zone) tick the scheduled functions, as a Knative PingSource or the
OpenFaaS cron-connector does in production."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Callable


def _field(spec: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            step = int(s)
            if step < 1:
                raise ValueError("cron step must be >= 1")
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-", 1))
        else:
            a = b = int(part)
            if step != 1:
                b = hi
        if not (lo <= a <= b <= hi):
            raise ValueError(f"cron value out of range {lo}-{hi}: {part}")
        out.update(range(a, b + 1, step))
    return out


def cron_matches(expr: str, t: datetime) -> bool:
    """Whether minute `t` (in the schedule's zone) is one the expression names. Day of
    month and day of week combine as cron does: either, when both are restricted."""
    minute, hour, dom, month, dow = expr.split()
    if t.minute not in _field(minute, 0, 59) or t.hour not in _field(hour, 0, 23) \
            or t.month not in _field(month, 1, 12):
        return False
    cron_dow = (t.weekday() + 1) % 7  # cron: 0 = Sunday
    dows = {d % 7 for d in _field(dow, 0, 7)}
    in_dom, in_dow = t.day in _field(dom, 1, 31), cron_dow in dows
    if dom != "*" and dow != "*":
        return in_dom or in_dow
    return in_dom and in_dow


async def run_schedules(senders: dict[str, Callable], stop: asyncio.Event, catalog: Any = None,
                        now: Callable[[], datetime] | None = None) -> None:
    """Tick every scheduled function that has a sender, once per matching minute."""
    from zoneinfo import ZoneInfo

    from kopru.events.catalog import load_catalog
    from kopru.events.ingress import bearer
    from kopru.text import now_utc

    cat = catalog or load_catalog()
    clock = now or now_utc
    todo = {fn: s for fn, s in cat.schedules.items() if fn in senders}
    last: dict[str, datetime] = {}
    while not stop.is_set() and todo:
        for fn, sched in todo.items():
            local = clock().astimezone(ZoneInfo(sched.timezone)).replace(second=0, microsecond=0)
            if last.get(fn) == local or not cron_matches(sched.cron, local):
                continue
            last[fn] = local
            headers = {"ce-specversion": "1.0", "ce-id": f"{fn}-{local:%Y%m%dT%H%M%z}", "ce-source": "/kopru/schedule",
                       "ce-type": sched.type, "ce-time": local.isoformat(), "content-type": "application/json",
                       # the ticker's own sender token (the senders keep a caller's Authorization)
                       "authorization": bearer(fn, "schedule")}
            await senders[fn](headers, json.dumps({"scheduled_at": local.isoformat()}).encode())
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(1.0, 60 - clock().second + 0.5))
        except asyncio.TimeoutError:
            pass
