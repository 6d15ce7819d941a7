"""The CloudEvents envelope on the wire: outbox rows become CloudEvents 1.0, Kafka
records use the Kafka protocol binding in binary mode (ce_ headers, key =
partitionkey), HTTP deliveries use binary mode (ce- headers), so Knative's
KafkaSource and our dispatcher forward the same bytes."""

from __future__ import annotations

import json
from typing import Any


class MalformedRecord(Exception):
    """A record that is not a CloudEvent: dead-lettered at once, never retried."""


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def from_outbox(row: Any):
    from cloudevents.http import CloudEvent

    attrs = {
        "id": str(row.event_id),
        "source": row.source,
        "type": row.type,
        "specversion": "1.0",
        "time": row.created_at.isoformat(),
        "datacontenttype": "application/json",
        **dict(row.extensions),
    }
    if row.subject:
        attrs["subject"] = row.subject
    return CloudEvent(attrs, row.data)


def to_kafka(event) -> tuple[bytes | None, list[tuple[str, bytes]], bytes]:
    """(key, headers, value) of a binary-mode Kafka record."""
    from cloudevents.kafka import to_binary

    msg = to_binary(event, data_marshaller=_dumps)
    key = msg.key.encode() if isinstance(msg.key, str) else msg.key
    return key, sorted(msg.headers.items()), msg.value


def from_kafka(headers: list[tuple[str, bytes]] | tuple, key: bytes | None, value: bytes | None):
    """A CloudEvent from a binary-mode record, or MalformedRecord."""
    from cloudevents.kafka import KafkaMessage, from_binary

    hdrs = {k: v for k, v in (headers or ())}
    if "ce_specversion" not in {k.lower() for k in hdrs}:
        raise MalformedRecord("no ce_specversion header: not a binary-mode CloudEvent")
    try:
        event = from_binary(KafkaMessage(hdrs, key.decode() if key else None, value or b"null"))
    except Exception as exc:  # the SDK raises several types; their text may quote the payload
        raise MalformedRecord(f"unreadable CloudEvent ({type(exc).__name__})") from None
    for attr in ("id", "source", "type"):
        if not event.get(attr):
            raise MalformedRecord(f"missing required attribute {attr}")
    return event


def to_http(event) -> tuple[dict[str, str], bytes]:
    """Binary-mode HTTP: ce-* headers and the data as the body."""
    headers = {"ce-specversion": "1.0", "content-type": event.get("datacontenttype") or "application/json"}
    for k, v in event.get_attributes().items():
        if k in ("specversion", "datacontenttype", "data") or v is None:
            continue
        headers[f"ce-{k}"] = str(v)
    return headers, _dumps(event.data)
