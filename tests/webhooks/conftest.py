"""What the webhook tests share: a receiver on loopback (an ASGI app served by
kopru_tools.simulators.common.serve) that records every request and answers from a
script, private addresses allowed or not, and a tenant with an endpoint at the receiver."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import datetime, timezone

import pytest

from tests.helpers import bearer, sender_auth


class Receiver:
    """Records (path, headers, body) of every request; answers each path from its script
    (a list of statuses or (status, headers) taken in order; 200 when it runs out)."""

    def __init__(self):
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.script: dict[str, list] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        path = scope["path"]
        with self.lock:
            self.got.append((path, {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body))
            todo = self.script.get(path) or []
            answer = todo.pop(0) if todo else 200
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")] + [(k.encode(), v.encode()) for k, v in extra.items()]})
        await send({"type": "http.response.body", "body": b"ok"})

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return [(h, b) for p, h, b in self.got if p == path]


@pytest.fixture(scope="module")
def receiver():
    from kopru_tools.simulators.common import serve

    rec = Receiver()
    with serve(rec) as url:
        rec.url = url
        yield rec


@pytest.fixture
def private(monkeypatch):
    """private(True|False): KOPRU_WEBHOOKS_ALLOW_PRIVATE for this test."""
    from kopru.config import reset_settings

    def set_(allowed: bool) -> None:
        monkeypatch.setenv("KOPRU_WEBHOOKS_ALLOW_PRIVATE", "1" if allowed else "0")
        reset_settings()

    set_(True)
    yield set_
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
async def hooks(client, onboard, receiver, private):
    """A tenant, and make(path, **body) registering an endpoint at the receiver's path."""
    t = await onboard()

    async def make(path: str | None = None, **over) -> dict:
        path = path or f"/hook/{uuid.uuid4().hex[:8]}"
        body = {"url": receiver.url + path, "event_types": ["kopru.payment.succeeded.v1"], **over}
        r = await client("webhooks").post("/webhooks/endpoints", json=body, headers=bearer(t["token"]))
        assert r.status_code == 201, r.text
        out = r.json()
        out["path"] = path
        return out

    t["make"] = make
    return t


def payment_data(**over) -> dict:
    d = {"payment_id": str(uuid.uuid4()), "iyzico_payment_id": "12345678", "amount": "150.00",
         "paid_amount": "150.00", "currency": "TRY"}
    d.update(over)
    return d


async def emit(client, tenant_id, type_: str, data: dict, *, event_id: str | None = None,
               source: str = "/kopru/payment"):
    """A CloudEvent to the webhooks function's POST / as the bus delivers it."""
    ce = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source, "type": type_,
          "time": datetime.now(timezone.utc).isoformat(), "datacontenttype": "application/json",
          "tenantid": str(tenant_id), "partitionkey": str(tenant_id), "data": data}
    r = await client("webhooks").post("/", json=ce, headers={**sender_auth("webhooks"),
                                                             "Content-Type": "application/cloudevents+json"})
    assert r.status_code == 204, r.text
    return ce


async def wait_for(pred, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
