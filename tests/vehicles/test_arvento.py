"""Arvento vehicle tracking against the simulator, through the real routes and the real
PostgreSQL: positions announced only when they change, geofence crossings once, the rate
limit never exceeded (counted at the simulator, two pollers at once included), wrong
credentials a permanent failure with its code, a driver's positions as personal data."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import bearer, sender_auth
from tests.vehicles.conftest import DEPOT, FAR, WINDOW_S

POSITION, GEOFENCE = "kopru.vehicle.position.v1", "kopru.vehicle.geofence.v1"


def events(db, tenant_id, type_: str) -> list[dict]:
    return [r[0] for r in db.execute("select data from outbox where tenant_id = %s and type = %s order by id",
                                     (str(tenant_id), type_)).fetchall()]


async def poll_until_positions(tenant_id, wait_s: float = 3.0) -> dict:
    """One tenant's poll, its steps (login, vehicle list, positions) each in the account's slot."""
    from kopru.vehicles.service import poll_tenant

    got = await poll_tenant(tenant_id, wait_s=wait_s)
    assert got.get("position_reads") == 1, got
    return got


# -- the client and the simulator -------------------------------------------------------------

async def test_wrong_credentials_are_a_permanent_failure_with_its_code(client, onboard, arvento, db):
    from kopru.connectors import arvento as av

    arvento.add_account("dogru-kullanici", "dogru-parola", label="creds")
    c = av.ArventoRest("dogru-kullanici", "yanlis-parola")
    with pytest.raises(av.AuthError) as err:
        await c.login()
    assert err.value.code == "arvento.auth_failed" and not err.value.retryable
    assert isinstance(err.value, av.PermanentError)
    assert "yanlis-parola" not in str(err.value) and "yanlis-parola" not in repr(c)
    # through the settings route: 422 with the code, nothing stored
    t = await onboard()
    await asyncio.sleep(WINDOW_S + 0.2)
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/arvento", headers=bearer(t["token"]),
                                              json={"username": "dogru-kullanici", "password": "yanlis-parola"})
    assert r.status_code == 422 and r.json()["code"] == "arvento.auth_failed", r.text
    assert "yanlis-parola" not in r.text
    assert db.execute("select count(*) from tenant_integrations where tenant_id = %s",
                      (str(t["id"]),)).fetchone()[0] == 0


async def test_credentials_that_stop_working_fail_the_poll_permanently(client, fleet, arvento, db):
    from kopru.vehicles.service import poll_tenant

    t = await fleet(1)
    await poll_until_positions(t["id"])
    with arvento._lock:  # the password is changed at Arvento, and our session dies with it
        arvento._accounts[t["username"]].password = "degisti"
        arvento._accounts[t["username"]].session = None
    got = await poll_tenant(t["id"], wait_s=2.0)
    assert got.get("session_lost") == 1 and got.get("arvento.auth_failed") == 1, got
    row = db.execute("select session_enc, auth_failed_at from arvento_sessions where tenant_id = %s",
                     (str(t["id"]),)).fetchone()
    assert row[0] is None and row[1] is not None
    # permanent: no further login is tried with the refused credentials
    calls = arvento.stats()[t["label"]]["calls"]
    await asyncio.sleep(0.7)
    assert await poll_tenant(t["id"], wait_s=2.0) == {}
    assert arvento.stats()[t["label"]]["calls"] == calls
    # until the settings are saved again (checked, then polled)
    await asyncio.sleep(0.7)
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/arvento", headers=bearer(t["token"]),
                                              json={"username": t["username"], "password": "degisti"})
    assert r.status_code == 200, r.text
    await poll_until_positions(t["id"])


async def test_saving_settings_while_the_slot_is_held_says_when_to_retry(client, fleet, arvento):
    """The account's one request slot is held (a poll is at Arvento): saving the settings
    is 429 arvento.rate_limited with a Retry-After, at once, and Arvento sees no request."""
    from kopru.connectors.arvento import base_url_from_env
    from kopru.vehicles import ratelimit

    t = await fleet(1)
    key = ratelimit.account_key(base_url_from_env(), t["username"])
    held = await ratelimit.claim(key, 30.0, wait_s=5.0)  # as a poll holds it
    assert held is not None
    calls = arvento.stats()[t["label"]]["calls"]
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/arvento", headers=bearer(t["token"]),
                                              json={"username": t["username"], "password": t["password"]})
    assert (r.status_code, r.json()["code"]) == (429, "arvento.rate_limited"), r.text
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert arvento.stats()[t["label"]]["calls"] == calls
    assert await ratelimit.release(key, 0.0, held)


async def test_a_4xx_from_arvento_is_a_refusal_not_an_outage(arvento):
    """Arvento answering 403/404 will answer the same again: a permanent arvento.refused,
    not a transient 503 retried on every tick."""
    from kopru.connectors import arvento as av

    arvento.add_account("red-4xx", "parola", label="red-4xx")
    arvento.fail_next(http_status=403)
    with pytest.raises(av.PermanentError) as err:
        await av.ArventoRest("red-4xx", "parola").login()
    assert err.value.code == "arvento.refused" and not err.value.retryable


async def test_the_simulator_refuses_a_second_request_within_its_window(arvento):
    from kopru.connectors import arvento as av

    arvento.add_account("hizli", "parola", label="fast")
    await asyncio.sleep(WINDOW_S)
    c = av.ArventoRest("hizli", "parola")
    await c.login()
    with pytest.raises(av.RateLimited) as err:  # at once: over Arvento's limit
        await c.vehicles()
    assert err.value.retryable and err.value.code == "arvento.rate_limited"
    assert arvento.stats()["fast"]["rate_limited"] == 1


async def test_one_session_per_account_a_new_login_ends_the_old(arvento):
    from kopru.connectors import arvento as av

    arvento.add_account("tek-oturum", "parola", label="single")
    a, b = av.ArventoRest("tek-oturum", "parola"), av.ArventoRest("tek-oturum", "parola")
    await a.login()
    await asyncio.sleep(WINDOW_S + 0.1)
    await b.login()
    await asyncio.sleep(WINDOW_S + 0.1)
    with pytest.raises(av.SessionInvalid):
        await a.vehicles()
    await asyncio.sleep(WINDOW_S + 0.1)
    assert await b.vehicles() == []


# -- positions ----------------------------------------------------------------------------------

async def test_two_polls_without_movement_announce_one_position(fleet, arvento, db):
    t = await fleet(2)
    first = await poll_until_positions(t["id"])
    assert first["positions"] == 2 and first["logins"] == 1 and first["vehicle_lists"] == 1
    second = await poll_until_positions(t["id"])
    assert second.get("positions", 0) == 0 and second["unchanged"] == 2 and "logins" not in second
    got = events(db, t["id"], POSITION)
    assert sorted(e["node"] for e in got) == sorted(t["nodes"])  # one each, not one per poll
    assert {e["plate"] for e in got} == {"34 KPR 000", "34 KPR 001"}
    # jitter under the tolerance is no movement either
    arvento.move(t["nodes"][0], FAR[0] + 0.0001, FAR[1], speed=0.0)  # ~11 m
    assert (await poll_until_positions(t["id"])).get("positions", 0) == 0
    # a real move is one more event, for that vehicle only
    arvento.move(t["nodes"][0], FAR[0] + 0.01, FAR[1], speed=45.0)
    assert (await poll_until_positions(t["id"]))["positions"] == 1
    got = events(db, t["id"], POSITION)
    assert len(got) == 3 and got[-1]["state"] == "moving" and got[-1]["previous_state"] == "stopped"


async def test_vehicles_route_shows_the_last_positions(client, fleet, arvento):
    t = await fleet(1)
    await poll_until_positions(t["id"])
    r = await client("vehicles").get("/vehicles", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    [v] = r.json()["vehicles"]
    assert v["node"] == t["nodes"][0] and v["plate"] == "34 KPR 000" and v["driver_subject_id"] is None
    assert abs(v["position"]["latitude"] - FAR[0]) < 1e-6 and v["position"]["state"] == "stopped"
    assert "Sürücü" not in r.text  # Arvento's driver names are not kept
    r = await client("vehicles").get(f"/vehicles/{v['id']}", headers=bearer(t["token"]))
    assert r.status_code == 200 and r.json()["id"] == v["id"]
    r = await client("vehicles").get("/vehicles/00000000-0000-0000-0000-000000000000", headers=bearer(t["token"]))
    assert r.status_code == 404 and r.json()["code"] == "vehicle.not_found"


# -- geofences ----------------------------------------------------------------------------------

async def test_crossing_a_geofence_is_one_enter_and_one_leave(client, fleet, arvento, db):
    from kopru.connectors.arvento import Position
    from kopru.vehicles.service import apply_positions

    t = await fleet(1)
    node = t["nodes"][0]
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Depo", "circle": {"latitude": DEPOT[0], "longitude": DEPOT[1], "radius_m": 300}})
    assert r.status_code == 201, r.text
    depot = r.json()["id"]
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Uzak bölge", "polygon": [[40.0, 27.0], [40.0, 27.1], [40.1, 27.1], [40.1, 27.0]]})
    assert r.status_code == 201, r.text
    await poll_until_positions(t["id"])                        # outside
    arvento.move(node, DEPOT[0] + 0.001, DEPOT[1], speed=20)   # ~110 m from the centre: inside
    await poll_until_positions(t["id"])
    await poll_until_positions(t["id"])                        # still inside, no movement
    arvento.move(node, FAR[0], FAR[1], speed=50)               # out again
    await poll_until_positions(t["id"])
    got = events(db, t["id"], GEOFENCE)
    assert [(e["transition"], e["geofence_id"]) for e in got] == [("enter", depot), ("leave", depot)]
    assert got[0]["node"] == node and got[0]["subject_id"] is None
    # the same positions again (a poll repeated after a crash): nothing announced twice
    again = [Position(node, FAR[0], FAR[1], None, speed_kmh=50.0)]
    assert (await apply_positions(t["id"], again))["positions"] == 0
    assert len(events(db, t["id"], GEOFENCE)) == 2
    # listing and deleting
    r = await client("vehicles").get("/geofences", headers=bearer(t["token"]))
    assert [g["name"] for g in r.json()["geofences"]] == ["Depo", "Uzak bölge"]
    r = await client("vehicles").delete(f"/geofences/{depot}", headers=bearer(t["token"]))
    assert r.status_code == 204
    r = await client("vehicles").delete(f"/geofences/{depot}", headers=bearer(t["token"]))
    assert r.status_code == 404 and r.json()["code"] == "geofence.not_found"


async def test_concurrent_appliers_announce_each_crossing_once(client, fleet, arvento, db):
    """Two pollers that read the same answer (or a redelivered tick) apply it at once: the
    vehicle rows are locked, the second finds the first's position stored."""
    from kopru.connectors.arvento import Position
    from kopru.vehicles.service import apply_positions

    t = await fleet(1)
    node = t["nodes"][0]
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Depo", "circle": {"latitude": DEPOT[0], "longitude": DEPOT[1], "radius_m": 300}})
    assert r.status_code == 201
    await apply_positions(t["id"], [Position(node, *FAR, None, speed_kmh=0.0)])
    inside = [Position(node, *DEPOT, None, speed_kmh=10.0)]
    results = await asyncio.gather(*(apply_positions(t["id"], inside) for _ in range(4)))
    assert sum(r["enter"] for r in results) == 1 and sum(r["positions"] for r in results) == 1
    assert [e["transition"] for e in events(db, t["id"], GEOFENCE)] == ["enter"]


