"""Request bodies of the credit-report routes and the partner settings (imported by the
handlers and kopru.providers when needed). Domain rules raise ValueError("<catalog code>");
a rejected value is never echoed (it may be a TCKN)."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

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
    # sent in the Authorization header: visible ASCII only (anything else cannot be a header value)
    api_key: str = Field(min_length=8, max_length=256, pattern=r"^[\x21-\x7e]+$", description="secret; never returned")


# -- answers (what the credit-report routes answer; kopru.answers) -----------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Any, Union  # noqa: E402
from uuid import UUID as _Id  # noqa: E402 (not _UUID: that is the consent_id pattern above)

from kopru.answers import NextCursor, Out, Words  # noqa: E402

CreditStatus = Literal["requested", "obtained", "failed", "unknown"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class CreditRequested(Out):
    """POST /credit-reports (202): the request recorded; the partner is asked on
    kopru.credit.requested.v1. A repeat with the same Idempotency-Key answers the same."""

    id: _Id
    status: Literal["requested"]
    subject_id: _Id
    consent_id: _Id
    source: Literal["partner"]


class CreditUploaded(Out):
    """POST /credit-reports/uploads (201): the Findeks PDF kept under the subject key."""

    id: _Id
    status: Literal["obtained"]
    subject_id: _Id
    consent_id: _Id
    source: Literal["upload"]
    pages: int = Field(ge=1)
    bytes: int = Field(ge=1)


class CreditConsentOut(Out):
    """The credit_report consent a report rests on, as copied onto it when asked."""

    id: _Id
    granted_at: _datetime
    text_sha256: Sha256


class FindeksPdfFacts(Out):
    """An uploaded report's content: what Köprü read from the PDF (the PDF itself is
    GET /credit-reports/{id}/document)."""

    kind: Literal["findeks_pdf"]
    pages: int = Field(ge=1)
    bytes: int = Field(ge=1)
    sha256: Sha256
    pdf_version: str
    findeks_mentioned: bool = Field(description="its first pages name Findeks or KKB")


# the partner's report as it sent it: its own document (docs/credit-reports.md), so open
PartnerReport = Annotated[dict[str, Any], Field(
    description="the partner's report as it sent it (kopru.connectors.credit_partner: score, cheque report, "
                "credit summary...)",
    json_schema_extra={"required": ["report_id", "client_reference"],
                       "properties": {"report_id": {"type": "string"}, "client_reference": {"type": "string"}}})]


class CreditReportOut(Out):
    """GET /credit-reports/{id}: status, the consent it rests on, and the report while it
    is kept (null once cleared: consent withdrawn, subject erased, retention)."""

    id: _Id
    status: CreditStatus
    source: Literal["partner", "upload"]
    provider: Literal["credit-partner", "upload"]
    scheme: Literal["TCKN", "VKN"]
    number: Optional[str] = Field(pattern=r"^[0-9]{2}\*+[0-9]{2}$",
                                  description="the TCKN/VKN asked about, masked; null once cleared")
    subject_id: _Id
    consent: CreditConsentOut
    requested_at: _datetime
    obtained_at: Optional[_datetime]
    partner_report_id: Optional[str]
    error: Optional[Words]
    report: Optional[Union[FindeksPdfFacts, PartnerReport]] = Field(
        description="an upload's facts (source upload) or the partner's report (source partner); null when none "
                    "is kept")
    document: bool = Field(description="the uploaded PDF is kept (GET /credit-reports/{id}/document)")
    content_gone: bool = Field(description="obtained, but its content is no longer kept")


class CreditReportSummary(Out):
    """One report in GET /credit-reports: the fact of it (what the legal hold keeps, plus its id,
    subject and outcome), never its content: no report, no PDF, no identity number (masked or
    not), no partner report id. The report itself is GET /credit-reports/{id}."""

    id: _Id
    status: CreditStatus
    source: Literal["partner", "upload"]
    provider: Literal["credit-partner", "upload"]
    scheme: Literal["TCKN", "VKN"]
    subject_id: _Id
    consent: CreditConsentOut
    requested_at: _datetime
    obtained_at: Optional[_datetime]
    error: Optional[Words]
    content_gone: bool = Field(description="obtained, but its content is no longer kept")


class CreditReportsPage(Out):
    """GET /credit-reports (kopru.pages): newest request first."""

    credit_reports: list[CreditReportSummary]
    next_cursor: NextCursor


class CreditPartnerSettingsOut(Out):
    """GET/PUT /tenants/{id}/integrations/credit-partner: the account as stored, never the key."""

    provider: Literal["credit-partner"]
    configured: Literal[True]
    customer_code: str
    secrets_set: list[Literal["api_key"]] = Field(description="which secrets are set (not what they are)")


class CreditPartnerChecked(Out):
    """POST /tenants/{id}/integrations/credit-partner/test."""

    provider: Literal["credit-partner"]
    ok: Literal[True]
