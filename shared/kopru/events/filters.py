"""Event filters in the CloudEvents Subscriptions API dialects (the filters a Knative Trigger
takes): `exact`, `prefix`, `suffix` over attributes, and `all`, `any`, `not` over filters.

A filter is a list of filter expressions, all of which must match (the API's `filters`
array), for example:

    [{"exact": {"type": "kopru.payment.succeeded.v1"}},
     {"any": [{"exact": {"data.currency": "TRY"}}, {"prefix": {"subject": "pay-"}}]}]

Attributes are the event's context attributes `type`, `source`, `subject`, `id` and, beyond
the specification (whose filters see context attributes only), `data.<field>` for a
top-level scalar of the event's data, compared as its string form. A missing attribute
never matches `exact`/`prefix`/`suffix`. Used by webhook endpoints (kopru.webhooks) and
meant for workflow triggers.
"""

from __future__ import annotations

import re
from typing import Any

from kopru.errors import KopruError

ATTR = re.compile(r"^(type|source|subject|id|data\.[a-z][a-z0-9_]{0,63})$")
MAX_NODES = 50
MAX_VALUE = 256


def validate(filters: Any, code: str = "webhook.filter_invalid") -> list[dict[str, Any]]:
    """The filter list, checked (shape, attribute names, sizes); KopruError(code) otherwise."""
    count = [0]

    def node(f: Any, depth: int) -> None:
        count[0] += 1
        if depth > 8 or count[0] > MAX_NODES or not isinstance(f, dict) or len(f) != 1:
            raise KopruError(code)
        (dialect, arg), = f.items()
        if dialect in ("exact", "prefix", "suffix"):
            if not isinstance(arg, dict) or len(arg) != 1:
                raise KopruError(code)
            (attr, value), = arg.items()
            if not isinstance(attr, str) or not ATTR.match(attr) or not isinstance(value, str) \
                    or len(value) > MAX_VALUE or (dialect != "exact" and not value):
                raise KopruError(code)
        elif dialect in ("all", "any"):
            if not isinstance(arg, list) or not arg:
                raise KopruError(code)
            for sub in arg:
                node(sub, depth + 1)
        elif dialect == "not":
            node(arg, depth + 1)
        else:
            raise KopruError(code)

    if not isinstance(filters, list):
        raise KopruError(code)
    for f in filters:
        node(f, 0)
    return filters


def attributes(type_: str, source: str, subject: str | None, id_: str, data: Any) -> dict[str, str]:
    """What a filter sees of one event."""
    out = {"type": type_, "source": source, "id": id_}
    if subject is not None:
        out["subject"] = subject
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, bool):
                out[f"data.{k}"] = "true" if v else "false"
            elif isinstance(v, (str, int, float)):
                out[f"data.{k}"] = str(v)
    return out


def matches(filters: list[dict[str, Any]] | None, attrs: dict[str, str]) -> bool:
    """Whether every filter of the list matches (an empty or absent list matches all)."""
    return all(_match(f, attrs) for f in filters or ())


def _match(f: dict[str, Any], attrs: dict[str, str]) -> bool:
    (dialect, arg), = f.items()
    if dialect in ("exact", "prefix", "suffix"):
        (attr, value), = arg.items()
        got = attrs.get(attr)
        if got is None:
            return False
        if dialect == "exact":
            return got == value
        return got.startswith(value) if dialect == "prefix" else got.endswith(value)
    if dialect == "all":
        return all(_match(x, attrs) for x in arg)
    if dialect == "any":
        return any(_match(x, attrs) for x in arg)
    return not _match(arg, attrs)
