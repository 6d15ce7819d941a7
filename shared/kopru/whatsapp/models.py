"""Request bodies of the WhatsApp routes and the provider settings."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TEXT_MAX = 4096  # Meta: text.body


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TextIn(Strict):
    body: str = Field(min_length=1, max_length=TEXT_MAX)
    preview_url: bool = False

    @field_validator("body")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("whatsapp.content_invalid")
        return v


class TemplateIn(Strict):
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$",
                      description="an approved template's name (Meta: lowercase letters, digits and _)")
    language: str = Field(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$",
                          description="its language code, e.g. tr or en_US")
    parameters: list[str] = Field(default_factory=list, max_length=20,
                                  description="the body's {{1}}, {{2}}... in order")

    @field_validator("parameters")
    @classmethod
    def _params(cls, v: list[str]) -> list[str]:
        if any(not p.strip() or len(p) > 1024 for p in v):
            raise ValueError("whatsapp.content_invalid")
        return v


class WhatsAppIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": [
        {"to": "0532 123 45 67", "category": "transactional",
         "template": {"name": "siparis_kargoda", "language": "tr", "parameters": ["1234"]}},
        {"to": "+905321234567", "category": "transactional", "text": {"body": "Siparişiniz yola çıktı."}}]})

    to: str = Field(min_length=3, max_length=32, description="the recipient's number (any common form; E.164 abroad)")
    category: Literal["transactional", "commercial"] = Field(
        description="commercial (marketing) needs the recipient's active İYS MESAJ consent, as a commercial SMS does")
    text: Optional[TextIn] = Field(default=None, description="free-form text: only within 24 hours of the "
                                                             "customer's last message (else 422 whatsapp.window_closed)")
    template: Optional[TemplateIn] = Field(default=None, description="an approved template: any time")

    @model_validator(mode="after")
    def _one(self):
        if (self.text is None) == (self.template is None):
            raise ValueError("whatsapp.content_invalid")
        return self


class WhatsAppSettingsIn(Strict):
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$", description="the business phone number's id at Meta")
    # sent as a Bearer token: visible ASCII only (anything else cannot be a header value)
    access_token: str = Field(min_length=8, max_length=1024, pattern=r"^[\x21-\x7e]+$",
                              description="a system user's access token (sealed)")
    app_secret: str = Field(min_length=8, max_length=256, description="the Meta app's secret: webhooks are "
                                                                       "verified with it (sealed)")
    verify_token: str = Field(min_length=8, max_length=256, pattern=r"^[\x21-\x7e]+$",
                              description="what Meta's verification request must carry (sealed)")


# -- answers (what the whatsapp routes answer; kopru.answers) ---------------------------------

from datetime import datetime as _datetime  # noqa: E402
from uuid import UUID as _UUID  # noqa: E402

from kopru.answers import Out, Words  # noqa: E402

MessageStatus = Literal["queued", "sending", "sent", "delivered", "read", "failed", "unknown"]


class WhatsAppAccepted(Out):
    """POST /whatsapp/messages (202): the message kept, sent on kopru.whatsapp.requested.v1.
    A repeat with the same Idempotency-Key answers the same."""

    id: _UUID
    status: Literal["queued"]
    kind: Literal["text", "template"]
    category: Literal["transactional", "commercial"]


class StatusStep(Out):
    status: MessageStatus
    code: Optional[str] = Field(description="why (an error code; whatsapp.proven_by_status when a status webhook "
                                            "proved a send whose answer was lost)")
    at: _datetime


class WhatsAppOut(Out):
    """GET /whatsapp/messages/{id}: status and history; the recipient and the content are not shown."""

    id: _UUID
    kind: Literal["text", "template"]
    category: Literal["transactional", "commercial"]
    template: Optional[str] = Field(description="the template's name (kind template)")
    status: MessageStatus
    error_code: Optional[str]
    error: Optional[Words]
    wamid: Optional[str] = Field(description="Meta's message id, once known")
    created_at: _datetime
    history: list[StatusStep]


class WebhookCounts(Out):
    """POST /whatsapp/webhooks/{tenant}/{sig}: what the notification held, counted."""

    applied: int = Field(ge=0, description="statuses that moved a message on")
    repeated: int = Field(ge=0, description="statuses seen before or behind the message's current one, "
                                              "inbound messages seen before")
    unknown: int = Field(ge=0, description="statuses of no message of ours")
    received: int = Field(ge=0, description="inbound messages announced (kopru.whatsapp.received.v1)")
    other_number: int = Field(ge=0, description="statuses and messages of another phone number")
    invalid: int = Field(ge=0, description="inbound messages that could not be read")


class WhatsAppSettingsOut(Out):
    """GET /tenants/{id}/integrations/whatsapp: the settings as stored, never the secrets."""

    provider: Literal["whatsapp"]
    configured: Literal[True]
    phone_number_id: str
    secrets_set: list[Literal["access_token", "app_secret", "verify_token"]] = Field(
        description="which secrets are set (not what they are)")
    webhook_url: str = Field(description="the callback URL to set in the Meta app's WhatsApp webhook configuration")


class _Phone(Out):
    """What Meta says of the business phone number (each null when Meta does not say)."""

    display_phone_number: Optional[str] = Field(description="as Meta shows it")
    verified_name: Optional[str]
    quality_rating: Optional[str] = Field(description="Meta's quality rating (GREEN, YELLOW, RED...)")


class WhatsAppSettingsSaved(_Phone, WhatsAppSettingsOut):
    """PUT /tenants/{id}/integrations/whatsapp: as a read, with what Meta says of the number."""


class WhatsAppChecked(_Phone):
    """POST /tenants/{id}/integrations/whatsapp/test."""

    provider: Literal["whatsapp"]
    ok: Literal[True]
