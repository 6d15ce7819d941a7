"""Geofences through the real routes: a create with an Idempotency-Key happens once (a
replay answers the first answer, another body is refused), what was created can be read
at its Location, and only by its own tenant."""

from __future__ import annotations

import pytest

from tests.helpers import bearer

DEPO = {"name": "Depo", "circle": {"latitude": 41.0082, "longitude": 28.9784, "radius_m": 300}}


def count(db, tenant_id) -> int:
    return db.execute("select count(*) from geofences where tenant_id = %s", (str(tenant_id),)).fetchone()[0]


async def test_a_create_is_readable_at_its_location(client, onboard):
    t = await onboard()
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json=DEPO)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"/geofences/{r.json()['id']}"
    assert "idempotent-replayed" not in r.headers
    got = await client("vehicles").get(r.headers["location"], headers=bearer(t["token"]))
    assert got.status_code == 200 and got.json() == r.json()
    # a polygon reads back as it was saved (its closing corner dropped)
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Liman", "polygon": [[40.99, 28.95], [40.99, 28.99], [41.01, 28.99], [41.01, 28.95], [40.99, 28.95]]})
    assert r.status_code == 201, r.text
    got = await client("vehicles").get(r.headers["location"], headers=bearer(t["token"]))
    assert got.json()["polygon"] == [[40.99, 28.95], [40.99, 28.99], [41.01, 28.99], [41.01, 28.95]]
    # deleted: gone
    assert (await client("vehicles").delete(r.headers["location"], headers=bearer(t["token"]))).status_code == 204
    got = await client("vehicles").get(r.headers["location"], headers=bearer(t["token"]))
    assert (got.status_code, got.json()["code"]) == (404, "geofence.not_found")


async def test_a_replayed_key_answers_the_first_answer_and_saves_one_geofence(client, onboard, db):
    t = await onboard()
    h = {**bearer(t["token"]), "Idempotency-Key": "depo-1"}
    first = await client("vehicles").post("/geofences", headers=h, json=DEPO)
    assert first.status_code == 201, first.text
    again = await client("vehicles").post("/geofences", headers=h, json=DEPO)
    assert again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "replayed" not in again.json()
    assert count(db, t["id"]) == 1
    # the same key with another body: refused, nothing saved
    other = await client("vehicles").post("/geofences", headers=h, json={**DEPO, "name": "Başka depo"})
    assert (other.status_code, other.json()["code"]) == (409, "request.idempotency_conflict"), other.text
    assert "Başka depo" not in other.text
    assert count(db, t["id"]) == 1
    # another tenant's same key is its own
    u = await onboard()
    r = await client("vehicles").post("/geofences", headers={**bearer(u["token"]), "Idempotency-Key": "depo-1"},
                                      json=DEPO)
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"] and "idempotent-replayed" not in r.headers


async def test_two_concurrent_creates_with_one_key_save_one_geofence(client, onboard, db):
    import asyncio

    t = await onboard()
    h = {**bearer(t["token"]), "Idempotency-Key": "depo-concurrent"}
    rs = await asyncio.gather(*(client("vehicles").post("/geofences", headers=h, json=DEPO) for _ in range(3)))
    assert {r.status_code for r in rs} == {201} and len({r.json()["id"] for r in rs}) == 1
    assert count(db, t["id"]) == 1


async def test_another_tenants_geofence_is_not_found(client, onboard):
    a, b = await onboard(), await onboard()
    r = await client("vehicles").post("/geofences", headers=bearer(b["token"]), json=DEPO)
    gid = r.json()["id"]
    got = await client("vehicles").get(f"/geofences/{gid}", headers=bearer(a["token"]))
    assert (got.status_code, got.json()["code"]) == (404, "geofence.not_found")
    assert gid not in got.text


@pytest.mark.parametrize("bad", ["nope", "00000000-0000-0000-0000-000000000000"])
async def test_a_geofence_id_that_names_nothing_is_not_found(client, onboard, bad):
    t = await onboard()
    got = await client("vehicles").get(f"/geofences/{bad}", headers=bearer(t["token"]))
    assert (got.status_code, got.json()["code"]) == (404, "geofence.not_found")
