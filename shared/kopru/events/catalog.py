"""The event catalog (`events/` at the repository root): one JSON Schema per event
type and the map type -> topic -> consuming functions. It drives the outbox checks,
the local bus, the Kafka topics and the deployment manifests: written once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kopru.config import REPO_ROOT

CATALOG_DIR = REPO_ROOT / "events"


@dataclass(frozen=True)
class EventType:
    type: str
    topic: str
    producer: str
    consumers: tuple[str, ...]
    schema_path: Path


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int


@dataclass(frozen=True)
class Catalog:
    events: dict[str, EventType]
    topics: dict[str, Topic]

    def consumers_of(self, type_: str) -> tuple[str, ...]:
        et = self.events.get(type_)
        return et.consumers if et else ()


@lru_cache(maxsize=1)
def load_catalog(root: Path = CATALOG_DIR) -> Catalog:
    raw = json.loads((root / "catalog.json").read_text(encoding="utf-8"))
    topics = {
        name: Topic(name, int(t["partitions"]), int(t["retention_ms"])) for name, t in raw["topics"].items()
    }
    events = {}
    for type_, e in raw["events"].items():
        if e["topic"] not in topics:
            raise ValueError(f"{type_}: unknown topic {e['topic']}")
        events[type_] = EventType(
            type=type_, topic=e["topic"], producer=e["producer"], consumers=tuple(e.get("consumers", ())),
            schema_path=root / "schemas" / f"{type_}.json",
        )
    return Catalog(events, topics)


@lru_cache(maxsize=None)
def validator(type_: str) -> Any:
    from jsonschema import Draft202012Validator

    et = load_catalog().events.get(type_)
    if et is None:
        raise KeyError(type_)
    schema = json.loads(et.schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(type_: str, data: Any) -> list[str]:
    """Where `data` breaks its schema: paths and validator names only, never values."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.validator}"
        for e in validator(type_).iter_errors(data)
    ]
