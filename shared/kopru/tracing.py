"""Tracing with opentelemetry-api: a span around each request, delivery and outward
call, the trace carried in W3C `traceparent` (HTTP header, CloudEvents extension,
Kafka ce_traceparent), so one trace runs onboarding -> Kafka -> SMS.

With only the API installed spans are not recorded, but the trace id still flows;
an OpenTelemetry SDK configured in the image records them without code changes.

Traces to a collector: with OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) set
(kopru.config), a function's first request (`configure`, never at import) builds an SDK
TracerProvider whose resource's service.name is the function's name, with one
BatchSpanProcessor and the OTLP/HTTP protobuf exporter (the `otlp` extra) per process; the
spans above become SDK spans, children of the traceparent they continue. Batches are
flushed at interpreter exit (functions-framework has no shutdown hook; uvicorn exits
normally on SIGTERM, so atexit runs when Knative or OpenFaaS scales a pod down). Unset,
nothing of the SDK is imported. `kopru dev` runs every function in one process: one
provider per function there, sharing the processor, so each span names its function.
"""

from __future__ import annotations

import re
import secrets
from contextlib import contextmanager
from typing import Any, Iterator

from kopru.events import current_source, current_traceparent
from kopru.logs import get_logger, trace_id_var

log = get_logger("kopru.tracing")

_TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def valid(traceparent: str | None) -> bool:
    m = _TP.fullmatch(traceparent or "")
    return bool(m) and m.group(1) != "0" * 32 and m.group(2) != "0" * 16


def new_traceparent() -> str:
    h = secrets.token_hex(24)  # trace id and span id from one read of the system's randomness
    return f"00-{h[:32]}-{h[32:]}-01"


_configured: set[str] = set()  # functions whose first request looked at the settings
_providers: dict[str, Any] = {}  # function name -> SDK TracerProvider exporting over OTLP
_processor: Any = None  # the process's one BatchSpanProcessor (with the OTLP exporter)


def configure(function: str) -> None:
    """On `function`'s first request: with an OTLP traces endpoint configured, an SDK
    TracerProvider for it (service.name = `function`) exporting in batches over OTLP/HTTP.
    Without one, nothing is imported; every later call is a set lookup."""
    global _processor
    if function in _configured:
        return
    _configured.add(function)
    from kopru.config import settings

    endpoint = settings().otlp_traces_endpoint
    if not endpoint:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("an OTLP endpoint is set but the OpenTelemetry SDK or exporter is not installed "
                    "(pip install 'kopru[otlp]'); spans are not exported", extra={"fields": {"function": function}})
        return
    if _processor is None:
        import atexit

        # headers, time-out, compression and certificates: the exporter reads the standard
        # OTEL_EXPORTER_OTLP_* variables itself; the endpoint is the one kopru.config resolved
        _processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
        atexit.register(shutdown)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: function}), shutdown_on_exit=False)
    provider.add_span_processor(_processor)
    _providers[function] = provider
    log.info("traces exported over OTLP", extra={"fields": {"function": function, "endpoint": endpoint}})


def flush(timeout_ms: int = 30000) -> bool:
    """Send what the batch processor holds now (True when it went, or there is nothing)."""
    return _processor.force_flush(timeout_ms) if _processor is not None else True


def shutdown() -> None:
    """Flush and stop the exporter (at exit; tests), and forget every provider: the next
    request configures again from the settings."""
    global _processor
    processor, _processor = _processor, None
    _providers.clear()
    _configured.clear()
    if processor is not None:
        processor.shutdown()


def _provider(service: str | None = None) -> Any:
    """The OTLP-exporting provider of `service` or of the function serving this request, if any."""
    if not _providers:
        return None
    if service is not None:
        return _providers.get(service)
    source = current_source.get() or ""
    return _providers.get(source.rsplit("/", 1)[-1])


def recording(service: str) -> bool:
    """Whether spans of `service` are recorded (an OTLP provider for it, or an SDK installed)."""
    return _provider(service) is not None or _sdk_installed()


def _sdk_installed() -> bool:
    """Whether an OpenTelemetry SDK was configured (the API alone records nothing). A
    provider is set only through opentelemetry.trace (already loaded then) or named by
    OTEL_PYTHON_TRACER_PROVIDER: with neither, the API's import (~3 ms, an entry-point
    scan) is left out of a cold start's first request."""
    import sys

    if "opentelemetry.trace" not in sys.modules:
        from kopru.config import settings

        if not settings().otel_tracer_provider:
            return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Carried:
    """Make `tp` the traceparent that events and logs inside this block carry: a plain
    context manager (two context-variable sets), on every request's path."""

    __slots__ = ("tp", "_t1", "_t2")

    def __init__(self, tp: str):
        self.tp = tp

    def __enter__(self) -> str:
        self._t1 = current_traceparent.set(self.tp)
        self._t2 = trace_id_var.set(self.tp[3:35])
        return self.tp

    def __exit__(self, *exc: Any) -> None:
        current_traceparent.reset(self._t1)
        trace_id_var.reset(self._t2)


def span(name: str, traceparent: str | None = None, kind: str = "SERVER", service: str | None = None):
    """Continue the trace of `traceparent` (or start one); a context manager yielding the
    traceparent that work inside this span passes on. `service`: a process that is no
    function (the outbox relay) names whose provider records it."""
    incoming = traceparent if valid(traceparent) else current_traceparent.get()
    tp = incoming or new_traceparent()
    provider = _provider(service)
    if provider is None and not _sdk_installed():
        # API only: no span is recorded, so carry the trace id without the machinery
        return _Carried(tp)
    return _recorded(name, incoming, tp, provider, kind)


@contextmanager
def _recorded(name: str, incoming: str | None, tp: str, provider: Any, kind: str) -> Iterator[str]:
    from opentelemetry import propagate, trace

    from opentelemetry.context import Context

    # a trace that starts here has a root span (not a child of a made-up parent id)
    ctx = propagate.extract({"traceparent": incoming}) if incoming else Context()
    tracer = provider.get_tracer("kopru") if provider is not None else trace.get_tracer("kopru")
    with tracer.start_as_current_span(name, context=ctx, kind=getattr(trace.SpanKind, kind)):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        with _Carried(carrier["traceparent"] if valid(carrier.get("traceparent")) else tp) as out:
            yield out
