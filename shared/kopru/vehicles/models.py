"""Request bodies of the vehicles function and the Arvento settings (kopru.providers)."""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kopru.kvkk.models import SubjectIn

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArventoSettingsIn(_In):
    """Arvento's REST login (the user name and password of its web service account; the
    legacy SOAP service's PIN1/PIN2 are not used: docs/arvento.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "examples": [{"username": "filo-api", "password": "••••••••"}]})

    username: str = Field(min_length=1, max_length=100, pattern=r"^[^\s]+$")
    password: str = Field(min_length=1, max_length=200)


class Circle(_In):
    latitude: Lat
    longitude: Lon
    radius_m: float = Field(ge=10, le=100_000, allow_inf_nan=False, description="10 m to 100 km")


class GeofenceIn(_In):
    """A tenant's area: exactly one of `circle` or `polygon` ([latitude, longitude] corners,
    3 to 100, no crossing edges)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"name": "Depo", "circle": {"latitude": 41.0082, "longitude": 28.9784, "radius_m": 300}},
        {"name": "Liman", "polygon": [[40.99, 28.95], [40.99, 28.99], [41.01, 28.99], [41.01, 28.95]]}]})

    name: str = Field(min_length=1, max_length=200)
    circle: Optional[Circle] = None
    polygon: Optional[list[tuple[Lat, Lon]]] = Field(default=None, min_length=3, max_length=101)

    @model_validator(mode="after")
    def _shape(self) -> "GeofenceIn":
        from kopru.vehicles.geo import polygon_problem

        if (self.circle is None) == (self.polygon is None):
            raise ValueError("geofence.shape_invalid")
        if self.polygon is not None and polygon_problem(self.polygon) is not None:
            raise ValueError("geofence.polygon_invalid")
        return self


class DriverIn(_In):
    """The person driving the vehicle, named like a consent's subject (phone, e-mail or
    TCKN): its positions become that person's personal data."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={
        "examples": [{"driver": {"phone": "0532 123 45 67"}}]})

    driver: SubjectIn


class VehicleLocateIn(_In):
    """A vehicle of the tenant, by id or by plate (exactly one)."""

    vehicle_id: Optional[str] = Field(default=None, min_length=36, max_length=36,
                                      pattern=r"^[0-9a-fA-F-]{36}$", description="a vehicle id")
    plate: Optional[str] = Field(default=None, min_length=2, max_length=32, description="its plate, any spacing")

    @model_validator(mode="after")
    def _one(self) -> "VehicleLocateIn":
        if (self.vehicle_id is None) == (self.plate is None):
            raise ValueError("vehicle.locate_target_invalid")
        return self


# -- answers (what the vehicles routes answer; kopru.answers) ---------------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Literal  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import NextCursor, Out, absent  # noqa: E402


class PositionOut(Out):
    """A vehicle's last position as Köprü stored it (it changes only when the vehicle moved or
    its state changed)."""

    latitude: Lat
    longitude: Lon
    speed_kmh: Optional[float] = Field(description="as Arvento gave it")
    course: Optional[float] = Field(description="degrees, as Arvento gave it")
    state: Literal["moving", "stopped"]
    at: _datetime = Field(description="when the device measured it (when Köprü read it, if Arvento gave no time)")


class VehicleOut(Out):
    """A vehicle (GET /vehicles/{id}; linking or unlinking a driver answers it too)."""

    id: _UUID
    node: str = Field(description="Arvento's device (node) id")
    plate: Optional[str]
    vehicle_class: Optional[str]
    driver_subject_id: Optional[_UUID] = Field(description="the linked driver (a data subject)")
    position: Optional[PositionOut] = Field(description="null until a first position was read")
    seen_at: Optional[_datetime] = Field(description="when Köprü last read its position")
    created_at: _datetime


class VehiclesPage(Out):
    """GET /vehicles (kopru.pages)."""

    vehicles: list[VehicleOut]
    next_cursor: NextCursor


class CircleOut(Out):
    latitude: Lat
    longitude: Lon
    radius_m: float = Field(ge=10, le=100_000, description="metres")


class GeofenceOut(Out):
    """A geofence (POST /geofences answers it, 201; GET /geofences/{id}): a circle or a polygon, as `kind` says."""

    id: _UUID
    name: str
    kind: Literal["circle", "polygon"]
    circle: CircleOut = absent("the circle (kind circle)")
    polygon: list[tuple[Lat, Lon]] = absent("the corners, [latitude, longitude] (kind polygon)")
    created_at: _datetime


class GeofencesPage(Out):
    """GET /geofences (kopru.pages)."""

    geofences: list[GeofenceOut]
    next_cursor: NextCursor


class ArventoSettingsOut(Out):
    """GET/PUT /tenants/{id}/integrations/arvento: the login as stored, never the password."""

    provider: Literal["arvento"]
    configured: Literal[True]
    username: str
    secrets_set: list[Literal["password"]] = Field(description="which secrets are set (not what they are)")


class ArventoChecked(Out):
    """POST /tenants/{id}/integrations/arvento/test."""

    provider: Literal["arvento"]
    ok: Literal[True]
