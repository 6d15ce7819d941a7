"""Metrics through opentelemetry-api: requests per function (count and duration by route
and status class) and business counters per tenant (SMS by outcome, invoices by outcome).

Recorded only when KOPRU_METRICS is on (an OpenTelemetry SDK and an exporter configured in
the process: `kopru dev` serves them as Prometheus text at /metrics), so a function's cold
start never pays for the metrics API otherwise. Labels are route templates, status classes,
outcomes and tenant ids: never a path with ids in it, never anything personal.
"""

from __future__ import annotations

from typing import Any

_instruments: dict[str, Any] | None = None


def _enabled() -> bool:
    from kopru.config import settings

    return settings().metrics


def _get() -> dict[str, Any]:
    global _instruments
    if _instruments is None:
        from opentelemetry import metrics

        meter = metrics.get_meter("kopru")
        _instruments = {
            "requests": meter.create_counter("kopru_requests", unit="1",
                                             description="HTTP requests and events a function answered"),
            "duration": meter.create_histogram("kopru_request_duration", unit="ms",
                                               description="time to answer a request or an event"),
            "sms": meter.create_counter("kopru_sms", unit="1", description="SMS by outcome, per tenant"),
            "einvoices": meter.create_counter("kopru_einvoices", unit="1", description="e-invoices by outcome, per tenant"),
            "payments": meter.create_counter("kopru_payments", unit="1", description="payments by outcome, per tenant"),
        }
    return _instruments


def request(function: str, route: str, status: int, ms: float) -> None:
    if not _enabled():
        return
    attrs = {"function": function, "route": route, "status": f"{status // 100}xx"}
    i = _get()
    i["requests"].add(1, attrs)
    i["duration"].record(ms, {"function": function, "route": route})


def sms(tenant_id: Any, outcome: str) -> None:
    if _enabled():
        _get()["sms"].add(1, {"tenant": str(tenant_id), "outcome": outcome})


def einvoice(tenant_id: Any, outcome: str) -> None:
    if _enabled():
        _get()["einvoices"].add(1, {"tenant": str(tenant_id), "outcome": outcome})


def payment(tenant_id: Any, outcome: str) -> None:
    if _enabled():
        _get()["payments"].add(1, {"tenant": str(tenant_id), "outcome": outcome})
