"""Metrics in `kopru dev`: an OpenTelemetry SDK meter provider with the Prometheus
exporter, so the gateway answers GET /metrics in Prometheus' text format (what
kopru.metrics records through the API: requests per function, SMS and invoices per
tenant). In production the same API feeds whatever SDK and exporter the operator
configures (OTLP to a collector, say) with KOPRU_METRICS=1."""

from __future__ import annotations

_ready = False


def setup() -> None:
    """Install the SDK meter provider with a Prometheus reader, once per process."""
    global _ready
    if _ready:
        return
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    _ready = True


def exposition() -> tuple[bytes, str] | None:
    """The Prometheus text of everything recorded, or None when metrics are not set up."""
    if not _ready:
        return None
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
