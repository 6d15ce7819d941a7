"""The shared Redis client (denylist, rate limits, throttling): one per event loop,
created on first use. With no REDIS_URL, `kopru dev` and the tests start the
embedded server and set REDIS_URL before anything asks for it."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

_clients: dict[int, Any] = {}
_OTEL_SDK_METRICS = "opentelemetry.sdk.metrics"


def _import_redis():
    """redis.asyncio, without the OpenTelemetry metrics SDK. redis-py 8 imports
    opentelemetry.sdk.metrics (and with it psutil) at import time whenever the SDK is
    installed, only to annotate its opt-in observability, which imports what it needs
    when enabled and which Köprü doesn't enable: about 2.3 MiB and a third of the
    import of redis on a cold start. An SDK the application already loaded is left alone.
    (pyproject pins redis-py 6.x, which has no such import and half 8.x's import time; this
    stays for whoever lifts the pin.)"""
    if _OTEL_SDK_METRICS in sys.modules or "redis.observability.providers" in sys.modules:
        import redis.asyncio as aioredis

        return aioredis
    sys.modules[_OTEL_SDK_METRICS] = None  # an ImportError for redis' optional import
    try:
        import redis.asyncio as aioredis
    finally:
        if sys.modules.get(_OTEL_SDK_METRICS, False) is None:
            del sys.modules[_OTEL_SDK_METRICS]
    return aioredis


def client():
    loop = asyncio.get_running_loop()
    c = _clients.get(id(loop))
    if c is None:
        aioredis = _import_redis()

        from kopru.config import settings

        url = settings().redis_url
        if not url:
            from kopru.db import embedded

            url = embedded.redis_url(settings().data_dir)  # started once per process, then reused
        c = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)
        _clients.clear()
        _clients[id(loop)] = c
    return c
