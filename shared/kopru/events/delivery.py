"""Delivering one CloudEvent to one function, with Knative's delivery semantics:
retry on 5xx, 404, 408, 409, 429 and network errors with linear or exponential
backoff; never retry other 4xx (400, 401, 403, …); after the last retry, or at once
for a non-retriable answer, the event goes to the dead-letter topic with the
error attached (knativeerrorcode, knativeerrordata, knativeerrordest).

Used by the Kafka dispatcher and by the in-process bus alike, so both behave the same.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Awaitable, Callable

from kopru.events.catalog import DeliveryPolicy
from kopru.logs import get_logger

log = get_logger("kopru.delivery")

RETRIABLE = frozenset({404, 408, 409, 429})
MAX_ERROR_DATA = 1024

# (headers, body) -> (status, response body); raises on network errors
Sender = Callable[[dict[str, str], bytes], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int  # last HTTP status; 0 for a network error
    attempts: int
    error: bytes = b""


def retriable(status: int) -> bool:
    return status == 0 or status >= 500 or status in RETRIABLE


async def deliver(send: Sender, headers: dict[str, str], body: bytes, policy: DeliveryPolicy,
                  *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Outcome:
    attempt = 0
    while True:
        attempt += 1
        try:
            status, resp = await asyncio.wait_for(send(headers, body), timeout=policy.timeout)
        except (asyncio.TimeoutError, OSError, ConnectionError) as exc:
            status, resp = 0, type(exc).__name__.encode()
        except Exception as exc:  # httpx and friends
            status, resp = 0, type(exc).__name__.encode()
        if 200 <= status < 300:
            return Outcome(True, status, attempt)
        if not retriable(status) or attempt > policy.retry:
            log.warning("delivery failed", extra={"fields": {
                "status": status, "attempts": attempt, "type": headers.get("ce-type"), "event": headers.get("ce-id")}})
            return Outcome(False, status, attempt, resp[:MAX_ERROR_DATA])
        await sleep(policy.delay(attempt))


def dead_letter_attributes(outcome: Outcome, destination: str) -> dict[str, str]:
    """The extensions Knative adds to a dead-lettered event."""
    return {
        "knativeerrorcode": str(outcome.status),
        "knativeerrordata": base64.b64encode(outcome.error).decode(),
        "knativeerrordest": destination,
    }
