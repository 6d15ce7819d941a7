"""What a workflow reads of an event: the trigger types, the event as expressions see it,
JMESPath expressions (conditions and input mappings), and a sample event made from a
trigger type's schema (to check a mapping when a workflow is saved, and for a dry run
without data).

JMESPath (jmespath.org, the `jmespath` package): a specified, well-kept expression
language with a compliance suite, not one of our own. An expression sees the event as
`{"type", "source", "id", "subject", "time", "data"}`; it cannot call out, loop without
bound or read anything but that object.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import lru_cache
from typing import Any

from kopru.errors import KopruError

FUNCTION = "workflows"
MAX_EXPRESSION = 500
FIELD = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@lru_cache(maxsize=1)
def trigger_types() -> frozenset[str]:
    """The catalog types a workflow may trigger on: those the `workflows` function consumes."""
    from kopru.events.catalog import load_catalog

    return frozenset(t for t, e in load_catalog().events.items() if FUNCTION in e.consumers)


def envelope(type_: str, source: str, id_: str, subject: str | None, time: str | None, data: Any) -> dict[str, Any]:
    """The event as conditions and mappings see it."""
    return {"type": type_, "source": source, "id": id_, "subject": subject, "time": time, "data": data}


@lru_cache(maxsize=2048)
def compile_expression(expr: str):
    """A compiled JMESPath expression; ValueError when it does not compile."""
    import jmespath

    if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_EXPRESSION:
        raise ValueError("empty or too long")
    try:
        return jmespath.compile(expr)
    except Exception:  # ParseError, LexerError, IncompleteExpressionError, and anything odd input provokes
        raise ValueError("does not compile") from None


def search(expr: str, event: dict[str, Any]) -> Any:
    """The expression's value over the event; ValueError when it cannot be evaluated
    (a function given the wrong type: `to_number(data)`, `join` over a null)."""
    compiled = compile_expression(expr)
    try:
        return compiled.search(event)
    except Exception:  # JMESPathTypeError and friends
        raise ValueError("cannot be evaluated") from None


def condition_holds(condition: str | None, event: dict[str, Any]) -> bool:
    """A trigger's condition: true only when the expression gives exactly `true` (a
    non-empty string or a number is not a yes). No condition: true."""
    if not condition:
        return True
    try:
        return search(condition, event) is True
    except ValueError:
        return False


def resolve(mapping: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """An action's input from its mapping: each field an expression's value or a
    constant; a field whose expression gives null is left out (the model then says
    whether it was required). Raises ValueError(field) when one cannot be evaluated."""
    out: dict[str, Any] = {}
    for name, how in mapping.items():
        if isinstance(how, dict):
            value = how.get("const")
        else:
            try:
                value = search(how, event)
            except ValueError:
                raise ValueError(name) from None
        if value is not None:
            out[name] = value
    return out


# -- a sample event from a schema ---------------------------------------------------------

SAMPLE_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
_CANDIDATES = ("1000.00", "1", "TRY", "00", "sample", "a", "A1", "2026-01-01", "x" * 8)


def _sample(schema: dict[str, Any]) -> Any:
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "examples" in schema and schema["examples"]:
        return schema["examples"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {k: _sample(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(schema.get("items") or {})]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(SAMPLE_ID)
    if fmt == "date-time":
        return "2026-01-01T09:00:00+03:00"
    if fmt == "date":
        return "2026-01-01"
    pattern = schema.get("pattern")
    if pattern:
        for c in _CANDIDATES:
            if re.search(pattern, c):
                return c
    return "sample"[: schema.get("maxLength", 6)] or "s"


@lru_cache(maxsize=64)
def _sample_json(type_: str) -> str:
    from kopru.events.catalog import load_catalog

    et = load_catalog().events[type_]
    schema = json.loads(et.schema_path.read_text(encoding="utf-8"))
    producer = et.producer
    return json.dumps(envelope(type_, f"/kopru/{producer}", str(SAMPLE_ID), str(SAMPLE_ID),
                               "2026-01-01T09:00:00+03:00", _sample(schema)))


def sample_event(type_: str, data: Any = None) -> dict[str, Any]:
    """A sample event of a trigger type: its data made from the schema (every property,
    a value of its type, format, pattern or enum), or `data` when given."""
    ev = json.loads(_sample_json(type_))
    if data is not None:
        ev["data"] = data
    return ev


def check_trigger(type_: str, filter_: Any, condition: str | None) -> list[dict[str, Any]] | None:
    """The trigger, checked: KopruError workflow.trigger_unknown / .filter_invalid /
    .condition_invalid. Returns the filter."""
    from kopru.events.filters import validate

    if type_ not in trigger_types():
        raise KopruError("workflow.trigger_unknown", errors=[{"field": "trigger.type"}])
    out = None
    if filter_:
        out = validate(filter_, "workflow.filter_invalid")
    if condition is not None:
        try:
            compile_expression(condition)
        except ValueError:
            raise KopruError("workflow.condition_invalid", errors=[{"field": "trigger.condition"}]) from None
    return out
