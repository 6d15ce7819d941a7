"""What every connector shares: the retry policy for transient errors. (The simulators and
the loopback server they run on are tools: kopru_tools.simulators.)"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; only errors that say they are retryable
    (each connector's TransientError) are retried."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        return bool(getattr(exc, "retryable", False))


READ_RETRY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=2.0)


def base_url(configured: str | None, production: str, name: str) -> str:
    """A connector's base URL: the configured one, else the provider's production API, but
    never with kopru dev's embedded data (no DATABASE_URL): there a missing URL is refused
    (integration.no_dev_endpoint), so development never reaches a real provider."""
    if configured:
        return configured.rstrip("/")
    from kopru.config import settings

    if settings().embedded:
        from kopru.errors import KopruError

        raise KopruError("integration.no_dev_endpoint", detail=f"{name} is not set; start kopru dev")
    return production


_HTTP: dict[int, object] = {}


def shared_http():
    """One `httpx.AsyncClient` per event loop, kept for the process, for connectors whose
    credentials change per call (one tenant's iyzico keys, another's): a client made per
    call builds a new TLS context (~30 ms of CPU loading the CA bundle) and a new pool.
    Redirects are never followed; each call passes its own time-out. Do not close it."""
    import asyncio

    import httpx

    key = id(asyncio.get_running_loop())
    c = _HTTP.get(key)
    if c is None or c.is_closed:
        _HTTP.clear()  # a finished loop's client cannot be reused
        c = _HTTP[key] = httpx.AsyncClient(follow_redirects=False, timeout=30.0)
    return c
