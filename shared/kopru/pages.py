"""Cursor pages for list routes, one way everywhere: `?limit=1..100` (50 by default) and
`?cursor=` (the `next_cursor` of the previous page; absent or null on the last page).

A cursor is the position after the page's last row (its sort key), with a MAC bound to
the list and the tenant it was given for: a cursor this API did not give, or gave for
another list or another tenant, is refused with 400 `request.invalid_cursor` (a tenant's
rows are also out of another tenant's reach by row-level security; the MAC makes a forged
cursor an error instead of a silently shifted page)."""

from __future__ import annotations

from typing import Any

from kopru.errors import KopruError

LIMIT_DEFAULT = 50
LIMIT_MAX = 100
CURSOR_MAX = 512

# how a paged route documents its query (kopru.runtime.Function.route(query=...))
QUERY = (
    ("limit", False, {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT},
     f"rows per page, 1 to {LIMIT_MAX}"),
    ("cursor", False, {"type": "string", "minLength": 1, "maxLength": CURSOR_MAX},
     "the previous page's next_cursor"),
)


def limit(query: Any) -> int:
    """`?limit=` as an int in 1..LIMIT_MAX (LIMIT_DEFAULT when absent), else 422."""
    raw = query.get("limit")
    if raw is None:
        return LIMIT_DEFAULT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 3 or not 1 <= int(raw) <= LIMIT_MAX:
        raise KopruError("request.validation_failed", detail=f"limit: 1 to {LIMIT_MAX}",
                         errors=[{"field": "limit", "type": "value_error", "message": f"1 to {LIMIT_MAX}"}])
    return int(raw)


def _mac(scope: str, body: bytes) -> bytes:
    import hashlib
    import hmac

    from kopru.auth.crypto import master_key

    key = hashlib.sha256(b"kopru-page-cursor-v1" + master_key()).digest()
    return hmac.new(key, scope.encode() + b"\x00" + body, hashlib.sha256).digest()[:16]


def encode(scope: str, *values: Any) -> str:
    """A cursor for the position after a row whose sort key is `values` (str()-able:
    datetimes as ISO 8601, UUIDs), valid only for `scope` (the list and its tenant)."""
    import base64
    import json

    body = json.dumps([v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values],
                      separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body + _mac(scope, body)).decode().rstrip("=")


def decode(scope: str, cursor: str | None, arity: int) -> list[str] | None:
    """The sort key a cursor of `scope` carries (`arity` strings), None without a cursor;
    400 `request.invalid_cursor` for anything this API did not give for that scope."""
    import base64
    import binascii
    import hmac
    import json

    if cursor is None:
        return None
    try:
        if len(cursor) > CURSOR_MAX or not cursor.isascii():
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != cursor:
            raise ValueError  # only the one spelling this API gives (base64's spare low bits changed: not ours)
        body, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, _mac(scope, body)):
            raise ValueError
        values = json.loads(body)
        if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
            raise ValueError
        return values
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise KopruError("request.invalid_cursor") from None


def keyset_sql(query: str, params: dict[str, Any], at: str, key: str, scope: str, cursor: str | None, limit_: int,
               *, newest_first: bool = False, key_type: Any = None) -> tuple[str, dict[str, Any]]:
    """One page of a list sorted by (`at`, `key`) (newest first when asked), in plain SQL:
    `query` is "select ... from ... where <condition>" (say `where true` for none), `at`/`key`
    the sort columns as SQL; returns (SQL, parameters) ordered, one row past the page's size
    (`page` splits it off), and past the cursor's position when one is given (`key_type`
    parses the cursor's key, e.g. uuid.UUID; text keys need none)."""
    from datetime import datetime

    params = {**params, "_page_limit": limit_ + 1}
    after = decode(scope, cursor, 2)
    if after:
        try:
            params["_page_at"] = datetime.fromisoformat(after[0])
            params["_page_key"] = key_type(after[1]) if key_type else after[1]
        except ValueError:
            raise KopruError("request.invalid_cursor") from None
        query += f" and ({at}, {key}) {'<' if newest_first else '>'} (%(_page_at)s, %(_page_key)s)"
    order = f"{at} desc, {key} desc" if newest_first else f"{at}, {key}"
    return f"{query} order by {order} limit %(_page_limit)s", params


def page(rows: list, limit_: int, key) -> tuple[list, tuple | None]:
    """Split the `limit_ + 1` rows a query fetched into the page and the sort key of its
    last row when another page follows (`key(row)` gives it)."""
    if len(rows) > limit_:
        return rows[:limit_], key(rows[limit_ - 1])
    return rows, None
