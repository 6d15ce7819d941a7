"""Request bodies of the webhooks function."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _types(v: list[str]) -> list[str]:
    from kopru.webhooks.types import deliverable_types

    known = deliverable_types()
    if not v or len(set(v)) != len(v) or any(t not in known for t in v):
        raise ValueError("webhook.event_type_unknown")
    return sorted(v)


def _types_schema(schema: dict[str, Any]) -> None:
    """The types an endpoint may take, as the document's enum (the catalog's word)."""
    from kopru.webhooks.types import deliverable_types

    enum = {"type": "string", "enum": sorted(deliverable_types())}
    for alt in [schema, *schema.get("anyOf", [])]:  # Optional[list[str]]: anyOf [array, null]
        if alt.get("type") == "array":
            alt.update(items=enum, uniqueItems=True)  # a type named twice is refused


def _url(v: str) -> str:
    from kopru.errors import KopruError
    from kopru.webhooks.guard import check_url

    try:
        check_url(v)
    except KopruError as err:
        raise ValueError(err.code) from None
    return v


def _filter(v):
    if v is None:
        return None
    from kopru.errors import KopruError
    from kopru.events.filters import validate

    try:
        return validate(v)
    except KopruError:
        raise ValueError("webhook.filter_invalid") from None


def _personal(personal_data: bool | None, purpose: str | None, types: list[str] | None) -> None:
    from kopru.webhooks.types import check_personal

    check_personal(personal_data, purpose, types)


class EndpointIn(_Base):
    url: str = Field(min_length=8, max_length=2048, json_schema_extra={"format": "uri"},
                     description="https URL of the receiver (http only where private addresses are allowed: "
                                 "kopru dev)")
    event_types: list[str] = Field(min_length=1, max_length=100, json_schema_extra=_types_schema,
                                   description="catalog event types to deliver, each named ('*' is not accepted)")
    description: str = Field(default="", max_length=500)
    filter: Optional[list[dict[str, Any]]] = Field(
        default=None, max_length=20,
        description="CloudEvents Subscriptions API filters (exact, prefix, suffix, all, any, not) over type, "
                    "source, subject, id and data.<field>")
    personal_data: bool = Field(default=False, description="the receiver gets personal data (ids that name a "
                                                            "data subject): a disclosure under KVKK")
    purpose: Optional[str] = Field(default=None, min_length=3, max_length=500,
                                   description="why the receiver gets personal data (required with personal_data)")

    @field_validator("event_types")
    @classmethod
    def _v_types(cls, v):
        return _types(v)

    @field_validator("url")
    @classmethod
    def _v_url(cls, v):
        return _url(v)

    @field_validator("filter")
    @classmethod
    def _v_filter(cls, v):
        return _filter(v)

    @model_validator(mode="after")
    def _rules(self):
        _personal(self.personal_data, self.purpose, self.event_types)
        return self


class EndpointPatch(_Base):
    url: Optional[str] = Field(default=None, min_length=8, max_length=2048)
    event_types: Optional[list[str]] = Field(default=None, min_length=1, max_length=100,
                                             json_schema_extra=_types_schema)
    description: Optional[str] = Field(default=None, max_length=500)
    filter: Optional[list[dict[str, Any]]] = Field(default=None, max_length=20,
                                                   description="[] removes the filter")
    personal_data: Optional[bool] = None
    purpose: Optional[str] = Field(default=None, min_length=3, max_length=500)
    enabled: Optional[bool] = Field(default=None, description="false disables the endpoint, true enables it again")

    @field_validator("event_types")
    @classmethod
    def _v_types(cls, v):
        return None if v is None else _types(v)

    @field_validator("url")
    @classmethod
    def _v_url(cls, v):
        return None if v is None else _url(v)

    @field_validator("filter")
    @classmethod
    def _v_filter(cls, v):
        return _filter(v)


# -- answers (what the webhooks routes answer; kopru.answers) -------------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Literal  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import NextCursor, Out, Words, absent  # noqa: E402


def _deliverable() -> tuple[str, ...]:
    from kopru.webhooks.types import deliverable_types

    return tuple(sorted(deliverable_types()))


EventType = Literal[_deliverable()]  # type: ignore[valid-type]


class EndpointOut(Out):
    """A webhook endpoint as the tenant sees it: never its secret."""

    id: _UUID
    url: str
    description: str
    event_types: list[EventType]
    filter: Optional[list[dict[str, Any]]]
    personal_data: bool
    purpose: Optional[str]
    enabled: bool
    disabled_reason: Optional[str]
    failing_since: Optional[_datetime] = Field(description="since when every delivery failed (disabled after 5 days)")
    previous_secret_until: Optional[_datetime] = Field(description="after a rotation: until when the old secret "
                                                                   "also signs")
    created_at: _datetime
    updated_at: _datetime


class EndpointCreated(EndpointOut):
    """POST /webhooks/endpoints (201): the signing secret, shown once."""

    secret: Optional[str] = Field(pattern=r"^whsec_[A-Za-z0-9+/=]+$", description="the signing secret; null on a "
                                                                                   "repeat with the same Idempotency-Key")


class EndpointRotated(EndpointOut):
    """POST /webhooks/endpoints/{id}/rotate: the new signing secret, shown once."""

    secret: str = Field(pattern=r"^whsec_[A-Za-z0-9+/=]+$")


class EndpointsPage(Out):
    """GET /webhooks/endpoints (kopru.pages)."""

    endpoints: list[EndpointOut]
    next_cursor: NextCursor


class DeliveryOut(Out):
    """One delivery of one event to one endpoint (the log; a replay answers it, 202)."""

    id: _UUID
    endpoint_id: Optional[_UUID] = Field(description="null once the endpoint was deleted")
    event_type: EventType
    event_id: str
    webhook_id: str = Field(description="the webhook-id header, the same on every attempt and replay")
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    replays: int
    last_status: Optional[int] = Field(description="the receiver's last HTTP status")
    last_code: Optional[str]
    last_error: Optional[Words]
    last_duration_ms: Optional[int]
    next_attempt_at: Optional[_datetime]
    first_attempt_at: Optional[_datetime]
    last_attempt_at: Optional[_datetime]
    delivered_at: Optional[_datetime]
    created_at: _datetime
    personal_data: bool
    payload: Optional[dict[str, Any]] = Field(description="the body sent; null once the subject was erased")


class DeliveriesPage(Out):
    """GET /webhooks/endpoints/{id}/deliveries: newest first (kopru.pages)."""

    deliveries: list[DeliveryOut]
    next_cursor: NextCursor


class ReplayedSince(Out):
    """POST /webhooks/endpoints/{id}/replay (202): how many deliveries are owed again."""

    endpoint_id: _UUID
    since: _datetime
    replayed: int = Field(ge=0)
