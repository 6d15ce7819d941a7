"""The event catalog (`events/` at the repository root): one JSON Schema per event
type and the map type -> topic -> consuming functions. It drives the outbox checks,
the local bus, the Kafka topics and the deployment manifests: written once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
class DeliveryPolicy:
    """Knative's delivery spec: retry count, linear or exponential backoff from a delay."""

    retry: int
    backoff_policy: str  # "linear" | "exponential"
    backoff_delay: float  # seconds (ISO 8601 duration in the catalog)
    timeout: float

    def delay(self, attempt: int) -> float:
        """Wait before retry number `attempt` (1-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * attempt
        return self.backoff_delay * (2 ** (attempt - 1))


@dataclass(frozen=True)
class Schedule:
    """A function woken on a cron schedule (PingSource on Knative, cron-connector on
    OpenFaaS, `kopru dev` locally) with an event of `type`, evaluated in `timezone`."""

    function: str
    cron: str  # five fields: minute hour day-of-month month day-of-week
    type: str
    timezone: str = "Europe/Istanbul"


@dataclass(frozen=True)
class Catalog:
    events: dict[str, EventType]
    topics: dict[str, Topic]
    delivery: DeliveryPolicy
    dead_letter_prefix: str
    schedules: dict[str, Schedule] = field(default_factory=dict)  # function -> its schedule

    def consumers_of(self, type_: str) -> tuple[str, ...]:
        et = self.events.get(type_)
        return et.consumers if et else ()

    def consumed_by(self, function: str) -> dict[str, tuple[str, ...]]:
        """topic -> event types of it that `function` consumes."""
        out: dict[str, list[str]] = {}
        for et in self.events.values():
            if function in et.consumers:
                out.setdefault(et.topic, []).append(et.type)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def consumers(self) -> tuple[str, ...]:
        return tuple(sorted({c for et in self.events.values() for c in et.consumers}))

    def dead_letter_topic(self, function: str) -> str:
        return self.dead_letter_prefix + function


def iso_seconds(duration: str) -> float:
    """PT0.2S / PT5M / PT1H -> seconds (the subset of ISO 8601 Knative uses)."""
    m = re.fullmatch(r"PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", duration)
    if not m or not any(m.groups()):
        raise ValueError(f"not an ISO 8601 duration: {duration}")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


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
    d = raw["delivery"]
    policy = DeliveryPolicy(int(d["retry"]), d["backoffPolicy"], iso_seconds(d["backoffDelay"]), iso_seconds(d["timeout"]))
    if policy.backoff_policy not in ("linear", "exponential"):
        raise ValueError("backoffPolicy must be linear or exponential")
    return Catalog(events, topics, policy, raw["deadLetterTopicPrefix"], _schedules(raw.get("schedules", {})))


_CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _cron_ok(fields: list[str]) -> bool:
    if len(fields) != 5:
        return False
    for f, (lo, hi) in zip(fields, _CRON_RANGES):
        if not _CRON_FIELD.fullmatch(f):
            return False
        for part in f.split(","):
            for n in re.findall(r"\d+", part.split("/")[0]):
                if not lo <= int(n) <= hi:
                    return False
    return True


def _schedules(raw: dict[str, Any]) -> dict[str, Schedule]:
    """`"schedules": {"<function>": {"cron": "0 3 * * *", "type": "...", "timezone": "..."}}`"""
    from zoneinfo import ZoneInfo

    out = {}
    for function, s in raw.items():
        if function.startswith("$"):
            continue
        cron, type_ = s["cron"], s["type"]
        fields = cron.split()
        if not _cron_ok(fields):
            raise ValueError(f"schedule of {function}: not a five-field numeric cron expression: {cron!r}")
        tz = s.get("timezone", Schedule.timezone)
        ZoneInfo(tz)  # raises for an unknown zone
        out[function] = Schedule(function, " ".join(fields), type_, tz)
    return out


@lru_cache(maxsize=None)
def validator(type_: str) -> Any:
    """The type's schema compiled by jsonschema-rs (Draft 2020-12, formats checked): a
    function's first event or emit pays ~2 ms for it, where the jsonschema package's
    import (referencing, attrs, its format checkers) cost ~35 ms on a cold start."""
    import jsonschema_rs

    et = load_catalog().events.get(type_)
    if et is None:
        raise KeyError(type_)
    schema = json.loads(et.schema_path.read_text(encoding="utf-8"))
    jsonschema_rs.meta.validate(schema)  # a schema that breaks its metaschema raises
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def schema_errors(type_: str, data: Any) -> list[str]:
    """Where `data` breaks its schema: paths and the failing keyword only, never values."""
    return [
        f"{'/'.join(str(p) for p in e.instance_path) or '(root)'}: {e.schema_path[-1] if e.schema_path else '?'}"
        for e in validator(type_).iter_errors(data)
    ]
