"""Connectors to the outside services Köprü talks to, one package per service
(`kopru.connectors.netgsm`, ...). Each package's `__init__` is its public surface.

House rules every connector follows (ARCHITECTURE.md): each outward call has a
timeout, a CLIENT span, a typed result, errors split into permanent (do not retry)
and transient (retry with backoff, then dead-letter), and an idempotency key; no
personal data or secret is ever logged. Each service also ships a simulator that
speaks its documented protocol, for `kopru dev` and the tests.

Nothing here does I/O, or imports an HTTP client, at import time.
"""
