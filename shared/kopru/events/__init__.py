"""Events: the catalog, the CloudEvents envelope and the transactional outbox."""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

from kopru.db.engine import set_outbox_writer, statement

current_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("kopru_event_source", default=None)
current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar("kopru_traceparent", default=None)


class EventSchemaError(Exception):
    """A function tried to emit data that breaks the event's schema: a programming error."""


async def write_outbox(tx, type_: str, data: dict[str, Any], *, subject: str | None = None,
                       source: str | None = None) -> str:
    """Record an event in the outbox inside the caller's transaction: it is published
    if and only if the transaction commits."""
    from kopru.events.catalog import load_catalog, schema_errors

    if type_ not in load_catalog().events:
        raise EventSchemaError(f"{type_} is not in the event catalog")
    problems = schema_errors(type_, data)
    if problems:
        raise EventSchemaError(f"{type_}: data breaks its schema at {problems}")
    source = source or current_source.get()
    if not source:
        raise EventSchemaError("no event source: emit from inside a function or pass source=")
    event_id = uuid.uuid4()
    ext: dict[str, str] = {"tenantid": str(tx.tenant_id), "partitionkey": str(tx.tenant_id)}
    tp = current_traceparent.get()
    if tp:
        ext["traceparent"] = tp
    await tx.conn.queue(statement("outbox_insert"), {
        "tenant_id": tx.tenant_id, "event_id": event_id, "type": type_, "source": source, "subject": subject,
        "data": data, "extensions": ext})
    return str(event_id)


set_outbox_writer(write_outbox)  # TenantTx.emit (kopru.db) writes through this

__all__ = ["EventSchemaError", "current_source", "current_traceparent", "write_outbox"]
