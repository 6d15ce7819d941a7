"""Metrics through opentelemetry-api: requests per function (count and duration by route
and status class) and business counters per tenant (SMS by outcome, invoices by outcome,
payments by outcome, KVKK applications opened and completed by kind).

KVKK applications open and overdue, and side effects parked and owed (with the oldest owed
one's age: an alert on it catches a stall whatever its cause), are gauges, not an UpDownCounter: a function scales to
zero and many instances serve one tenant, so a per-process running sum (+1 on open, -1 on
completion) starts at zero in every new instance and is lost with it, and an application
turns overdue with time, with no event to count. Nor can a gauge be computed at scrape
time: a stateless function has nothing to scrape and no database at hand. So the counts
are measured from the database (`kopru.kvkk.applications.measure_open`, one COUNT in a
transaction that is open anyway) whenever an application opens or completes and on each
retention-purge tick per tenant, the side effects on each provider's sweep per tenant
(`kopru.work.sweep.measure`), and recorded as a synchronous gauge: the value is the
database's as of that moment (the newest sample of a tenant is the truth; across
instances take the latest, e.g. `max by (tenant, kind)` over a short window).

Recorded only when KOPRU_METRICS is on (an OpenTelemetry SDK and an exporter configured in
the process: `kopru dev` serves them as Prometheus text at /metrics), so a function's cold
start never pays for the metrics API otherwise. Labels are route templates, status classes,
outcomes and tenant ids: never a path with ids in it, never anything personal.
"""

from __future__ import annotations

from typing import Any

_instruments: dict[str, Any] | None = None


def enabled() -> bool:
    """Whether metrics are recorded (a caller that must query for a measurement asks first)."""
    return _enabled()


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
            "kvkk_opened": meter.create_counter("kopru_kvkk_applications_opened", unit="1",
                                                description="KVKK applications opened (export, erasure), per tenant"),
            "kvkk_completed": meter.create_counter("kopru_kvkk_applications_completed", unit="1",
                                                   description="KVKK applications completed by kind, per tenant; "
                                                               "late: after their due date"),
            "kvkk_open": meter.create_gauge("kopru_kvkk_applications_open", unit="{application}",
                                            description="KVKK applications open, per tenant and kind, as the "
                                                        "database counted them when last measured"),
            "outward_parked": meter.create_gauge("kopru_outward_parked", unit="{effect}",
                                                 description="side effects parked unknown for an operator, per "
                                                             "tenant and provider, when last measured"),
            "outward_owed": meter.create_gauge("kopru_outward_owed", unit="{effect}",
                                               description="side effects owed (pending or in flight), per tenant "
                                                           "and provider, when last measured"),
            "outward_oldest": meter.create_gauge("kopru_outward_owed_oldest", unit="s",
                                                 description="age of the oldest owed side effect, per tenant and "
                                                             "provider, when last measured (0: none owed)"),
            "kvkk_overdue": meter.create_gauge("kopru_kvkk_applications_overdue", unit="{application}",
                                               description="KVKK applications open past their due date, per "
                                                           "tenant and kind, when last measured"),
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


def kvkk_opened(tenant_id: Any, kind: str) -> None:
    if _enabled():
        _get()["kvkk_opened"].add(1, {"tenant": str(tenant_id), "kind": kind})


def kvkk_completed(tenant_id: Any, kind: str, late: bool) -> None:
    if _enabled():
        _get()["kvkk_completed"].add(1, {"tenant": str(tenant_id), "kind": kind, "late": "true" if late else "false"})


def kvkk_open(tenant_id: Any, kind: str, open_: int, overdue: int) -> None:
    """The tenant's open and overdue applications of `kind`, as just counted in the database."""
    if _enabled():
        attrs = {"tenant": str(tenant_id), "kind": kind}
        i = _get()
        i["kvkk_open"].set(open_, attrs)
        i["kvkk_overdue"].set(overdue, attrs)


def outward(tenant_id: Any, provider: str, parked: int, owed: int, oldest_s: float) -> None:
    """The tenant's effects at `provider` parked and owed, and the oldest owed one's age, as
    just counted in the database (kopru.work.sweep.measure)."""
    if _enabled():
        attrs = {"tenant": str(tenant_id), "provider": provider}
        i = _get()
        i["outward_parked"].set(parked, attrs)
        i["outward_owed"].set(owed, attrs)
        i["outward_oldest"].set(oldest_s, attrs)
