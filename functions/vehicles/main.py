"""vehicles: Arvento vehicle tracking. On its schedule (catalog `schedules`, every minute)
it makes each tenant's next Arvento request within the account's rate limit (about one
request per 30 s, shared by every instance) and announces positions only when they change
(`kopru.vehicle.position.v1`) and geofence crossings (`kopru.vehicle.geofence.v1`, a
workflow trigger). Routes: the vehicles and their last positions, linking a driver (a data
subject: the positions become personal data), the tenant's geofences.

    functions-framework --asgi --source functions/vehicles/main.py --target handle
"""

from kopru.runtime import PAGED, Call, EventCall, Function, created, json_response

fn = Function("vehicles", max_body_bytes=32 * 1024)


@fn.route("GET", "/vehicles", returns="kopru.vehicles.models:VehiclesPage",
          summary="The tenant's vehicles (from Arvento) and their last positions, a page at a time (vehicles:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="vehicles:read", tenant="token", query=PAGED)
async def listing(call: Call):
    from kopru import pages
    from kopru.vehicles.service import listing

    return await listing(call.tenant, pages.limit(call.query), call.query.get("cursor"))


@fn.route("GET", "/vehicles/{id}", returns="kopru.vehicles.models:VehicleOut",
          summary="A vehicle and its last position (vehicles:read)",
          responses=(200, 401, 403, 404, 429), scope="vehicles:read", tenant="token")
async def read(call: Call):
    from kopru.vehicles.service import read

    return await read(call.tenant, call.path_id("vehicle.not_found"))


@fn.route("PUT", "/vehicles/{id}/driver", returns="kopru.vehicles.models:VehicleOut",
          summary="Link the vehicle's driver (a data subject, named by phone, e-mail or TCKN): its positions become "
                  "the driver's personal data, kept 90 days, exported and erased with the subject (vehicles:write)",
          body="kopru.vehicles.models:DriverIn", responses=(200, 400, 401, 403, 404, 409, 413, 415, 422, 429),
          scope="vehicles:write", tenant="token")
async def link_driver(call: Call):
    from kopru.vehicles.models import DriverIn
    from kopru.vehicles.service import link_driver

    vid = call.path_id("vehicle.not_found")
    body = await call.json(DriverIn)
    return await link_driver(call.tenant, vid, body)


@fn.route("DELETE", "/vehicles/{id}/driver", returns="kopru.vehicles.models:VehicleOut",
          summary="Unlink the vehicle's driver (vehicles:write)",
          responses=(200, 401, 403, 404, 429), scope="vehicles:write", tenant="token")
async def unlink_driver(call: Call):
    from kopru.vehicles.service import unlink_driver

    return await unlink_driver(call.tenant, call.path_id("vehicle.not_found"))


@fn.route("POST", "/geofences", returns="kopru.vehicles.models:GeofenceOut",
          summary="Save a geofence: a circle (centre, radius 10 m to 100 km) or a polygon (3 to 100 corners, no "
                  "crossing edges); vehicles entering or leaving it are announced (vehicles:write). "
                  "Optional Idempotency-Key",
          body="kopru.vehicles.models:GeofenceIn", responses=(201, 400, 401, 403, 409, 413, 415, 422, 429),
          scope="vehicles:write", tenant="token",
          links={"read": ("GET /geofences/{id}", {"id": "$response.body#/id"}),
                 "delete": ("DELETE /geofences/{id}", {"id": "$response.body#/id"})})
async def create_geofence(call: Call):
    from kopru.vehicles.models import GeofenceIn
    from kopru.vehicles.service import create_geofence

    body = await call.json(GeofenceIn)
    out = await create_geofence(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, 201, f"/geofences/{out['id']}")


@fn.route("GET", "/geofences/{id}", returns="kopru.vehicles.models:GeofenceOut",
          summary="A geofence (vehicles:read)",
          responses=(200, 401, 403, 404, 429), scope="vehicles:read", tenant="token")
async def read_geofence(call: Call):
    from kopru.vehicles.service import read_geofence

    return await read_geofence(call.tenant, call.path_id("geofence.not_found"))


@fn.route("GET", "/geofences", returns="kopru.vehicles.models:GeofencesPage",
          summary="The tenant's geofences, a page at a time (vehicles:read)",
          responses=(200, 400, 401, 403, 422, 429), scope="vehicles:read", tenant="token", query=PAGED,
          links={"read": ("GET /geofences/{id}", {"id": "$response.body#/geofences/0/id"})})
async def list_geofences(call: Call):
    from kopru import pages
    from kopru.vehicles.service import list_geofences

    return await list_geofences(call.tenant, pages.limit(call.query), call.query.get("cursor"))


@fn.route("DELETE", "/geofences/{id}", summary="Delete a geofence (vehicles:write)",
          responses=(204, 401, 403, 404, 429), scope="vehicles:write", tenant="token")
async def delete_geofence(call: Call):
    from starlette.responses import Response

    from kopru.vehicles.service import delete_geofence

    await delete_geofence(call.tenant, call.path_id("geofence.not_found"))
    return Response(status_code=204)


@fn.on_event("kopru.vehicle.position_poll.v1")
async def poll(ev: EventCall):
    from kopru.vehicles.service import poll_positions

    return json_response(await poll_positions(), 200)


async def handle(request):
    return await fn(request)
