"""Plans and their limits (enforced by rate limiting and the functions that meter usage)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    requests_per_minute: int
    sms_per_month: int
    einvoices_per_month: int
    api_clients: int
    users: int
    workflows: int  # saved workflows (kopru.workflows), enabled or not


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("trial", requests_per_minute=60, sms_per_month=100, einvoices_per_month=50, api_clients=2, users=2, workflows=3),
        Plan("starter", requests_per_minute=600, sms_per_month=5_000, einvoices_per_month=1_000, api_clients=5, users=5, workflows=20),
        Plan("professional", requests_per_minute=3_000, sms_per_month=50_000, einvoices_per_month=20_000, api_clients=20, users=25, workflows=100),
        Plan("enterprise", requests_per_minute=12_000, sms_per_month=1_000_000, einvoices_per_month=500_000, api_clients=100, users=500, workflows=1000),
    )
}
