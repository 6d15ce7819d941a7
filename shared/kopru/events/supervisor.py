"""Supervised background loops: the outbox relay, the dispatcher's consumers and the
schedule ticker run under `supervise`, which restarts a loop after any exception
with exponential backoff and jitter, never lets an exception go unretrieved, and
keeps a health registry that readiness (`/readyz`) reads.

A loop is `async def loop(health: LoopHealth) -> None`. It calls `health.up()` once
it works (connected, first batch done) and may call `health.down(reason)` when it
notices trouble it rides out without raising (a Kafka broker that does not answer).
Raising ends that run: the loop is marked down and started again after the backoff
delay (0.5 s doubling to 30 s by default; the count starts over once a run has been
up for `healthy_after` seconds). Returning without `stop` set means it has nothing
to do: it leaves the registry.

Logs name the loop, the error's type and where it was raised: never its message,
which may quote data.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable

from kopru.logs import get_logger

log = get_logger("kopru.supervisor")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LoopState:
    name: str
    up: bool = False
    since: str = ""  # when it last went up or down (UTC, ISO 8601)
    restarts: int = 0
    last_error: str | None = None  # the exception's type (or the loop's reason), never its message
    last_error_at: str | None = None
    up_at: float | None = None  # monotonic, for the healthy-period reset

    def as_dict(self) -> dict:
        return {"up": self.up, "since": self.since, "restarts": self.restarts,
                "last_error": self.last_error, "last_error_at": self.last_error_at}


class Health:
    """Which supervised loops run, which are up, since when, and their last error."""

    def __init__(self) -> None:
        self._loops: dict[str, LoopState] = {}

    def register(self, name: str) -> LoopState:
        state = self._loops[name] = LoopState(name, since=_now())
        return state

    def unregister(self, name: str, state: LoopState | None = None) -> None:
        if state is None or self._loops.get(name) is state:
            self._loops.pop(name, None)

    def ready(self) -> bool:
        return all(s.up for s in self._loops.values())

    def down(self) -> list[str]:
        return sorted(n for n, s in self._loops.items() if not s.up)

    def snapshot(self) -> dict[str, dict]:
        return {n: self._loops[n].as_dict() for n in sorted(self._loops)}

    def get(self, name: str) -> LoopState | None:
        return self._loops.get(name)


REGISTRY = Health()  # the process's registry: `kopru dev`'s gateway and `kopru relay/dispatch` read it


class LoopHealth:
    """What a running loop reports through."""

    def __init__(self, state: LoopState, clock: Callable[[], float]):
        self._state = state
        self._clock = clock

    def up(self) -> None:
        s = self._state
        if not s.up:
            s.up, s.since, s.up_at = True, _now(), self._clock()
            if s.restarts:
                log.info("background loop up again", extra={"fields": {"loop": s.name, "restarts": s.restarts}})

    def down(self, reason: str) -> None:
        """Not working, without raising (`reason`: a fixed word or an error type, never data)."""
        s = self._state
        if s.up:
            s.up, s.since, s.up_at = False, _now(), None
            s.last_error, s.last_error_at = reason, s.since
            log.warning("background loop down", extra={"fields": {"loop": s.name, "reason": reason}})

    @property
    def is_up(self) -> bool:
        return self._state.up


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2  # the delay is drawn from [d * (1 - jitter), d]
    healthy_after: float = 30.0  # a run up this long starts the count over

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        d = min(self.maximum, self.initial * self.factor ** (failures - 1))
        return d * (1 - self.jitter * rand())


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} {code.co_name}"


async def _wait(stop: asyncio.Event, delay: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except asyncio.TimeoutError:
        pass


async def supervise(name: str, loop: Callable[[LoopHealth], Awaitable[None]], stop: asyncio.Event, *,
                    registry: Health | None = None, backoff: Backoff | None = None,
                    sleep: Callable[[float], Awaitable[None]] | None = None,
                    clock: Callable[[], float] = time.monotonic,
                    rand: Callable[[], float] = random.random) -> None:
    """Run `loop` until `stop` is set, restarting it after every exception. Never
    raises (but for cancellation); the loop's exceptions are all retrieved here."""
    from kopru.logs import event_id_var, tenant_id_var, trace_id_var

    for var in (tenant_id_var, event_id_var, trace_id_var):  # this task's copy: whoever started it is not its tenant
        var.set(None)
    registry = REGISTRY if registry is None else registry
    backoff = backoff or Backoff()
    state = registry.register(name)
    health = LoopHealth(state, clock)
    failures = 0
    try:
        while not stop.is_set():
            try:
                await loop(health)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure: restart, never unretrieved
                if state.up_at is not None and clock() - state.up_at >= backoff.healthy_after:
                    failures = 0
                failures += 1
                state.restarts += 1
                state.up, state.up_at, state.since = False, None, _now()
                state.last_error, state.last_error_at = type(exc).__name__, state.since
                delay = backoff.delay(failures, rand)
                log.warning("background loop failed; restarting", extra={"fields": {
                    "loop": name, "error": type(exc).__name__, "where": _where(exc),
                    "restarts": state.restarts, "retry_in_s": round(delay, 3)}})
                del exc
                if stop.is_set():
                    break
                if sleep is not None:
                    await sleep(delay)
                else:
                    await _wait(stop, delay)
                continue
            if not stop.is_set():
                log.info("background loop finished: nothing to do", extra={"fields": {"loop": name}})
            break
    finally:
        registry.unregister(name, state)


RETRY_AFTER = "5"


def readiness(registry: Health | None = None, lang: str = "tr") -> tuple[int, dict, dict[str, str]]:
    """(status, body, headers) of a readiness answer: 200 when every supervised loop
    is up, else 503 problem+json naming the loops that are down (names and error
    types only: nothing secret)."""
    registry = REGISTRY if registry is None else registry
    loops = registry.snapshot()
    down = registry.down()
    if not down:
        return 200, {"status": "ready", "loops": loops}, {"Content-Type": "application/json"}
    from kopru.errors import KopruError

    err = KopruError("unavailable", detail=f"background loop(s) down: {', '.join(down)}")
    body = dict(err.problem(lang), down=down, loops=loops)
    return 503, body, {"Content-Type": "application/problem+json", "Content-Language": lang,
                       "Retry-After": RETRY_AFTER, "Cache-Control": "no-store"}


async def serve_health(host: str, port: int, registry: Health | None = None) -> asyncio.AbstractServer:
    """A small HTTP/1.1 endpoint for `kopru relay` / `kopru dispatch`: GET /readyz
    (readiness, as above) and GET /healthz (liveness: the process answers). One
    request per connection; anything else is a 404 or 405."""
    import json

    from kopru.errors import negotiate_language

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + ["", ""])[:2]
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            path = target.split("?", 1)[0]
            extra: dict[str, str] = {}
            if method not in ("GET", "HEAD"):
                status, body, extra = 405, {"status": 405}, {"Allow": "GET, HEAD"}
            elif path == "/readyz":
                status, body, extra = readiness(registry, negotiate_language(headers.get("accept-language")))
            elif path == "/healthz":
                status, body = 200, {"status": "ok"}
            else:
                status, body = 404, {"status": 404}
            data = json.dumps(body, ensure_ascii=False).encode()
            ctype = extra.pop("Content-Type", "application/json")
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
            out = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}", f"Content-Length: {len(data)}",
                   "Connection: close"] + [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else data))
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
