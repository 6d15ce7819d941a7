"""Request bodies of the credit-report routes and the partner settings (imported by the
handlers and kopru.providers when needed). Domain rules raise ValueError("<catalog code>");
a rejected value is never echoed (it may be a TCKN)."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from kopru.kvkk.models import Strict, SubjectRefIn

MAX_PDF_BYTES = 4 * 1024 * 1024
_B64_MAX = (MAX_PDF_BYTES * 4) // 3 + 8
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class CreditRequestIn(Strict):
    """Whose report (a TCKN: a person; a VKN: a business, e.g. a sole trader's) and on
    whose consent: the person the TCKN names, or for a VKN the `subject` (the owner or
    authorised person who gave the consent). `consent_id` picks one consent; without it
    the newest active credit_report consent of the subject is used."""

    scheme: Literal["TCKN", "VKN"]
    number: str = Field(min_length=10, max_length=11, description="the TCKN (11 digits) or VKN (10 digits)")
    subject: Optional[SubjectRefIn] = Field(default=None, description="who consented (required with a VKN)")
    consent_id: Optional[str] = Field(default=None, max_length=36)

    @field_validator("consent_id")
    @classmethod
    def _consent(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _UUID.match(v):
            raise ValueError("not a UUID")
        return v

    @model_validator(mode="after")
    def _identity(self):
        from kopru.tenancy.identifiers import tckn_valid, vkn_valid

        ok = tckn_valid(self.number) if self.scheme == "TCKN" else vkn_valid(self.number)
        if not ok:
            raise ValueError("credit.identity_invalid")
        if self.scheme == "VKN" and self.subject is None:
            raise ValueError("credit.subject_required")
        return self


class CreditUploadIn(CreditRequestIn):
    """The Findeks PDF the counterparty shared, base64 (at most 4 MiB decoded)."""

    pdf_base64: str = Field(min_length=8, description="the PDF, base64 (RFC 4648)",
                            json_schema_extra={"maxLength": _B64_MAX})

    @field_validator("pdf_base64")
    @classmethod
    def _size(cls, v: str) -> str:
        if len(v) > _B64_MAX:
            raise ValueError("credit.pdf_too_large")  # its own code and 413, not a generic "too long"
        return v


class CreditPartnerSettingsIn(Strict):
    """The tenant's account at the KKB-member partner (kopru.providers `credit_partner`).
    The partner itself is the deployment's (CREDIT_PARTNER_BASE_URL): a URL a tenant names
    would be a request from inside the cluster on the tenant's word."""

    customer_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                               description="the tenant's customer code at the partner")
    api_key: str = Field(min_length=8, max_length=256, description="secret; never returned")
