"""Which catalog event types webhooks deliver, and which of them name a data subject.

Deliverable: the types whose consumers include the `webhooks` function (events/catalog.json).
Personal: those whose schema has `subject_id`; they go only to an endpoint registered with
`personal_data: true` and a `purpose` (a disclosure to a third party under KVKK)."""

from __future__ import annotations

import json
from functools import lru_cache

FUNCTION = "webhooks"


@lru_cache(maxsize=1)
def deliverable_types() -> frozenset[str]:
    from kopru.events.catalog import load_catalog

    return frozenset(t for t, e in load_catalog().events.items() if FUNCTION in e.consumers)


@lru_cache(maxsize=1)
def personal_types() -> frozenset[str]:
    from kopru.events.catalog import load_catalog

    cat = load_catalog()
    out = set()
    for t in deliverable_types():
        schema = json.loads(cat.events[t].schema_path.read_text(encoding="utf-8"))
        if "subject_id" in (schema.get("properties") or {}):
            out.add(t)
    return frozenset(out)


def check_personal(personal_data: bool | None, purpose: str | None, types: list[str] | None) -> None:
    """Raises ValueError(code): a purpose is required with personal data, and a personal
    type needs an endpoint registered for personal data."""
    if personal_data and not purpose:
        raise ValueError("webhook.purpose_required")
    if types is not None and not personal_data and set(types) & personal_types():
        raise ValueError("webhook.personal_data_undeclared")
