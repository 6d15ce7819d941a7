"""Vehicle tracking: Arvento positions polled within its rate limit, announced only when
they change (`kopru.vehicle.position.v1`), geofence crossings (`kopru.vehicle.geofence.v1`),
drivers linked as data subjects. `service` (the poll, vehicles, drivers, geofences),
`geo` (distances, areas), `ratelimit` (the per-account slot every instance shares),
`models` (request bodies and the Arvento settings)."""
