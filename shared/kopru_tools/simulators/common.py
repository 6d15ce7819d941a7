"""What the simulators share: injected failures, the loopback server each runs on in
`kopru dev` and the tests, and the foreground runner. Cheap to import: uvicorn and the
socket machinery load when a server starts."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


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
