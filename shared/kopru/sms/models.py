"""Request bodies of the SMS routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


# The scheduling horizon. Netgsm's documents give none; a year ahead covers every
# reminder an SME schedules, and a time a minute past (clock skew) still sends now.
SCHEDULE_HORIZON_DAYS = 365
SCHEDULE_PAST_SECONDS = 60


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SmsIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": [
        {"to": "0532 123 45 67", "message": "Siparişiniz yola çıktı.", "kind": "transactional"}]})

    to: Union[str, list[str]] = Field(description="one number or up to 50; any common Turkish form")
    message: str = Field(min_length=1, max_length=2000)
    kind: Literal["otp", "transactional", "commercial"]
    recipient_type: Optional[Literal["BIREYSEL", "TACIR"]] = None
    scheduled_at: Optional[datetime] = Field(
        default=None,
        description="send later: an RFC 3339 date-time with its offset (e.g. 2026-11-20T09:30:00+03:00), at most "
                    f"{SCHEDULE_PAST_SECONDS} seconds in the past and at most {SCHEDULE_HORIZON_DAYS} days ahead; "
                    "otherwise 422 sms.scheduled_at_out_of_range. Not allowed for kind otp")

    @field_validator("to")
    @classmethod
    def _to(cls, v):
        items = [v] if isinstance(v, str) else v
        if not 1 <= len(items) <= 50 or any(not isinstance(x, str) or len(x) > 32 for x in items):
            raise ValueError("sms.invalid_number")
        return v

    @field_validator("scheduled_at")
    @classmethod
    def _horizon(cls, v: Optional[datetime]) -> Optional[datetime]:
        if v is None:
            return v
        from datetime import timedelta, timezone

        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("sms.scheduled_at_out_of_range")
        now = datetime.now(timezone.utc)
        try:
            at = v.astimezone(timezone.utc)
        except OverflowError:  # 9999-12-31T23:59+...: past what a datetime holds in UTC
            raise ValueError("sms.scheduled_at_out_of_range") from None
        if not now - timedelta(seconds=SCHEDULE_PAST_SECONDS) <= at <= now + timedelta(days=SCHEDULE_HORIZON_DAYS):
            raise ValueError("sms.scheduled_at_out_of_range")
        return v

    @field_validator("message")
    @classmethod
    def _fits(cls, v: str) -> str:
        import unicodedata

        from kopru.sms.encoding import MessageTooLong, estimate

        try:
            estimate(unicodedata.normalize("NFC", v))
        except MessageTooLong:
            raise ValueError("sms.message_too_long") from None
        return v

    @model_validator(mode="after")
    def _kind_rules(self):
        if self.kind == "commercial" and self.recipient_type is None:
            raise ValueError("sms.recipient_type_required")
        if self.kind == "otp":
            import unicodedata

            from kopru.sms.encoding import estimate

            est = estimate(unicodedata.normalize("NFC", self.message))
            # Netgsm's OTP service: one SMS, GSM 7-bit, no Turkish letters, not schedulable
            if est.encoding != "GSM7" or est.segments != 1 or self.scheduled_at is not None:
                raise ValueError("sms.otp_invalid")
        return self


class EstimateIn(Strict):
    message: str = Field(min_length=1, max_length=5000)


class NetgsmSettingsIn(Strict):
    usercode: str = Field(min_length=3, max_length=32)
    password: str = Field(min_length=1, max_length=128)
    msgheader: str = Field(min_length=1, max_length=11)
    appkey: Optional[str] = Field(default=None, max_length=128)


# -- answers (what the sms routes answer; kopru.answers) -------------------------------------

from datetime import datetime as _datetime  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import Out, Words, absent  # noqa: E402

SmsEncoding = Literal["GSM7", "GSM7_TR", "UCS2"]
SmsStatus = Literal["queued", "sending", "sent", "delivered", "failed", "unknown"]


class SmsEstimate(Out):
    """POST /sms/estimate: what the message would use."""

    encoding: SmsEncoding
    segments: int = Field(ge=1)
    characters: int = Field(ge=0, description="characters as counted for the encoding (GSM 7-bit units or UTF-16)")
    per_segment: int = Field(ge=1, description="capacity of one segment")
    netgsm_encoding: Literal["", "TR"] = Field(description="Netgsm's encoding field (\"\" sent empty)")


class SmsAccepted(SmsEstimate):
    """POST /sms (202): one message per number, all queued; `id` is the first."""

    id: _UUID
    ids: list[_UUID] = Field(min_length=1)
    status: Literal["queued"]
    replayed: bool = absent("present (true) when the Idempotency-Key was seen before: "
                                                      "the first answer again")


class SmsHistoryEntry(Out):
    status: SmsStatus
    code: Optional[str]
    at: _datetime


class SmsOut(Out):
    """GET /sms/{id}: a message's status and history (never its text or number)."""

    id: _UUID
    kind: Literal["otp", "transactional", "commercial"]
    status: SmsStatus
    error_code: Optional[str]
    error: Optional[Words]
    encoding: SmsEncoding
    segments: int
    characters: int
    netgsm_jobid: Optional[str]
    created_at: _datetime
    history: list[SmsHistoryEntry]


class ReportsTaken(Out):
    """POST /sms/reports: how the pushed reports were applied."""

    delivered: int = Field(ge=0)
    failed: int = Field(ge=0)
    pending: int = Field(ge=0)
    unknown: int = Field(ge=0, description="jobids of no message of the tenant's")
    repeated: int = Field(ge=0, description="reports of messages already delivered or failed")


class NetgsmSettingsOut(Out):
    """GET /tenants/{id}/integrations/netgsm: the settings as stored, never the secrets."""

    provider: Literal["netgsm"]
    configured: Literal[True]
    usercode: str
    msgheader: str
    secrets_set: list[Literal["appkey", "password"]] = Field(description="which secrets are set (not what they are)")
    report_url: str = Field(description="the delivery-report push URL to set in Netgsm's panel")


class NetgsmSettingsSaved(NetgsmSettingsOut):
    """PUT /tenants/{id}/integrations/netgsm: as a read, with the sender names the check found."""

    msgheaders: list[str] = Field(description="the account's registered sender names")


class NetgsmChecked(Out):
    """POST /tenants/{id}/integrations/netgsm/test."""

    provider: Literal["netgsm"]
    ok: Literal[True]
    msgheaders: list[str]
