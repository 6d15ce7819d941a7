"""Events inside `kopru dev`: the outbox relay plus either the in-process bus (no
Kafka configured) or Kafka with the dispatcher (KAFKA_BOOTSTRAP_SERVERS set),
delivering to the same in-process function apps."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable


def asgi_sender(app: Any, function: str, sender: str = "bus"):
    """POST / to `function`'s ASGI app in this process, without an HTTP client in
    between (what httpx's ASGI transport costs per call is more than the delivery
    itself), carrying the platform's sender token for that function
    (kopru.events.ingress) unless the caller set an Authorization header itself."""
    from kopru.events.ingress import bearer

    async def send(headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if not any(k.lower() == "authorization" for k in headers):
            headers = {**headers, "authorization": bearer(function, sender)}
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": b"",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
                       + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80),
        }
        sent = False
        status = 500
        chunks: list[bytes] = []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def reply(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, reply)
        return status, b"".join(chunks)

    return send


def asgi_senders(apps: dict[str, Any]):
    return {name: asgi_sender(app, name) for name, app in apps.items()}


async def start_eventing(apps: dict[str, Any], stop: asyncio.Event, *, registry: Any = None,
                         backoff: Any = None, schedules: bool = True) -> tuple[Callable[[], Awaitable[None]], str]:
    """Start the relay, the dispatcher (with Kafka) and the schedule ticker, each a
    supervised loop (`kopru.events.supervisor`): restarted with backoff after a
    database or broker outage, its state in `registry` (default: the process's, which
    the gateway's /readyz reads). Returns (shutdown, a description of the mode)."""
    from kopru_tools.bus import InProcessBus
    from kopru.events.relay import KafkaPublisher, Relay
    from kopru.events.schedule import run_schedules
    from kopru.events.supervisor import supervise

    senders = asgi_senders(apps)
    from kopru.config import settings

    bootstrap = settings().kafka_bootstrap_servers
    tasks = []
    if bootstrap:
        from kopru.events.dispatcher import run_dispatcher
        from kopru.events.topics import apply

        await apply(bootstrap)
        publisher = KafkaPublisher(bootstrap)
        await publisher.start()
        sinks = {name: (s, f"/function/{name}/") for name, s in senders.items()}
        tasks.append(asyncio.create_task(run_dispatcher(bootstrap, sinks, stop, registry=registry, backoff=backoff)))
        mode = f"kafka at {bootstrap}"
    else:
        publisher = InProcessBus(senders)
        mode = "in-process bus"
    relay = Relay(publisher)

    async def relay_loop(health) -> None:
        await relay.run(stop, health=health)

    async def ticker(health) -> None:
        health.up()
        await run_schedules(senders, stop)

    tasks.append(asyncio.create_task(supervise("relay", relay_loop, stop, registry=registry, backoff=backoff)))
    if schedules:  # off for a test that must not meet a cron minute (the sweeps act on every tenant)
        tasks.append(asyncio.create_task(supervise("schedules", ticker, stop, registry=registry, backoff=backoff)))

    async def shutdown() -> None:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=10)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
        for t in tasks:
            if not t.cancelled():
                t.exception()  # supervised loops never raise; retrieved all the same
        await relay.dispose()
        if isinstance(publisher, KafkaPublisher):
            await publisher.stop()

    return shutdown, mode