async def test_an_applier_reads_the_stored_position_only_once_the_row_is_its_own(client, fleet, arvento, db):
    """Another applier holds the vehicle's row (it read it for update) and stores the new
    position: an applier starting meanwhile waits for the row and compares with what the
    other stored, so it announces nothing (the rows are read FOR UPDATE)."""
    from kopru.connectors.arvento import Position
    from kopru.db import tenant_transaction
    from kopru.vehicles.service import apply_positions

    t = await fleet(1)
    node = t["nodes"][0]
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Depo", "circle": {"latitude": DEPOT[0], "longitude": DEPOT[1], "radius_m": 300}})
    assert r.status_code == 201
    await apply_positions(t["id"], [Position(node, *FAR, None, speed_kmh=0.0)])
    async with tenant_transaction(t["id"], actor="test") as tx:
        await tx.execute("select id from vehicles where node = %(n)s for update", {"n": node})
        late = asyncio.create_task(apply_positions(t["id"], [Position(node, *DEPOT, None, speed_kmh=10.0)]))
        await asyncio.sleep(0.5)
        assert not late.done()  # waiting for the row
        await tx.execute("update vehicles set latitude = %(lat)s, longitude = %(lon)s, state = 'moving', "
                         "position_at = now() where node = %(n)s", {"lat": DEPOT[0], "lon": DEPOT[1], "n": node})
    got = await late
    assert (got["positions"], got["enter"], got["unchanged"]) == (0, 0, 1), got
    assert events(db, t["id"], GEOFENCE) == []


