"""Request bodies of the calls routes, the Bulutfon settings, and Bulutfon's webhook
payload as its documents give it (github.com/bulutfon/documents, WEBHOOKS/README.md)."""

from __future__ import annotations

import re
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

_LINE = re.compile(r"[0-9]{3,15}")
_DESTINATION = re.compile(r"[0-9]{2,4}")  # menu XX, group XXX, extension XXXX (call-and-bridge.md)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BulutfonSettingsIn(Strict):
    """PUT /tenants/{id}/integrations/bulutfon. `api_key`: the panel's "Tekil Api
    Anahtarı"; `line`: the tenant's Bulutfon number click-to-call calls from (digits, as
    Bulutfon writes it: 908508850000); `webhook_username`/`webhook_password`: the HTTP
    Basic credentials the tenant enters in the panel's webhook form (Köprü refuses a
    webhook without them)."""

    api_key: str = Field(min_length=8, max_length=256)
    line: str = Field(min_length=3, max_length=15, description="the tenant's Bulutfon number, digits")
    webhook_username: str = Field(min_length=1, max_length=100)
    webhook_password: str = Field(min_length=16, max_length=200)

    @field_validator("line")
    @classmethod
    def _line(cls, v: str) -> str:
        if not _LINE.fullmatch(v.lstrip("+")):
            raise ValueError("calls.line_invalid")
        return v.lstrip("+")

    @field_validator("webhook_username")
    @classmethod
    def _user(cls, v: str) -> str:
        if ":" in v:  # HTTP Basic cannot carry it
            raise ValueError("request.validation_failed")
        return v


class BridgeIn(Strict):
    """POST /calls/bridges: call `callee` from the tenant's Bulutfon number and bridge the
    call to `destination` once it is answered."""

    callee: str = Field(min_length=3, max_length=32, description="the number to call (any common Turkish form)")
    destination: str = Field(description="menu (2 digits), group (3) or extension (4) to bridge the call to")

    @field_validator("destination")
    @classmethod
    def _destination(cls, v: str) -> str:
        if not _DESTINATION.fullmatch(v):
            raise ValueError("calls.destination_invalid")
        return v


EVENT_TYPES = ("call_init", "call_hangup", "missing_call")


class BulutfonWebhook(BaseModel):
    """One webhook as Bulutfon posts it (JSON, or the same keys as form fields). Numbers
    come as JSON integers (or strings in a form); unknown keys are kept out."""

    model_config = ConfigDict(extra="ignore")

    event_type: str = Field(min_length=1, max_length=40)
    uuid: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$")
    caller: Optional[str] = None
    callee: Optional[str] = None
    direction: Optional[str] = Field(default=None, max_length=8)
    timestamp: Optional[int] = Field(default=None, ge=0)
    talk_duration: Optional[int] = Field(default=None, ge=0, le=10**7)
    hangup_cause: Optional[str] = Field(default=None, max_length=64)
    hangup_detail: Optional[str] = Field(default=None, max_length=64)
    result_disposition: Optional[str] = Field(default=None, max_length=32)
    domain_id: Optional[int] = None
    account_id: Optional[int] = None

    @field_validator("caller", "callee", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        from kopru.connectors.bulutfon import digits

        if v is None or v == "":
            return None
        d = digits(v)
        if d is None:
            raise ValueError("calls.webhook_invalid")
        return d

    @field_validator("timestamp", "talk_duration", "domain_id", "account_id", mode="before")
    @classmethod
    def _int(cls, v: Any) -> Any:
        if v == "" or v is None:
            return None
        if isinstance(v, str) and v.strip().isdigit():
            return int(v)
        return v

    @field_validator("direction")
    @classmethod
    def _direction(cls, v: Optional[str]) -> Optional[str]:
        if v is None or v == "":
            return None
        if v.upper() not in ("IN", "OUT", "LOCAL"):
            raise ValueError("calls.webhook_invalid")
        return v.upper()
