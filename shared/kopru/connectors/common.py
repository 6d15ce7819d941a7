"""What every connector shares: the retry policy for transient errors and the read-retry loop,
the base URL rule, the shared HTTP pool, the HTTP client's lifecycle (`HttpConnector`) and
one traced, timed, logged outward call (`traced_call`). Each connector keeps its own
signing, headers, answer parsing, error classes and codes. (The simulators and the
loopback server they run on are tools: kopru_tools.simulators.)"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Self, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


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
    import httpx

    key = id(asyncio.get_running_loop())
    c = _HTTP.get(key)
    if c is None or c.is_closed:
        _HTTP.clear()  # a finished loop's client cannot be reused
        c = _HTTP[key] = httpx.AsyncClient(follow_redirects=False, timeout=30.0)
    return c


class HttpConnector:
    """The HTTP side every connector client shares: `base_url`, the time-out (connect at most
    5 s of it, or with `connect=None` one bound for every phase), an `httpx.AsyncClient` that
    is its own (closed by `aclose`) or given to it (`http`, never closed here), `async with`,
    and a repr naming only the base URL (never a credential). With `shared=True` and no `http`, calls go over `shared_http()`, taken on
    first use (it needs the running loop). httpx is imported here, not at module import."""

    base_url: str

    def _connect(self, url: str, timeout: float, http: Any = None, *, shared: bool = False,
                 connect: float | None = 5.0, **client: Any) -> None:
        import httpx

        self.base_url = url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=min(connect, timeout)) if connect is not None \
            else httpx.Timeout(timeout)
        self._own = http is None and not shared
        self._http = http if http is not None or shared else httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False, **client)

    def _client(self) -> Any:
        if self._http is None:
            self._http = shared_http()
        return self._http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def transport_errors(table: Any, transient: type[E], prefix: str = "") -> Callable[..., E]:
    """The connector's maker of its transient error for a transport failure
    (`make(kind, endpoint, ambiguous=, http_status=None, code=None)`): the code is
    `prefix + (code or kind)`, the texts `table[kind].tr/.en` (the connector's own table)."""

    def make(kind: str, endpoint: str, *, ambiguous: bool, http_status: int | None = None,
             code: str | None = None) -> E:
        s = table[kind]
        return transient(f"{prefix}{code or kind}", s.tr, s.en, endpoint=endpoint, http_status=http_status,
                         ambiguous=ambiguous)

    return make


async def traced_call(log: logging.Logger, provider: str, endpoint: str, fields: dict[str, Any],
                      request: Callable[[], Awaitable[Any]], answer: Callable[[Any], Any], *,
                      side_effect: bool, errors: type[BaseException], transient: type[BaseException],
                      transport: Callable[..., BaseException],
                      on_error: Callable[[Any, dict[str, Any]], None] | None = None,
                      error_type: bool = False, chain: bool = True) -> Any:
    """One outward call: a CLIENT span `"<provider> <endpoint>"`, timed, `request()` sent;
    a time-out or transport error becomes `transport("timeout" | "connection", endpoint,
    ambiguous=...)` (ambiguous only on a side-effecting call that may have reached the
    provider); then `fields["http_status"]` and `answer(resp)` (which may add fields and
    raise the connector's errors). One log line inside the span: `<provider>.call` with
    outcome "ok", or `<provider>.call_failed` with the error's code, outcome, `on_error`'s
    fields and, for a transient one, `ambiguous`. `fields` must hold no credential and no
    personal data. `error_type` logs the httpx exception's class name; `chain` keeps it as
    the cause."""
    import httpx

    from kopru.tracing import span

    t0 = time.perf_counter()
    with span(f"{provider} {endpoint}", kind="CLIENT"):
        try:
            try:
                resp = await request()
            except httpx.TimeoutException as e:
                if error_type:
                    fields["error_type"] = type(e).__name__
                sure_not_sent = isinstance(e, (httpx.ConnectTimeout, httpx.PoolTimeout))
                raise transport("timeout", endpoint, ambiguous=side_effect and not sure_not_sent) \
                    from (e if chain else None)
            except httpx.TransportError as e:
                if error_type:
                    fields["error_type"] = type(e).__name__
                sure_not_sent = isinstance(e, (httpx.ConnectError, httpx.UnsupportedProtocol,
                                               httpx.LocalProtocolError))
                raise transport("connection", endpoint, ambiguous=side_effect and not sure_not_sent) \
                    from (e if chain else None)
            fields["http_status"] = resp.status_code
            result = answer(resp)
        except errors as e:
            fields.update(code=e.code, outcome="transient" if e.retryable else "permanent",
                          duration_ms=round((time.perf_counter() - t0) * 1000, 1))
            if on_error is not None:
                on_error(e, fields)
            if isinstance(e, transient):
                fields["ambiguous"] = e.ambiguous
            log.warning(f"{provider}.call_failed", extra={"fields": fields})
            raise
        fields.setdefault("outcome", "ok")
        fields["duration_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        log.info(f"{provider}.call", extra={"fields": fields})  # inside the span: carries its trace id
    return result


async def read_retry(policy: RetryPolicy, call: Callable[[], Awaitable[T]], transient: type[BaseException], *,
                     final: Callable[[Any], bool] | None = None) -> T:
    """`call()` again after `policy.delay(attempt)` while it raises `transient` (a read:
    asking again cannot act twice), `policy.attempts` times in all; an error for which
    `final(error)` is true is raised at once."""
    for attempt in range(1, max(1, policy.attempts) + 1):
        try:
            return await call()
        except transient as e:
            if attempt >= policy.attempts or (final is not None and final(e)):
                raise
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")