@pytest.mark.parametrize("body,code", [
    ({"name": "İkisi", "circle": {"latitude": 41, "longitude": 29, "radius_m": 100},
      "polygon": [[40, 27], [40, 28], [41, 28]]}, "geofence.shape_invalid"),
    ({"name": "Hiçbiri"}, "geofence.shape_invalid"),
    ({"name": "Kelebek", "polygon": [[40, 27], [41, 28], [40, 28], [41, 27]]}, "geofence.polygon_invalid"),
    ({"name": "Çizgi", "polygon": [[40, 27], [40.5, 27.5], [41, 28]]}, "geofence.polygon_invalid"),
    ({"name": "Aynı", "polygon": [[40, 27], [40, 27], [41, 28]]}, "geofence.polygon_invalid"),
    ({"name": "Küçük", "circle": {"latitude": 41, "longitude": 29, "radius_m": 0}}, "request.validation_failed"),
    ({"name": "Kutup", "circle": {"latitude": 91, "longitude": 29, "radius_m": 100}}, "request.validation_failed"),
    ({"name": "NaN", "circle": {"latitude": "NaN", "longitude": 29, "radius_m": 100}}, "request.validation_failed"),
])
async def test_a_bad_geofence_is_refused_with_its_code(client, onboard, db, body, code):
    t = await onboard()
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json=body)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert db.execute("select count(*) from geofences where tenant_id = %s", (str(t["id"]),)).fetchone()[0] == 0


