"""From the function registry and the event catalog to what each deployable needs:
its source, whether it serves HTTP, the Kafka topics that feed it (and so its
consumer group and dead-letter topic), and its schedule. Both renderers use this
one plan, so Knative and OpenFaaS cannot disagree about a function's triggers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from kopru.events.catalog import Catalog, Schedule
from kopru.runtime.registry import FunctionInfo


class RenderError(ValueError):
    """The registry and the catalog disagree, or ask for something a platform can't do."""


@dataclass(frozen=True)
class FunctionPlan:
    name: str
    folder: str
    http: bool  # declares HTTP routes (else: events only, cluster-local on Knative)
    types: tuple[str, ...]  # consumed from Kafka, sorted
    topics: tuple[str, ...]  # the topics of those types, sorted
    dead_letter_topic: str | None
    schedule: Schedule | None

    @property
    def source(self) -> str:
        """FUNCTION_SOURCE, relative to the image's working directory (/app)."""
        return f"functions/{self.folder}/main.py"

    @property
    def consumer_group(self) -> str:
        return f"kopru-{self.name}"


@dataclass(frozen=True)
class Plan:
    functions: tuple[FunctionPlan, ...]  # sorted by name
    skipped_schedules: tuple[str, ...]  # schedules of functions that don't exist (yet)

    @property
    def consumers(self) -> tuple[FunctionPlan, ...]:
        return tuple(f for f in self.functions if f.topics)


def make_plan(registry: Mapping[str, FunctionInfo], catalog: Catalog) -> Plan:
    problems: list[str] = []
    plans = []
    for name in sorted(registry):
        info = registry[name]
        schedule = catalog.schedules.get(name)
        if schedule is not None and schedule.type not in info.consumes:
            problems.append(f"events/catalog.json schedules {name} with {schedule.type}, "
                            f"but {info.source.parent.name}/main.py declares no @fn.on_event({schedule.type!r})")
        types = []
        for t in sorted(info.consumes):
            if schedule is not None and t == schedule.type:
                continue
            et = catalog.events.get(t)
            if et is None:
                problems.append(f"{name} consumes {t}, which events/catalog.json neither lists under "
                                f"\"events\" nor schedules for {name}")
            elif name not in et.consumers:
                problems.append(f"{name} consumes {t} in code, but events/catalog.json does not list "
                                f"{name} among its consumers")
            else:
                types.append(t)
        topics = tuple(sorted({catalog.events[t].topic for t in types}))
        plans.append(FunctionPlan(
            name=name, folder=info.folder, http=bool(info.routes), types=tuple(types), topics=topics,
            dead_letter_topic=catalog.dead_letter_topic(name) if topics else None, schedule=schedule,
        ))
    for et in sorted(catalog.events.values(), key=lambda e: e.type):
        for c in et.consumers:
            if c in registry and et.type not in registry[c].consumes:
                problems.append(f"events/catalog.json lists {c} as a consumer of {et.type}, "
                                f"but {c} declares no @fn.on_event({et.type!r})")
    if problems:
        raise RenderError("the registry and the catalog disagree:\n  " + "\n  ".join(problems))
    skipped = tuple(sorted(f for f in catalog.schedules if f not in registry))
    return Plan(tuple(plans), skipped)
