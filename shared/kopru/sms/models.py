"""Request bodies of the SMS routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SmsIn(Strict):
    to: Union[str, list[str]] = Field(description="one number or up to 50; any common Turkish form")
    message: str = Field(min_length=1, max_length=2000)
    kind: Literal["otp", "transactional", "commercial"]
    recipient_type: Optional[Literal["BIREYSEL", "TACIR"]] = None
    scheduled_at: Optional[datetime] = None

    @field_validator("to")
    @classmethod
    def _to(cls, v):
        items = [v] if isinstance(v, str) else v
        if not 1 <= len(items) <= 50 or any(not isinstance(x, str) or len(x) > 32 for x in items):
            raise ValueError("sms.invalid_number")
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