# -- the rate limit -----------------------------------------------------------------------------

async def test_the_rate_limit_is_never_exceeded_even_by_two_concurrent_pollers(fleet, arvento):
    from kopru.vehicles.service import poll_tenant

    t = await fleet(2)
    for _ in range(3):  # two instances polling the same tenant at the same time, three rounds
        await asyncio.gather(poll_tenant(t["id"], wait_s=2.0), poll_tenant(t["id"], wait_s=2.0))
    stats = arvento.stats()[t["label"]]
    assert stats["calls"] >= 6, stats  # the settings check's login, then logins/lists/positions
    assert stats["rate_limited"] == 0, stats
    assert stats["min_gap_s"] >= WINDOW_S, stats
    # and through the schedule's own route: a tick finds the slot busy and makes no request
    before = arvento.stats()[t["label"]]["calls"]
    from kopru.vehicles.service import poll_positions

    await asyncio.gather(poll_positions(), poll_positions())
    after = arvento.stats()[t["label"]]
    assert after["calls"] - before <= 1 and after["rate_limited"] == 0, after


async def test_the_schedule_tick_polls(client, fleet, arvento, db):
    from kopru.vehicles.service import poll_tenant

    t = await fleet(1)
    await asyncio.sleep(0.7)
    await poll_tenant(t["id"], wait_s=2.0, steps=2)  # login and vehicle list
    await asyncio.sleep(0.7)
    r = await client("vehicles").post("/", headers={**sender_auth("vehicles"), "ce-specversion": "1.0",
                                                    "ce-type": "kopru.vehicle.position_poll.v1",
                                                    "ce-source": "/kopru/schedule", "ce-id": "tick-1",
                                                    "content-type": "application/json"}, content=b"{}")
    assert r.status_code == 200, r.text
    assert len(events(db, t["id"], POSITION)) == 1


# -- KVKK: a driver linked ----------------------------------------------------------------------

