"""The in-process bus of `kopru dev` with no Kafka: the relay publishes to it, and it
delivers each event to every consuming function's ASGI app with the same delivery
logic as the Kafka dispatcher (retry, backoff, dead letter). A batch is
acknowledged only once every consumer has answered or the event was dead-lettered,
so the outbox marks nothing sent that wasn't delivered: at least once, in process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kopru.events.catalog import load_catalog
from kopru.events.delivery import Sender, dead_letter_attributes, deliver
from kopru.logs import get_logger

log = get_logger("kopru.bus")


@dataclass
class InProcessBus:
    senders: dict[str, Sender]  # function -> sender
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0
    catalog: Any = None  # default: the repository's catalog

    async def publish_batch(self, records) -> None:
        from kopru.events.envelope import from_kafka, to_http

        cat = self.catalog or load_catalog()
        for _topic, key, headers, value in records:  # in order: one tenant's events stay ordered
            event = from_kafka(headers, key, value)
            http_headers, body = to_http(event)
            for fn in cat.consumers_of(event["type"]):
                send = self.senders.get(fn)
                if send is None:
                    continue
                outcome = await deliver(send, http_headers, body, cat.delivery)
                if outcome.delivered:
                    self.delivered += 1
                else:
                    self.dead_letters.append({"topic": cat.dead_letter_topic(fn), "event_id": event["id"],
                                              **dead_letter_attributes(outcome, f"/function/{fn}/")})
