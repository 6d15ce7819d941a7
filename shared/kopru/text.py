"""Turkish text, money and time: the one place the library handles them.

- Case mapping follows Turkish rules: i <-> İ and ı <-> I (Python's str.upper()
  and str.lower() would turn "i" into "I" and "İ" into "i̇").
- Amounts in TRY are formatted the tr-TR way: "₺1.234,56".
- Business time is Europe/Istanbul (UTC+3 all year since 2016).
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

BUSINESS_TZ_NAME = "Europe/Istanbul"

_UPPER = str.maketrans({"i": "İ", "ı": "I"})
_LOWER = str.maketrans({"I": "ı", "İ": "i"})


def tr_upper(s: str) -> str:
    return s.translate(_UPPER).upper()


def tr_lower(s: str) -> str:
    return s.translate(_LOWER).lower()


def tr_casefold(s: str) -> str:
    """Fold for comparisons: "İSTANBUL", "istanbul" and "İstanbul" compare equal;
    "ISPARTA" folds to "ısparta", not "isparta"."""
    return unicodedata.normalize("NFC", tr_lower(unicodedata.normalize("NFC", s)))


def fold_email(address: str) -> str:
    """E-mail addresses are compared with the default Unicode fold, *not* the Turkish
    one: "YONETICI@firma.com.tr" must match "yonetici@…", which tr_casefold would
    turn into "yonetıcı@…"."""
    return unicodedata.normalize("NFC", address.strip()).casefold()


@lru_cache(maxsize=1)
def business_tz() -> ZoneInfo:
    return ZoneInfo(BUSINESS_TZ_NAME)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def to_business_time(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone first")
    return dt.astimezone(business_tz())


def iso_business(dt: datetime | None) -> str | None:
    """An instant as API answers show it: ISO 8601 in Europe/Istanbul (None stays None)."""
    return to_business_time(dt).isoformat() if dt is not None else None


def iso_utc(dt: datetime) -> str:
    """An instant as events carry it: ISO 8601 in UTC with a Z."""
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _group(digits: str, sep: str) -> str:
    out = []
    while len(digits) > 3:
        out.append(digits[-3:])
        digits = digits[:-3]
    out.append(digits)
    return sep.join(reversed(out))


def format_amount(amount: Decimal | int | str, places: int = 2) -> str:
    """1234.5 -> "1.234,50" (tr-TR grouping and decimal comma, half-up rounding)."""
    q = Decimal(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    whole, _, frac = f"{abs(q):f}".partition(".")
    body = _group(whole, ".")
    return f"{sign}{body},{frac}" if places else f"{sign}{body}"


def format_try(amount: Decimal | int | str) -> str:
    """The CLDR tr-TR currency pattern "¤#,##0.00": Decimal("1234.5") -> "₺1.234,50"."""
    s = format_amount(amount)
    return f"-₺{s[1:]}" if s.startswith("-") else f"₺{s}"


def format_date(d: date | datetime) -> str:
    """tr-TR short date, in business time for datetimes: 26.11.2026."""
    if isinstance(d, datetime):
        d = to_business_time(d)
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def format_datetime(dt: datetime) -> str:
    local = to_business_time(dt)
    return f"{format_date(local)} {local.hour:02d}:{local.minute:02d}"


def years_before(dt: datetime, years: int) -> datetime:
    """The same wall-clock instant `years` calendar years earlier, in dt's own zone. 29
    February becomes 28 February when that year has none: the earlier day, so a retention
    hold computed with it is never shorter than the law's years. An aware `dt` keeps its
    zone; the offset is the one that zone has on the new date (DST is the zone's, not dt's)."""
    import calendar

    y = dt.year - years
    day = dt.day if not (dt.month == 2 and dt.day == 29 and not calendar.isleap(y)) else 28
    return dt.replace(year=y, day=day)
