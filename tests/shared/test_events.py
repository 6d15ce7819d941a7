"""Events without a broker: delivery semantics, the schema contract, and
outbox -> relay -> in-process bus -> inbox with crash-safety."""

import asyncio

import httpx
import pytest

from kopru.events import EventSchemaError
from kopru.events.catalog import DeliveryPolicy, iso_seconds
from kopru.events.delivery import deliver
from tests.eventsupport import emit_onboarded, probe_app, probe_catalog
from tests.helpers import sender_auth

FAST = DeliveryPolicy(retry=5, backoff_policy="exponential", backoff_delay=0.01, timeout=5)


def scripted(*statuses):
    calls = []

    async def send(headers, body):
        calls.append(1)
        s = statuses[min(len(calls), len(statuses)) - 1]
        if isinstance(s, Exception):
            raise s
        return s, b"err"

    return send, calls


async def test_transient_failures_are_retried_with_backoff():
    waits = []

    async def sleep(d):
        waits.append(d)

    send, calls = scripted(503, 503, 503, 200)
    out = await deliver(send, {"ce-id": "1"}, b"{}", FAST, sleep=sleep)
    assert out.delivered and out.attempts == 4 and len(calls) == 4
    assert waits == [0.01, 0.02, 0.04]  # exponential, as Knative: delay * 2^(n-1)
    linear = DeliveryPolicy(3, "linear", 0.01, 5)
    waits.clear()
    out = await deliver(scripted(500, 500, 500, 500)[0], {}, b"", linear, sleep=sleep)
    assert not out.delivered and out.attempts == 4 and waits == [0.01, 0.02, 0.03]


@pytest.mark.parametrize("status,retried", [
    (400, False), (401, False), (403, False), (422, False), (404, True), (408, True), (409, True), (429, True),
    (500, True), (502, True), (503, True),
])
async def test_which_answers_are_retried(status, retried):
    send, calls = scripted(status, 200)

    async def nosleep(_):
        pass

    out = await deliver(send, {}, b"", FAST, sleep=nosleep)
    assert out.delivered == retried and len(calls) == (2 if retried else 1)
    if not retried:
        assert out.status == status and out.error == b"err"


async def test_network_errors_are_retried():
    send, calls = scripted(ConnectionRefusedError(), httpx.ConnectError("x"), 200)

    async def nosleep(_):
        pass

    assert (await deliver(send, {}, b"", FAST, sleep=nosleep)).delivered and len(calls) == 3


def test_iso_durations():
    assert iso_seconds("PT0.2S") == 0.2 and iso_seconds("PT5M") == 300 and iso_seconds("PT1H30M") == 5400
    with pytest.raises(ValueError):
        iso_seconds("5s")


async def test_emitting_data_that_breaks_its_schema_is_a_programming_error(onboard):
    from kopru.db import tenant_transaction

    t = await onboard()
    with pytest.raises(EventSchemaError):
        async with tenant_transaction(t["id"], actor="test") as tx:
            await tx.emit("kopru.tenant.onboarded.v1", {"tenant_id": "not-a-uuid"}, source="/kopru/test")
    with pytest.raises(EventSchemaError):
        async with tenant_transaction(t["id"], actor="test") as tx:
            await tx.emit("kopru.nope.v1", {}, source="/kopru/test")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return probe_app(tmp_path_factory.mktemp("probe"))


async def test_consuming_data_that_breaks_its_schema_is_a_400(probe):
    import uuid

    app, fn = probe
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as c:
        r = await c.post("/", headers={
            "ce-specversion": "1.0", "ce-id": "x1", "ce-source": "/t", "ce-type": "kopru.tenant.onboarded.v1",
            "ce-tenantid": str(uuid.uuid4()), "content-type": "application/json", **sender_auth("probe")},
            content=b'{"tenant_id": "x", "phone": "+905321234567"}')
    assert r.status_code == 400 and r.json()["code"] == "cloudevent.invalid_data"
    assert "+905321234567" not in r.text
    assert "x1" not in fn.calls


async def effects(db, tenant_id) -> dict[str, int]:
    rows = db.execute("select target, count(*) from audit_log where tenant_id = %s and action = 'probe.onboarded' "
                      "group by target", (str(tenant_id),)).fetchall()
    return {r[0]: r[1] for r in rows}


async def drain(relay):
    while await relay.run_once():
        pass


async def test_outbox_to_bus_to_inbox_survives_a_relay_crash(probe, onboard, db):
    from kopru_tools.bus import InProcessBus
    from kopru.events.relay import Relay
    from kopru_tools.eventing import asgi_senders

    app, fn = probe
    await drain(Relay(InProcessBus({}), catalog=probe_catalog()))  # what earlier tests left pending
    t = await onboard()
    senders = asgi_senders({"probe": app})
    bus = InProcessBus(senders, catalog=probe_catalog(backoff_delay=0.01))
    relay = Relay(bus, catalog=probe_catalog())
    ids = await emit_onboarded(t["id"], 5)

    async def crash(rows):
        raise RuntimeError("relay killed between publish and mark-sent")

    with pytest.raises(RuntimeError):
        await relay.run_once(after_publish=crash)
    assert len([c for c in fn.calls if c in ids]) >= 5  # published and delivered once already
    pending = db.execute("select count(*) from outbox where tenant_id = %s and published_at is null",
                         (str(t["id"]),)).fetchone()[0]
    assert pending == 6  # nothing marked sent (5 + the onboarding event itself)
    await drain(relay)
    assert db.execute("select count(*) from outbox where tenant_id = %s and published_at is null",
                      (str(t["id"]),)).fetchone()[0] == 0
    eff = await effects(db, t["id"])
    assert all(eff.get(i) == 1 for i in ids), eff  # delivered twice, effective once
    await relay.dispose()


async def test_bus_retries_transient_failures_and_dead_letters_the_rest(probe, onboard, db):
    from kopru_tools.bus import InProcessBus
    from kopru.events.relay import Relay
    from kopru_tools.eventing import asgi_senders

    app, fn = probe
    t = await onboard()
    senders = asgi_senders({"probe": app})
    bus = InProcessBus(senders, catalog=probe_catalog(backoff_delay=0.01))
    relay = Relay(bus, catalog=probe_catalog())
    await drain(relay)
    flaky = (await emit_onboarded(t["id"], 1, subdomain="flaky-three"))[0]
    doomed = (await emit_onboarded(t["id"], 1, subdomain="always-fail"))[0]
    fine = (await emit_onboarded(t["id"], 1))[0]
    await drain(relay)
    eff = await effects(db, t["id"])
    assert eff.get(flaky) == 1 and eff.get(fine) == 1 and doomed not in eff
    assert fn.calls.count(flaky) == 4 and fn.calls.count(doomed) == 6  # 1 + retry 5
    dl = [d for d in bus.dead_letters if d["event_id"] == doomed]
    assert dl and dl[0]["knativeerrorcode"] == "500" and dl[0]["topic"] == "kopru.deadletter.probe"
    await relay.dispose()


async def test_only_one_relay_works_at_a_time(onboard):
    from kopru.events.relay import Relay

    class Slow:
        async def publish_batch(self, records):
            await asyncio.sleep(0.5)

    t = await onboard()
    await emit_onboarded(t["id"], 3)
    a, b = Relay(Slow(), catalog=probe_catalog()), Relay(Slow(), catalog=probe_catalog())
    na, nb = await asyncio.gather(a.run_once(), b.run_once())
    assert sorted([na, nb])[0] == 0 and max(na, nb) > 0
    await a.dispose()
    await b.dispose()
