"""What the simulators share: the `Simulator` base (its Starlette app with the read-only
`GET /_simulator/calls`, the calls it received, injected failures), dev control routes, the
loopback server each runs on in `kopru dev` and the tests, and the foreground runner.
Cheap to import: Starlette, uvicorn and the socket machinery load when a simulator is made
or a server starts."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator


def take_failure(lock: threading.Lock, failures: list, endpoint: str):
    """A simulator's injected failure for a call to `endpoint` (each has `.endpoint`, None
    for any, and `.remaining`), used up by one, or None."""
    with lock:
        for f in failures:
            if f.endpoint in (None, endpoint):
                f.remaining -= 1
                if f.remaining <= 0:
                    failures.remove(f)
                return f
    return None


@dataclass
class Failure:
    """An injected failure for the next `remaining` calls to `endpoint` (None: any). What a
    simulator does with it is its own: answer `code` (the provider's error code) or a bare
    `http_status`, after `delay` seconds; `taken`: the call is processed first (the provider
    took it, the answer is lost); `drop`: processed, then the connection drops; `raw`: a
    plain-text body such as a proxy gives."""

    endpoint: str | None
    remaining: int
    code: Any = None
    http_status: int | None = None
    delay: float = 0.0
    taken: bool = False
    drop: bool = False
    raw: bool = False


def error_page(status: int):
    """A bare HTTP error with a plain-text body, as a web server in front of a service gives."""
    from starlette.responses import PlainTextResponse

    return PlainTextResponse("Internal Server Error" if status >= 500 else "Error", status_code=status)


class Simulator:
    """What every simulator is built on: a lock (its state is read and changed from the
    test's thread and uvicorn's), the ASGI app of `routes` behind the read-only `GET
    /_simulator/calls` (what it received, so tests count real calls: `_inspection`), the
    calls it received (`_note`, `received`) and its injected failures (`_inject`,
    `_take_failure`, `clear_failures`). `_reset_state` (extended by each) starts them empty."""

    DROP_HEAD = b'{"'  # what a dropped answer sends before the connection is lost

    def __init__(self, routes: list) -> None:
        from starlette.applications import Starlette
        from starlette.routing import Route

        self._lock = threading.Lock()
        self._reset_state()
        # first: a provider route with path parameters (WhatsApp's /{version}/{id}) must not take it
        self._app = Starlette(routes=[Route("/_simulator/calls", self._inspect_calls, methods=["GET"]), *routes])

    def _reset_state(self) -> None:
        self._received: list = []
        self._failures: list[Failure] = []

    async def __call__(self, scope, receive, send) -> None:
        await self._app(scope, receive, send)

    def reset(self) -> None:
        """Forget what `_reset_state` starts empty (the accounts and other set-up stay)."""
        with self._lock:
            self._reset_state()

    # -- what it received -----------------------------------------------------------------

    def _note(self, call) -> None:
        with self._lock:
            self._received.append(call)

    @property
    def received(self) -> list:
        """Every call it received, in order, refused and repeated ones included."""
        with self._lock:
            return list(self._received)

    @property
    def calls(self) -> list:
        return self.received

    def _call_view(self, call) -> dict[str, Any]:
        """A received call as the inspection route shows it: its fields (never a secret)."""
        return dataclasses.asdict(call)

    def _inspection(self) -> dict[str, Any]:
        return {"calls": [self._call_view(c) for c in self.received]}

    async def _inspect_calls(self, request):
        """Read-only, not the provider's API: `_inspection()`."""
        from starlette.responses import JSONResponse

        return JSONResponse(self._inspection())

    # -- injected failures ------------------------------------------------------------------

    def _inject(self, endpoint: str | None, times: int, **how: Any) -> None:
        with self._lock:
            self._failures.append(Failure(endpoint, times, **how))

    def _take_failure(self, endpoint: str) -> Failure | None:
        return take_failure(self._lock, self._failures, endpoint)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    @staticmethod
    async def _delay(f: Failure | None) -> None:
        if f is not None and f.delay:
            await asyncio.sleep(f.delay)

    async def _finish(self, f: Failure | None, response):
        """A processed call's answer: `f.delay` seconds late, or dropped mid-answer (`f.drop`)."""
        await self._delay(f)
        if f is not None and f.drop:
            return Dropped(self.DROP_HEAD)
        return response


async def control(request, act: Callable[[Any], Any], usage: str):
    """A dev control route (not the provider's API): `act(json body)` does it and returns the
    answer (None: `{"ok": true}`); a body it cannot use answers 400 `{"error": usage}`."""
    from starlette.responses import JSONResponse

    try:
        out = act(await request.json())
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration):
        return JSONResponse({"error": usage}, status_code=400)
    return JSONResponse({"ok": True} if out is None else out)


class Dropped:
    """An answer that starts (200, the first bytes of `head`) and then loses its connection
    before the body is complete: the provider took the call, the caller never hears how."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")]})
        await send({"type": "http.response.body", "body": self.head, "more_body": True})
        raise ConnectionAbortedError("simulated connection drop")


@dataclass
class Served:
    """A running server: `url`, and `stop()` to end it."""

    url: str
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _sock: socket.socket = field(repr=False)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


def start(app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> Served:
    """Serve an ASGI app with uvicorn in a background thread. Port 0 takes a free one (the
    socket is bound before the server starts: no race)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"serve-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    return Served(f"http://{host}:{bound}", server, thread, sock)


@contextmanager
def serve(app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> Iterator[str]:
    """`with serve(app) as base_url:` the same as `start`, stopped on exit."""
    served = start(app, host, port, log_level=log_level)
    try:
        yield served.url
    finally:
        served.stop()


# a simulator that can drop a connection serves with uvicorn's log quiet (the drop is no error)
quiet_start = partial(start, log_level="critical")
quiet_serve = partial(serve, log_level="critical")


def run_simulator(make_app, prog: str, port: int, argv: list[str] | None = None) -> None:
    """`python -m kopru_tools.simulators.<service> [--host H] [--port N]`: serve a
    connector's dev simulator in the foreground."""
    import argparse

    import uvicorn

    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=port)
    a = p.parse_args(argv)
    uvicorn.run(make_app(), host=a.host, port=a.port, log_level="warning", access_log=False)


def runner(dev_simulator: Callable[[], Any], prog: str, port: int) -> Callable[[list[str] | None], None]:
    """A simulator module's `main`: `python -m kopru_tools.simulators.<service> [--host H]
    [--port N]` serves its `dev_simulator()` (what `kopru dev` runs) in the foreground."""

    def main(argv: list[str] | None = None) -> None:
        run_simulator(dev_simulator, prog, port, argv)

    return main
