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