async def test_a_linked_drivers_positions_are_personal_data(client, fleet, arvento, db):
    from kopru.db import tenant_transaction
    from kopru.kvkk.applications import collect, erase_subject
    from kopru.kvkk.purge import purge, rules

    t = await fleet(1)
    node = t["nodes"][0]
    await poll_until_positions(t["id"])
    r = await client("vehicles").get("/vehicles", headers=bearer(t["token"]))
    vid = r.json()["vehicles"][0]["id"]
    r = await client("vehicles").put(f"/vehicles/{vid}/driver", headers=bearer(t["token"]),
                                     json={"driver": {"phone": "0532 111 22 33"}})
    assert r.status_code == 200, r.text
    sid = r.json()["driver_subject_id"]
    assert sid and "5321112233" not in r.text and "111 22 33" not in r.text  # no number, however written
    arvento.move(node, DEPOT[0], DEPOT[1], speed=30)
    await poll_until_positions(t["id"])
    last = events(db, t["id"], POSITION)[-1]
    assert last["subject_id"] == sid
    rows = db.execute("select subject_id, latitude from vehicle_positions where tenant_id = %s order by id",
                      (str(t["id"]),)).fetchall()
    assert [str(s) if s else None for s, _ in rows] == [None, sid]
    # the subject's export holds the positions recorded while linked; the erasure clears them
    import uuid

    async with tenant_transaction(t["id"], actor="test") as tx:
        doc = await collect(tx, uuid.UUID(sid))
    assert [round(p["latitude"], 4) for p in doc["records"]["vehicle_positions"]] == [round(DEPOT[0], 4)]
    assert doc["records"]["vehicles"][0]["id"] == vid
    async with tenant_transaction(t["id"], actor="test") as tx:
        report = await erase_subject(tx, uuid.UUID(sid))
    assert {c["table"] for c in report["cleared"]} >= {"vehicle_positions", "vehicles"}
    assert db.execute("select latitude from vehicle_positions where subject_id = %s", (sid,)).fetchall() == [(None,)]
    # the next poll unlinks the erased driver (and stores the position again, as nobody's)
    arvento.move(node, FAR[0], FAR[1], speed=30)
    await poll_until_positions(t["id"])
    assert events(db, t["id"], POSITION)[-1]["subject_id"] is None
    assert db.execute("select driver_subject_id from vehicles where id = %s", (vid,)).fetchone() == (None,)
    # the purge deletes positions after 90 days (and clears a last position unchanged that long)
    assert any(r.table == "vehicle_positions" and r.action == "delete" and r.days == 90 for r in rules())
    n = db.execute("select count(*) from vehicle_positions where tenant_id = %s", (str(t["id"]),)).fetchone()[0]
    db.execute("update vehicle_positions set created_at = now() - interval '91 days' where id = "
               "(select min(id) from vehicle_positions where tenant_id = %s)", (str(t["id"]),))
    db.execute("update vehicles set position_at = now() - interval '91 days' where id = %s", (vid,))
    await purge(tenant_id=t["id"])
    assert db.execute("select count(*) from vehicle_positions where tenant_id = %s",
                      (str(t["id"]),)).fetchone()[0] == n - 1
    assert db.execute("select latitude, longitude from vehicles where id = %s", (vid,)).fetchone() == (None, None)
    # unlinking is idempotent
    for _ in range(2):
        r = await client("vehicles").delete(f"/vehicles/{vid}/driver", headers=bearer(t["token"]))
        assert r.status_code == 200 and r.json()["driver_subject_id"] is None


# -- workflows --------------------------------------------------------------------------------

