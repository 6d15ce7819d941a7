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


# -- answers (what the calls routes answer; kopru.answers) ------------------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Literal, Union  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import NextCursor, Out, Words, absent  # noqa: E402

Direction = Literal["IN", "OUT", "LOCAL"]
BridgeStatus = Literal["queued", "placing", "placed", "failed", "unknown"]
# a call-flow value as kept (kopru.calls.service._flow): a menu, group or extension (at most 6
# digits), a short word or time, a flag; null where Bulutfon gave a number or anything longer
FlowValue = Optional[Union[bool, int, str]]


class WebhookAccepted(Out):
    """POST /calls/webhooks/bulutfon: a call event applied (or seen before), or a webhook
    Köprü does not follow answered 200 unapplied."""

    accepted: bool = Field(description="false: not a call event Köprü follows (fax, a call reaching an extension...)")
    reason: str = absent("why it was not applied (accepted false)")
    call_id: _UUID = absent("the call record it made or completed (accepted true)")
    event: Literal["kopru.call.started.v1", "kopru.call.ended.v1", "kopru.call.missed.v1"] = absent(
        "the event it announces (accepted true)")
    repeated: bool = absent("the event was announced before: nothing announced again (accepted true)")


class BridgeOut(Out):
    """POST /calls/bridges (202) and GET /calls/bridges/{id}: a click-to-call request."""

    id: _UUID
    status: BridgeStatus
    line: str = Field(description="the tenant's Bulutfon number that calls (digits)")
    destination: str = Field(description="the menu, group or extension the call is bridged to")
    bulutfon_uuid: Optional[str] = Field(description="the call's CDR uuid, once known")
    error_code: Optional[str]
    error: Optional[Words]
    created_at: _datetime


class CallFlowHop(Out):
    """One hop of a call-flow step's origination (the same keys, each only when Bulutfon gave it)."""

    callee: FlowValue = absent("where the hop rang (numbers longer than 6 digits dropped)")
    start_time: FlowValue = absent("as Bulutfon gave it")
    answer_time: FlowValue = absent("as Bulutfon gave it")
    hangup_time: FlowValue = absent("as Bulutfon gave it")
    redirection: FlowValue = absent("as Bulutfon gave it")
    redirection_target: FlowValue = absent("as Bulutfon gave it")
    result: FlowValue = absent("as Bulutfon gave it")
    destination: FlowValue = absent("as Bulutfon gave it")


class CallFlowStep(CallFlowHop):
    """One step of a call's flow (Bulutfon's CDR detail): menus, groups, extensions, never a number."""

    origination: list[CallFlowHop] = absent("the step's origination, when Bulutfon gave one")


class CallOut(Out):
    """GET /calls/{id}: a call record. The numbers and the recording link are the outside
    party's personal data: null once that person was erased (or when there is none)."""

    id: _UUID
    bulutfon_uuid: str
    direction: Optional[Direction]
    subject_id: Optional[_UUID] = Field(description="the outside party (the caller IN, the callee OUT); null for an "
                                                    "internal call or a withheld number")
    caller: Optional[str] = Field(description="digits as Bulutfon gave them")
    callee: Optional[str] = Field(description="digits as Bulutfon gave them")
    recording_url: Optional[str]
    call_time: Optional[_datetime]
    answer_time: Optional[_datetime]
    hangup_time: Optional[_datetime]
    missed: Optional[bool]
    talk_duration: Optional[int] = Field(description="seconds")
    hangup_cause: Optional[str]
    hangup_state: Optional[str]
    call_flow: Optional[list[CallFlowStep]] = Field(description="the CDR detail's steps, once synced")
    synced: bool = Field(description="seen in a CDR page (not only in webhooks)")


class CallsPage(Out):
    """GET /calls (kopru.pages): the tenant's call records, newest first, each as GET /calls/{id} shows it."""

    calls: list[CallOut]
    next_cursor: NextCursor


class BulutfonSettingsOut(Out):
    """GET/PUT /tenants/{id}/integrations/bulutfon: the settings as stored, never the secrets."""

    provider: Literal["bulutfon"]
    configured: Literal[True]
    line: str = Field(description="the tenant's Bulutfon number, digits")
    webhook_username: str
    secrets_set: list[Literal["api_key", "webhook_password"]] = Field(description="which secrets are set (not what "
                                                                                  "they are)")
    webhook_url: str = Field(description="the webhook URL to enter in Bulutfon's panel, with these HTTP Basic "
                                         "credentials")


class BulutfonChecked(Out):
    """POST /tenants/{id}/integrations/bulutfon/test."""

    provider: Literal["bulutfon"]
    ok: Literal[True]
