"""Vehicle tracking over Arvento: the poll, vehicles and their drivers, geofences, and the
`vehicle.locate` action.

The poll (`poll_positions`, on the vehicles function's schedule) walks the tenants with
Arvento settings. Per tenant it makes the next request the account needs, each one only
once the account's shared slot is taken (kopru.vehicles.ratelimit) and chosen in it, from
what the previous holder left (so two pollers never both log in): a login when there is
no session, the vehicle list when it is older than KOPRU_ARVENTO_VEHICLES_EVERY_S, else
the last positions. Positions are applied in one transaction per tenant, every vehicle
row locked: a position is announced (`kopru.vehicle.position.v1`, a `vehicle_positions`
row) only when it moved more than MOVE_TOLERANCE_M from the stored one or its state
(moving/stopped) changed; each geofence whose inside/outside differs between the stored
and the new position gets one `kopru.vehicle.geofence.v1` (enter or leave). The outbox rows
commit with the new stored position, so a poll repeated after a crash (or a second poller)
compares with what was announced and announces nothing twice. An older position than the
stored one is ignored.

A vehicle with a linked driver (a data subject) has personal positions: the events and the
`vehicle_positions` rows carry the driver's subject_id (kopru.kvkk.register: kept 90 days,
exported and erased with the subject). A driver whose subject was erased is unlinked by the
next poll.
"""

from __future__ import annotations

import uuid
from typing import Any

from kopru.errors import KopruError
from kopru.logs import get_logger

log = get_logger("kopru.vehicles")

PROVIDER = "arvento"
ACTOR = "schedule:vehicle-poll"
MOVE_TOLERANCE_M = 25.0  # GPS jitter of a parked vehicle stays under this
MOVING_KMH = 3.0
POSITION = "kopru.vehicle.position.v1"
GEOFENCE = "kopru.vehicle.geofence.v1"


def _interval() -> float:
    from kopru.config import settings

    return settings().arvento_min_interval_s


def _aad(tenant_id: uuid.UUID) -> bytes:
    return f"{tenant_id}:arvento-session".encode()


def _client(username: str, password: str, session_id: str | None = None):
    from kopru.connectors.arvento import ArventoRest

    return ArventoRest(username, password, session_id=session_id)


def _raise(err) -> None:
    """An Arvento error as the request's answer."""
    raise KopruError(err.code) from None


# -- settings (kopru.providers) -------------------------------------------------------------