async def test_geofence_events_trigger_workflows_and_vehicle_locate_is_read_only(client, fleet, arvento):
    from kopru.workflows.actions import ACTIONS, _personal_triggers
    from kopru.workflows.expressions import trigger_types

    assert GEOFENCE in trigger_types() and GEOFENCE in _personal_triggers()
    assert ACTIONS["vehicle.locate"].scope == "vehicles:read"
    t = await fleet(1)
    await poll_until_positions(t["id"])
    wf = {"name": "Depoya girince", "trigger": {"type": GEOFENCE, "filter": [{"exact": {"data.transition": "enter"}}]},
          "steps": [{"action": "vehicle.locate", "input": {"vehicle_id": "data.vehicle_id"}}]}
    r = await client("workflows").post("/workflows", json=wf, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    before = arvento.stats()[t["label"]]["calls"]
    r = await client("vehicles").get("/vehicles", headers=bearer(t["token"]))
    vid = r.json()["vehicles"][0]["id"]
    [saved] = (await client("workflows").get("/workflows", headers=bearer(t["token"]))).json()["workflows"]
    sample = {"vehicle_id": vid, "node": t["nodes"][0], "plate": None, "subject_id": None,
              "position_at": "2026-12-06T10:00:00Z", "geofence_id": vid,
              "geofence_name": "Depo", "transition": "enter"}
    r = await client("workflows").post(f"/workflows/{saved['id']}/dry-run", json={"data": sample},
                                       headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    assert arvento.stats()[t["label"]]["calls"] == before  # the preview asked Arvento nothing
    out = r.json()
    assert out["would_run"] is True and out["sent"] is False
    [step] = out["steps"]
    assert step["input"] == {"vehicle_id": vid}, step  # resolved from the event, not the fence id beside it


async def test_history_and_the_read_only_inspection_route(arvento):
    """report/general gives a vehicle's trail; GET /_simulator/calls counts calls without
    user names, passwords, sessions or positions."""
    from datetime import datetime, timedelta, timezone

    import httpx

    from kopru.connectors import arvento as av

    arvento.add_account("gecmis-kullanici", "gizli-parola", label="history")
    arvento.add_vehicle("gecmis-kullanici", "HIST0001", plate="06 ABC 06", at=FAR)
    arvento.move("HIST0001", DEPOT[0], DEPOT[1], speed=30)
    c = av.ArventoRest("gecmis-kullanici", "gizli-parola")
    await c.login()
    await asyncio.sleep(WINDOW_S + 0.1)
    now = datetime.now(timezone.utc)
    trail = await c.history("HIST0001", now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert [(round(p.latitude, 4), p.speed_kmh) for p in trail] == [(round(FAR[0], 4), 0.0),
                                                                     (round(DEPOT[0], 4), 30.0)]
    assert trail[0].at is not None and trail[0].at.utcoffset() == timedelta(hours=3)  # Turkish local time
    r = httpx.get(arvento.url + "/_simulator/calls", timeout=5)
    assert r.status_code == 200
    mine = [x for x in r.json()["calls"] if x["account"] == "history"]
    assert [x["endpoint"] for x in mine] == ["login", "report/general"]
    assert r.json()["accounts"]["history"]["rate_limited"] == 0
    for secret in ("gecmis-kullanici", "gizli-parola", c.session_id, str(round(DEPOT[0], 4))):
        assert secret not in r.text


async def test_entering_a_geofence_runs_the_tenants_workflow_once(client, apps, fleet, arvento, db):
    from tests.helpers import drain

    t = await fleet(1)
    node = t["nodes"][0]
    r = await client("vehicles").post("/geofences", headers=bearer(t["token"]), json={
        "name": "Depo", "circle": {"latitude": DEPOT[0], "longitude": DEPOT[1], "radius_m": 300}})
    assert r.status_code == 201
    wf = {"name": "Depoya girince", "trigger": {"type": GEOFENCE, "filter": [{"exact": {"data.transition": "enter"}}]},
          "steps": [{"action": "vehicle.locate", "input": {"vehicle_id": "data.vehicle_id"}}]}
    r = await client("workflows").post("/workflows", json=wf, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    await poll_until_positions(t["id"])                      # outside
    arvento.move(node, DEPOT[0], DEPOT[1], speed=15)
    await poll_until_positions(t["id"])                      # enter
    arvento.move(node, FAR[0], FAR[1], speed=60)
    await poll_until_positions(t["id"])                      # leave: filtered out
    await drain(apps, only=("workflows",))
    await drain(apps, only=("workflows",))                   # nothing left to deliver: no second run
    r = await client("workflows").get(f"/workflows/{wid}/runs", headers=bearer(t["token"]))
    [run] = r.json()["runs"]
    assert run["status"] == "succeeded", run
    [res] = run["results"]
    vid = (await client("vehicles").get("/vehicles", headers=bearer(t["token"]))).json()["vehicles"][0]["id"]
    assert res["vehicle_id"] == vid and res["located"] is True
    assert "latitude" not in json.dumps(run) and str(round(FAR[0], 4)) not in json.dumps(run)


async def test_vehicle_locate_finds_a_vehicle_by_plate_in_any_spacing_and_case(fleet, arvento):
    from kopru.db import tenant_transaction
    from kopru.vehicles.models import VehicleLocateIn
    from kopru.vehicles.service import find

    t = await fleet(2)
    await poll_until_positions(t["id"])  # the vehicle list brought the plates
    async with tenant_transaction(t["id"], actor="test") as tx:
        v = await find(tx, VehicleLocateIn(plate="34kpr 001"))
        assert v is not None and (v.plate, v.node) == ("34 KPR 001", t["nodes"][1])
        assert (await find(tx, VehicleLocateIn(vehicle_id=str(v.id)))).id == v.id
        assert await find(tx, VehicleLocateIn(plate="34 KPR 999")) is None
        assert await find(tx, VehicleLocateIn(vehicle_id="-" * 36)) is None  # not a UUID: no vehicle, no error
