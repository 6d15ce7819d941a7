"""`kopru relay` as operators run it: its readiness on a small loopback HTTP port,
red while its broker cannot be reached, green once its loop works; SIGTERM stops it."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_relay(services, bootstrap: str, port: int) -> subprocess.Popen:
    from kopru.db import embedded

    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, KOPRU_HEALTH_PORT=str(port),
               RELAY_DATABASE_URL=embedded.relay_url(services["app_url"]), KOPRU_LOG_LEVEL="WARNING")
    env.pop("KOPRU_HEALTH_HOST", None)
    return subprocess.Popen([sys.executable, "-m", "kopru_tools.cli", "relay"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def readyz(port: int, timeout: float, want: int) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as c:
        while time.monotonic() < deadline:
            try:
                last = await c.get("/readyz")
                if last.status_code == want:
                    return last
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz never answered {want} (last: {last and last.status_code})")


async def test_kopru_relay_readiness(services, kafka):
    closed = free_port()  # nothing listens there: the broker is "down"
    red_port, green_port = free_port(), free_port()
    red = start_relay(services, f"127.0.0.1:{closed}", red_port)
    green = start_relay(services, kafka["bootstrap"], green_port)
    try:
        r = await readyz(red_port, 60, 503)
        body = r.json()
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"]
        assert body["code"] == "unavailable" and body["down"] == ["relay"] and body["loops"]["relay"]["last_error"]
        assert str(closed) not in r.text and "postgres" not in r.text  # no address, no secret
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{red_port}") as c:
            assert (await c.get("/healthz")).status_code == 200  # alive all the same
        r = await readyz(green_port, 90, 200)
        assert r.json()["loops"]["relay"]["up"] is True
        for p in (red, green):
            p.send_signal(signal.SIGTERM)
        for p in (red, green):
            assert await asyncio.to_thread(p.wait, 30) == 0, p.stderr.read()[-2000:]
        # bound on loopback by default
        assert f'"health": "http://127.0.0.1:{green_port}/readyz"' in green.stdout.read()
    finally:
        for p in (red, green):
            if p.poll() is None:
                p.kill()
                p.wait()
