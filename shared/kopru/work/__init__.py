"""The integration core: how Köprü asks the outside world for anything, once.

- `outward`: claim -> call -> record, ambiguous outcomes reconciled with the provider
  before anything is sent again (`perform`, `Effect`, `Outcome`, `Transient`);
- `idempotency`: Idempotency-Key + keyed body fingerprint for requests;
- `integrations`: any provider's per-tenant settings, secrets sealed, a connection check;
- `sweep`: scheduled work over every tenant, and the recovery of stalled effects.

Domain areas (sms, einvoice, payments, ...) use these; they never import a domain.
"""

from kopru.work.outward import FAILED, SUCCEEDED, UNKNOWN, UNKNOWN_CODE, Effect, Outcome, Transient, perform

__all__ = ["FAILED", "SUCCEEDED", "UNKNOWN", "UNKNOWN_CODE", "Effect", "Outcome", "Transient", "perform"]
