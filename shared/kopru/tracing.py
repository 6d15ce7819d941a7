"""Tracing with opentelemetry-api: a span around each request, delivery and outward
call, the trace carried in W3C `traceparent` (HTTP header, CloudEvents extension,
Kafka ce_traceparent), so one trace runs onboarding -> Kafka -> SMS.

With only the API installed spans are not recorded, but the trace id still flows;
an OpenTelemetry SDK configured in the image records them without code changes.
"""

from __future__ import annotations

import re
import secrets
from contextlib import contextmanager
from typing import Iterator

from kopru.events import current_traceparent
from kopru.logs import trace_id_var

_TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def valid(traceparent: str | None) -> bool:
    m = _TP.fullmatch(traceparent or "")
    return bool(m) and m.group(1) != "0" * 32 and m.group(2) != "0" * 16


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def _sdk_installed() -> bool:
    """Whether an OpenTelemetry SDK was configured (the API alone records nothing)."""
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@contextmanager
def _carry(traceparent: str) -> Iterator[str]:
    """Make `traceparent` the one that events and logs inside this block carry."""
    t1 = current_traceparent.set(traceparent)
    t2 = trace_id_var.set(traceparent.split("-")[1])
    try:
        yield traceparent
    finally:
        current_traceparent.reset(t1)
        trace_id_var.reset(t2)


@contextmanager
def span(name: str, traceparent: str | None = None, kind: str = "SERVER") -> Iterator[str]:
    """Continue the trace of `traceparent` (or start one); yields the traceparent that
    work inside this span passes on."""
    tp = traceparent if valid(traceparent) else (current_traceparent.get() or new_traceparent())
    if not _sdk_installed():
        # API only: no span is recorded, so carry the trace id without the machinery
        with _carry(tp) as out:
            yield out
        return
    from opentelemetry import propagate, trace

    ctx = propagate.extract({"traceparent": tp})
    tracer = trace.get_tracer("kopru")
    with tracer.start_as_current_span(name, context=ctx, kind=getattr(trace.SpanKind, kind)):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        with _carry(carrier["traceparent"] if valid(carrier.get("traceparent")) else tp) as out:
            yield out
