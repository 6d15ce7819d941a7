"""The shared Redis client (denylist, rate limits, throttling): one per event loop,
created on first use. With no REDIS_URL, `kopru dev` and the tests start the
embedded server and set REDIS_URL before anything asks for it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

_clients: dict[int, Any] = {}


def client():
    loop = asyncio.get_running_loop()
    c = _clients.get(id(loop))
    if c is None:
        import redis.asyncio as aioredis

        url = os.environ.get("REDIS_URL")
        if not url:
            from kopru.config import settings
            from kopru.db import embedded

            url = embedded.redis_url(settings().data_dir)
            os.environ["REDIS_URL"] = url
        c = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
        _clients.clear()
        _clients[id(loop)] = c
    return c