async def check_arvento(tenant_id: uuid.UUID, body) -> Any:
    """Log in once (within the account's rate limit). Arvento keeps one session per account,
    so the stored session (if any) is dead after this: it is forgotten."""
    from kopru.connectors import arvento
    from kopru.db import tenant_transaction
    from kopru.vehicles import ratelimit
    from kopru.work.integrations import Checked

    c = _client(body.username, body.password)
    key = ratelimit.account_key(c.base_url, body.username)
    held, wait = await ratelimit.try_claim(key, _interval())
    if held is None:  # the poll holds the account's one slot: say when it frees (no request waits ~30 s here)
        raise KopruError("arvento.rate_limited", headers={"Retry-After": str(max(1, int(-(-wait // 1))))})
    try:
        await c.login()
    except arvento.ArventoError as err:
        _raise(err)
    finally:
        await ratelimit.release(key, _interval(), held)
    async with tenant_transaction(tenant_id, actor="integration:arvento") as tx:
        await tx.execute("update arvento_sessions set session_enc = null, vehicles_synced_at = null, "
                         "auth_failed_at = null")
    return Checked()


# -- the poll -------------------------------------------------------------------------------

async def poll_positions(*, wait_s: float = 0.0) -> dict[str, int]:
    """Every tenant with Arvento: its next request, if the account's slot is free (waiting
    up to `wait_s` for it). Counts what happened."""
    from kopru.work.sweep import for_each_tenant

    counts: dict[str, int] = {}

    async def one(tid: uuid.UUID) -> None:
        for k, v in (await poll_tenant(tid, wait_s=wait_s)).items():
            counts[k] = counts.get(k, 0) + v

    counts.update({f"sweep_{k}": v for k, v in (await for_each_tenant(one, name="vehicle-poll")).items()})
    return counts


async def _state(tenant_id: uuid.UUID):
    """((public settings, secrets), session id or None, vehicles_synced_at, the database's now),
    or None without Arvento settings or while the stored credentials are known to be refused
    (a permanent failure: no login is tried again until the settings are saved anew)."""
    from kopru.auth.crypto import unseal
    from kopru.db import tenant_transaction
    from kopru.work.integrations import load

    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        got = await load(tx, PROVIDER)
        if got is None:
            return None
        row = (await tx.execute("select session_enc, vehicles_synced_at, auth_failed_at from arvento_sessions")).first()
        if row is not None and row.auth_failed_at is not None:
            return None
        clock = (await tx.execute("select now()")).scalar_one()
    session = unseal(bytes(row.session_enc), _aad(tenant_id)).decode() if row and row.session_enc else None
    synced = row.vehicles_synced_at if row else None
    return got, session, synced, clock


async def _save_session(tenant_id: uuid.UUID, session: str | None, *, synced: bool = False,
                        auth_failed: bool = False) -> None:
    from kopru.auth.crypto import seal
    from kopru.db import tenant_transaction

    enc = seal(session.encode(), _aad(tenant_id)) if session else None
    values = {"session_enc": "%(enc)s", "updated_at": "now()"}
    if synced:
        values["vehicles_synced_at"] = "now()"
    if auth_failed:
        values["auth_failed_at"] = "now()"
    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        await tx.execute(
            "insert into arvento_sessions (tenant_id, " + ", ".join(values) + ") "
            "values (%(t)s, " + ", ".join(values.values()) + ") "
            "on conflict (tenant_id) do update set " + ", ".join(f"{c} = {v}" for c, v in values.items()),
            {"t": tenant_id, "enc": enc})


async def poll_tenant(tenant_id: uuid.UUID, *, wait_s: float = 0.0, steps: int = 3) -> dict[str, int]:
    """Up to `steps` requests for one tenant, each in the account's slot; stops at the
    positions, at an error, or when the slot is not free within `wait_s`."""
    from datetime import timedelta

    from kopru.config import settings
    from kopru.connectors import arvento
    from kopru.vehicles import ratelimit

    counts: dict[str, int] = {}

    def bump(k: str, n: int = 1) -> None:
        counts[k] = counts.get(k, 0) + n

    st = await _state(tenant_id)
    if st is None:
        return counts
    (public, secrets), _, _, _ = st
    key = ratelimit.account_key(arvento.base_url_from_env(), public["username"])
    every = timedelta(seconds=settings().arvento_vehicles_every_s)
    for _ in range(steps):
        held = await ratelimit.claim(key, _interval(), wait_s=wait_s)
        if held is None:
            bump("slot_busy")
            break
        try:
            # in the slot: what the account's previous request left (another poller's login, its vehicle
            # list, refused credentials) decides this one, not what was read before the wait
            st = await _state(tenant_id)
            if st is None:
                break
            (public, secrets), session, synced, clock = st
            c = _client(public["username"], secrets["password"], session)
            if ratelimit.account_key(c.base_url, public["username"]) != key:
                break  # the settings name another account now: the next tick takes its slot
            if not c.session_id:
                step = "login"
            elif synced is None or clock - synced > every:
                step = "vehicles"
            else:
                step = "positions"
            if step == "login":
                await c.login()
                await _save_session(tenant_id, c.session_id)
                bump("logins")
            elif step == "vehicles":
                vs = await c.vehicles()
                await _sync_vehicles(tenant_id, vs)
                await _save_session(tenant_id, c.session_id, synced=True)
                bump("vehicle_lists")
            else:
                ps = await c.last_positions()
                for k, v in (await apply_positions(tenant_id, ps)).items():
                    bump(k, v)
                bump("position_reads")
                break
        except arvento.SessionInvalid:
            await _save_session(tenant_id, None)
            bump("session_lost")
        except arvento.AuthError as err:  # the stored credentials no longer work: a permanent failure
            await _save_session(tenant_id, None, auth_failed=True)
            log.warning("vehicles.arvento_refused", extra={"fields": {"tenant_id": str(tenant_id), "code": err.code,
                                                                      "arvento_status": err.arvento_status}})
            bump(err.code)
            break
        except arvento.ArventoError as err:
            log.warning("vehicles.arvento_failed", extra={"fields": {"tenant_id": str(tenant_id), "code": err.code,
                                                                     "step": step}})
            bump(err.code)
            break
        finally:
            await ratelimit.release(key, _interval(), held)
    return counts


async def _sync_vehicles(tenant_id: uuid.UUID, vs) -> None:
    """The account's vehicle list: new nodes added, plates and classes kept current.
    Arvento's driver names are not stored (a driver is linked by the tenant, as a subject)."""
    from kopru.db import tenant_transaction

    if not vs:
        return
    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        for v in vs:
            await tx.execute(
                "insert into vehicles (id, tenant_id, node, plate, vehicle_class) "
                "values (%(id)s, %(t)s, %(node)s, %(plate)s, %(cls)s) "
                "on conflict (tenant_id, node) do update set plate = excluded.plate, "
                "vehicle_class = excluded.vehicle_class, updated_at = now()",
                {"id": uuid.uuid4(), "t": tenant_id, "node": v.node[:64], "plate": (v.plate or None) and v.plate[:32],
                 "cls": (v.vehicle_class or None) and v.vehicle_class[:64]})


def _state_of(speed: float | None) -> str:
    return "moving" if (speed or 0.0) > MOVING_KMH else "stopped"


def _iso(dt) -> str | None:
    from kopru.text import iso_utc

    return iso_utc(dt) if dt is not None else None


async def apply_positions(tenant_id: uuid.UUID, positions) -> dict[str, int]:
    """Compare each position with the stored one and announce what changed, in one
    transaction (outbox included). Returns counts: positions, unchanged, stale, enter, leave."""
    from kopru.db import tenant_transaction
    from kopru.vehicles import geo

    counts = {"positions": 0, "unchanged": 0, "stale": 0, "enter": 0, "leave": 0}
    latest: dict[str, Any] = {}
    for p in positions:  # one per node: the newest
        if p.node and (p.node not in latest or (p.at and latest[p.node].at and p.at > latest[p.node].at)):
            latest[p.node] = p
    if not latest:
        return counts
    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        nodes = sorted(latest)
        # new nodes first (in node order, like the locks below); then every vehicle row locked, in node order
        new: dict[str, Any] = {"t": tenant_id}
        for i, n in enumerate(nodes):
            new[f"id{i}"], new[f"n{i}"] = uuid.uuid4(), n[:64]
        await tx.execute("insert into vehicles (id, tenant_id, node) values "
                         + ", ".join(f"(%(id{i})s, %(t)s, %(n{i})s)" for i in range(len(nodes)))
                         + " on conflict do nothing", new)
        rows = (await tx.execute(
            "select vehicles.*, data_subjects.wrapped_key is null as driver_erased from vehicles "
            "left outer join data_subjects on data_subjects.id = vehicles.driver_subject_id "
            "where vehicles.node = any(%(nodes)s) order by vehicles.node for update of vehicles",
            {"nodes": nodes})).all()
        fences = (await tx.execute("select * from geofences order by created_at, id")).all()
        clock = (await tx.execute("select now()")).scalar_one()
        for v in rows:
            p = latest[v.node]
            if v.position_at is not None and p.at is not None and p.at < v.position_at:
                counts["stale"] += 1
                continue
            state = _state_of(p.speed_kmh)
            driver = v.driver_subject_id if v.driver_subject_id is not None and not v.driver_erased else None
            moved = v.latitude is None or geo.distance_m(v.latitude, v.longitude, p.latitude, p.longitude) \
                > MOVE_TOLERANCE_M
            if not moved and state == v.state:
                await tx.execute("update vehicles set seen_at = %(clock)s, driver_subject_id = %(d)s where id = %(id)s",
                                 {"clock": clock, "d": driver, "id": v.id})
                counts["unchanged"] += 1
                continue
            pos = {"id": v.id, "t": tenant_id, "lat": p.latitude, "lon": p.longitude, "speed": p.speed_kmh,
                   "course": p.course, "state": state, "at": p.at or clock, "clock": clock, "d": driver}
            await tx.execute(
                "update vehicles set latitude = %(lat)s, longitude = %(lon)s, speed_kmh = %(speed)s, "
                "course = %(course)s, state = %(state)s, position_at = %(at)s, seen_at = %(clock)s, "
                "driver_subject_id = %(d)s, updated_at = now() where id = %(id)s", pos)
            await tx.execute(
                "insert into vehicle_positions (tenant_id, vehicle_id, subject_id, latitude, longitude, speed_kmh, "
                "state, position_at) values (%(t)s, %(id)s, %(d)s, %(lat)s, %(lon)s, %(speed)s, %(state)s, %(at)s)",
                pos)
            base = {"vehicle_id": str(v.id), "node": v.node, "plate": v.plate,
                    "subject_id": str(driver) if driver else None, "position_at": _iso(p.at or clock)}
            await tx.emit(POSITION, {**base, "latitude": p.latitude, "longitude": p.longitude,
                                     "speed_kmh": p.speed_kmh, "course": p.course, "state": state,
                                     "previous_state": v.state}, subject=str(v.id))
            counts["positions"] += 1
            if v.latitude is None:
                continue  # no earlier position: nothing was crossed
            for f in fences:
                was, now = geo.inside(f, v.latitude, v.longitude), geo.inside(f, p.latitude, p.longitude)
                if was == now:
                    continue
                transition = "enter" if now else "leave"
                # the vehicle (ids, plate: vehicle data in the register), the fence and the time: a workflow
                # run keeps its trigger event, so the coordinates stay here
                await tx.emit(GEOFENCE, {**base, "geofence_id": str(f.id), "geofence_name": f.name,
                                         "transition": transition}, subject=str(v.id))
                counts[transition] += 1
    return counts


# -- vehicles and drivers -------------------------------------------------------------------

def vehicle_view(r) -> dict[str, Any]:
    from kopru.text import iso_business

    pos = None if r.latitude is None else {
        "latitude": r.latitude, "longitude": r.longitude, "speed_kmh": r.speed_kmh, "course": r.course,
        "state": r.state, "at": iso_business(r.position_at)}
    return {"id": str(r.id), "node": r.node, "plate": r.plate, "vehicle_class": r.vehicle_class,
            "driver_subject_id": str(r.driver_subject_id) if r.driver_subject_id else None,
            "position": pos, "seen_at": iso_business(r.seen_at), "created_at": iso_business(r.created_at)}


async def _vehicle(tx, vehicle_id: uuid.UUID, *, lock: bool = False):
    q = "select * from vehicles where id = %(id)s" + (" for update" if lock else "")
    row = (await tx.execute(q, {"id": vehicle_id})).first()
    if row is None:
        raise KopruError("vehicle.not_found")
    return row


async def listing(ctx, limit: int, cursor: str | None) -> dict[str, Any]:
    from kopru import pages

    scope = f"vehicles:{ctx.tenant_id}"
    q, params = pages.keyset_sql("select * from vehicles where true", {}, "created_at", "id", scope, cursor, limit,
                                 key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"vehicles": [vehicle_view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def read(ctx, vehicle_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        return vehicle_view(await _vehicle(tx, vehicle_id))


async def link_driver(ctx, vehicle_id: uuid.UUID, body) -> dict[str, Any]:
    """The driver (found or created as a data subject) is linked: from now on the vehicle's
    positions are that person's personal data."""
    from kopru.kvkk.subjects import find_or_create_subject

    async with ctx.transaction() as tx:
        await _vehicle(tx, vehicle_id, lock=True)
        ref = await find_or_create_subject(tx, body.driver)
        await tx.execute("update vehicles set driver_subject_id = %(s)s, updated_at = now() where id = %(id)s",
                         {"s": ref.id, "id": vehicle_id})
        await tx.audit("vehicle.driver_linked", target=str(vehicle_id), details={"subject_id": str(ref.id)})
        return vehicle_view(await _vehicle(tx, vehicle_id))


async def unlink_driver(ctx, vehicle_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        row = await _vehicle(tx, vehicle_id, lock=True)
        if row.driver_subject_id is not None:
            await tx.execute("update vehicles set driver_subject_id = null, updated_at = now() where id = %(id)s",
                             {"id": vehicle_id})
            await tx.audit("vehicle.driver_unlinked", target=str(vehicle_id),
                           details={"subject_id": str(row.driver_subject_id)})
        return vehicle_view(await _vehicle(tx, vehicle_id))


# -- geofences ------------------------------------------------------------------------------

def geofence_view(r) -> dict[str, Any]:
    from kopru.text import iso_business

    shape: dict[str, Any] = ({"circle": {"latitude": r.center_lat, "longitude": r.center_lon, "radius_m": r.radius_m}}
                             if r.kind == "circle" else {"polygon": r.polygon})
    return {"id": str(r.id), "name": r.name, "kind": r.kind, **shape, "created_at": iso_business(r.created_at)}


async def create_geofence(ctx, body, idempotency_key: str | None = None) -> dict[str, Any]:
    """Save a geofence. With an Idempotency-Key the same body answers the first answer again
    (`replayed`), another body 409 request.idempotency_conflict (kopru.work.idempotency)."""
    import json

    from kopru.work import idempotency

    gid = uuid.uuid4()
    values: dict[str, Any] = {"id": gid, "tenant_id": ctx.tenant_id, "name": body.name, "center_lat": None,
                              "center_lon": None, "radius_m": None, "polygon": None}
    if body.circle is not None:
        values.update(kind="circle", center_lat=body.circle.latitude, center_lon=body.circle.longitude,
                      radius_m=body.circle.radius_m)
    else:
        corners = [[float(a), float(b)] for a, b in body.polygon]
        if len(corners) > 3 and corners[0] == corners[-1]:
            corners = corners[:-1]
        values.update(kind="polygon", polygon=json.dumps(corners))
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /geofences", idempotency_key, body.model_dump(mode="json"))
        if slot.replay is not None:
            return {**slot.replay[1], "replayed": True}
        await tx.execute(
            "insert into geofences (id, tenant_id, name, kind, center_lat, center_lon, radius_m, polygon) "
            "values (%(id)s, %(tenant_id)s, %(name)s, %(kind)s, %(center_lat)s, %(center_lon)s, %(radius_m)s, "
            "cast(%(polygon)s as jsonb))", values)
        await tx.audit("geofence.created", target=str(gid), details={"kind": values["kind"]})
        out = geofence_view((await tx.execute("select * from geofences where id = %(id)s", {"id": gid})).one())
        await slot.save(201, out)
        return out


async def read_geofence(ctx, geofence_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from geofences where id = %(id)s", {"id": geofence_id})).first()
    if row is None:
        raise KopruError("geofence.not_found")
    return geofence_view(row)


async def list_geofences(ctx, limit: int, cursor: str | None) -> dict[str, Any]:
    from kopru import pages

    scope = f"geofences:{ctx.tenant_id}"
    q, params = pages.keyset_sql("select * from geofences where true", {}, "created_at", "id", scope, cursor, limit,
                                 key_type=uuid.UUID)
    async with ctx.transaction() as tx:
        rows, last = pages.page((await tx.execute(q, params)).all(), limit, lambda r: (r.created_at, r.id))
    return {"geofences": [geofence_view(r) for r in rows], "next_cursor": pages.encode(scope, *last) if last else None}


async def delete_geofence(ctx, geofence_id: uuid.UUID) -> None:
    async with ctx.transaction() as tx:
        gone = (await tx.execute("delete from geofences where id = %(id)s returning id", {"id": geofence_id})).first()
        if gone is None:
            raise KopruError("geofence.not_found")
        await tx.audit("geofence.deleted", target=str(geofence_id))


# -- vehicle.locate (kopru.workflows.actions) -----------------------------------------------

async def find(tx, inp) -> Any:
    """The vehicle a VehicleLocateIn names (by id, or by plate ignoring spaces and case)."""
    from kopru.text import tr_upper

    if inp.vehicle_id is not None:
        try:
            vid = uuid.UUID(inp.vehicle_id)
        except ValueError:
            return None
        return (await tx.execute("select * from vehicles where id = %(id)s", {"id": vid})).first()
    want = tr_upper("".join(inp.plate.split()))
    return (await tx.execute("select * from vehicles where upper(replace(plate, ' ', '')) = %(want)s "
                             "order by created_at limit 1", {"want": want})).first()


async def locate_run(ctx, inp, *, key: str, event: dict[str, Any], run_id: uuid.UUID, index: int) -> dict[str, Any]:
    """Read-only: the vehicle's last known position as Köprü holds it (no call to Arvento,
    whose rate limit belongs to the poll). The run keeps only the ids and the time, never
    the coordinates (they can be a driver's personal data)."""
    from kopru.workflows.actions import StepFailed

    async with ctx.transaction() as tx:
        v = await find(tx, inp)
    if v is None:
        raise StepFailed("vehicle.not_found")
    return {"vehicle_id": str(v.id), "located": v.latitude is not None, "position_at": _iso(v.position_at)}


async def locate_preview(tx, inp, *, event: dict[str, Any]) -> dict[str, Any]:
    v = await find(tx, inp)
    if v is None:
        return {"provider": "arvento", "vehicle": None, "note": "no such vehicle yet"}
    return {"provider": "arvento", "vehicle": vehicle_view(v), "sends": "nothing (read-only)"}
