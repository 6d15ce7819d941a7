"""Cron expressions across time zones: Knative's PingSource takes a `timezone`;
OpenFaaS's cron-connector evaluates `schedule` in its own zone (UTC), so a
schedule in Europe/Istanbul is shifted to UTC there. Istanbul has kept UTC+3 all
year since 2016; a zone whose offset changes during the year is refused rather
than shifted wrongly for half of it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kopru_tools.deploy.plan import RenderError

# Offsets are compared at these instants (winter, summer) of a fixed year, so the
# result does not depend on the day the manifests are rendered.
_PROBES = (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12))


def fixed_offset_hours(tz: str) -> int:
    zone = ZoneInfo(tz)
    offsets = {zone.utcoffset(p) or timedelta(0) for p in _PROBES}
    if len(offsets) != 1:
        raise RenderError(f"time zone {tz} changes its UTC offset during the year; "
                          "give the OpenFaaS schedule in UTC")
    (off,) = offsets
    if off.total_seconds() % 3600:
        raise RenderError(f"time zone {tz} is not a whole number of hours from UTC")
    return int(off.total_seconds() // 3600)


def to_utc(cron: str, tz: str) -> str:
    """The same instants as `cron` evaluated in `tz`, as a UTC cron expression.
    Supports an hour field of numbers, ranges and lists (or `*`, `*/n` when the
    offset is 0); a shift that would move the day needs day-of-month, month and
    day-of-week to be `*`."""
    minute, hour, dom, month, dow = cron.split()
    shift = -fixed_offset_hours(tz)
    if shift == 0:
        return cron
    if "*" in hour or "/" in hour:
        if hour == "*":
            return cron  # every hour: the same in every whole-hour zone
        raise RenderError(f"cannot shift the hour field {hour!r} of {cron!r} from {tz} to UTC")
    hours: list[int] = []
    for part in hour.split(","):
        if "-" in part:
            a, b = (int(x) for x in part.split("-"))
            hours.extend(range(a, b + 1))
        else:
            hours.append(int(part))
    shifted = [h + shift for h in hours]
    if any(not 0 <= h <= 23 for h in shifted) and (dom, month, dow) != ("*", "*", "*"):
        raise RenderError(f"shifting {cron!r} from {tz} to UTC moves it to another day; "
                          "give day fields as * or the schedule in UTC")
    out = sorted({h % 24 for h in shifted})
    return " ".join((minute, ",".join(str(h) for h in out), dom, month, dow))
