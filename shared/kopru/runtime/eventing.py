"""Events inside `kopru dev`: the outbox relay plus either the in-process bus (no
Kafka configured) or Kafka with the dispatcher (KAFKA_BOOTSTRAP_SERVERS set),
delivering to the same in-process function apps."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable


def asgi_senders(apps: dict[str, Any]):
    import httpx

    from kopru.events.dispatcher import http_sender

    clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}",
                                       timeout=httpx.Timeout(30.0))
               for name, app in apps.items()}
    return {name: http_sender(c, "/") for name, c in clients.items()}, clients


async def start_eventing(apps: dict[str, Any], stop: asyncio.Event) -> tuple[Callable[[], Awaitable[None]], str]:
    from kopru.events.bus import InProcessBus
    from kopru.events.relay import KafkaPublisher, Relay

    senders, clients = asgi_senders(apps)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    tasks = []
    if bootstrap:
        from kopru.events.dispatcher import run_dispatcher
        from kopru.events.topics import apply

        await apply(bootstrap)
        publisher = KafkaPublisher(bootstrap)
        await publisher.start()
        sinks = {name: (s, f"/function/{name}/") for name, s in senders.items()}
        tasks.append(asyncio.create_task(run_dispatcher(bootstrap, sinks, stop)))
        mode = f"kafka at {bootstrap}"
    else:
        publisher = InProcessBus(senders)
        mode = "in-process bus"
    relay = Relay(publisher)
    tasks.append(asyncio.create_task(relay.run(stop)))

    async def shutdown() -> None:
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        await relay.dispose()
        if isinstance(publisher, KafkaPublisher):
            await publisher.stop()
        for c in clients.values():
            await c.aclose()

    return shutdown, mode
