"""Request bodies of the consent routes (imported by the handlers that need them).

Domain rules raise ValueError("<catalog code>") so the caller gets that rule's own
code; the rejected value is never echoed (it may be personal data)."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kopru.kvkk.identifiers import InvalidIdentifier, normalise_email, normalise_phone, normalise_tckn
from kopru.kvkk.vocabulary import (
    ALL_CATEGORIES, CONSENT_BASES, LEGAL_BASES, PURPOSES, SPECIAL_BASES, SPECIAL_CATEGORIES,
)

Channel = Literal["web", "mobile", "call_center", "in_person", "email", "sms"]
IysType = Literal["MESAJ", "ARAMA", "EPOSTA"]
IysRecipientType = Literal["BIREYSEL", "TACIR"]
IysSource = Literal[
    "HS_FIZIKSEL_ORTAM", "HS_ISLAK_IMZA", "HS_WEB", "HS_CAGRI_MERKEZI", "HS_SOSYAL_MEDYA", "HS_EPOSTA",
    "HS_MESAJ", "HS_MOBIL", "HS_EORTAM", "HS_ETKINLIK", "HS_2015", "HS_ATM", "HS_KARAR",
]

# "marketing,analytics", "marketing and analytics", "pazarlama ve analiz", "a+b", "a/b"…
_JOINED = re.compile(r"\s*(?:[,;/&+|]|\band\b|\bve\b|\bile\b)\s*", re.IGNORECASE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubjectIn(Strict):
    """Who the consent is from: at least one of phone, e-mail, TCKN (normalised here)."""

    phone: Optional[str] = Field(default=None, max_length=32, description="any Turkish form or E.164")
    email: Optional[str] = Field(default=None, max_length=254)
    tckn: Optional[str] = Field(default=None, max_length=11)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _norm(normalise_phone, v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _norm(normalise_email, v)

    @field_validator("tckn")
    @classmethod
    def _tckn(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _norm(normalise_tckn, v)

    @model_validator(mode="after")
    def _one(self) -> "SubjectIn":
        if self.phone is None and self.email is None and self.tckn is None:
            raise ValueError("subject.identifier_missing")
        return self


def _norm(fn, v: str) -> str:
    try:
        return fn(v)
    except InvalidIdentifier as exc:
        raise ValueError(exc.code) from None


class IysIn(Strict):
    type: IysType
    recipient_type: IysRecipientType
    source: IysSource


class ConsentIn(Strict):
    """One consent for one purpose. `legal_basis` names map to KVKK articles: see
    kopru.kvkk.vocabulary.LEGAL_BASES (explicit_consent = Art. 5(1); contract = Art.
    5(2)(c); special_* = Art. 6(3) for special categories)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": [
        {"subject": {"phone": "0532 123 45 67"}, "purpose": "marketing", "legal_basis": "explicit_consent",
         "data_categories": ["contact"], "channel": "web",
         "consent_text": "Kampanyalardan SMS ile haberdar olmak istiyorum.", "retention_days": 365}]})

    subject: SubjectIn
    # the allowed values as JSON Schema enums (OpenAPI), checked by the validators below,
    # which answer with the domain's own codes (consent.purpose_unknown, ...)
    purpose: str = Field(max_length=200, json_schema_extra={"enum": list(PURPOSES)})
    legal_basis: str = Field(max_length=64, json_schema_extra={"enum": list(LEGAL_BASES)})
    data_categories: list[str] = Field(min_length=1, max_length=len(ALL_CATEGORIES),
                                       json_schema_extra={"items": {"type": "string", "enum": list(ALL_CATEGORIES)}})
    channel: Channel
    consent_text: str = Field(min_length=1, max_length=20_000, description="the exact text shown")
    retention_days: int = Field(ge=1, le=3650)
    iys: Optional[IysIn] = None

    @model_validator(mode="before")
    @classmethod
    def _not_bundled(cls, data):
        # several purposes in one request: an array of consents, a "purposes" list,
        # or a list given as the purpose
        if isinstance(data, list) and len(data) > 1:
            raise ValueError("consent.bundled")
        if isinstance(data, dict) and ("purposes" in data or isinstance(data.get("purpose"), list)):
            raise ValueError("consent.bundled")
        return data

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, v: str) -> str:
        if v in PURPOSES:
            return v
        if len([p for p in _JOINED.split(v.strip()) if p]) > 1:
            raise ValueError("consent.bundled")
        raise ValueError("consent.purpose_unknown")

    @field_validator("legal_basis")
    @classmethod
    def _basis(cls, v: str) -> str:
        if v not in LEGAL_BASES:
            raise ValueError("consent.legal_basis_unknown")
        return v

    @field_validator("data_categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        if any(c not in ALL_CATEGORIES for c in v):
            raise ValueError("consent.data_category_unknown")
        return sorted(set(v))

    @field_validator("consent_text")
    @classmethod
    def _text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("consent.text_missing")
        return v  # stored exactly as shown: its SHA-256 is the version

    @model_validator(mode="after")
    def _coherent(self) -> "ConsentIn":
        special = any(c in SPECIAL_CATEGORIES for c in self.data_categories)
        if special and self.legal_basis not in SPECIAL_BASES:
            raise ValueError("consent.special_category_basis")
        if self.iys is not None:
            if self.legal_basis not in CONSENT_BASES:
                raise ValueError("consent.iys_requires_consent")
            needs = "email" if self.iys.type == "EPOSTA" else "phone"
            if getattr(self.subject, needs) is None:
                raise ValueError("consent.iys_address_missing")
        return self


class WithdrawIn(Strict):
    channel: Channel


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class SubjectRefIn(SubjectIn):
    """The subject an application is about: its id (every consent and SMS answer
    carries it; the only handle left once it is erased), or a phone, e-mail or TCKN."""

    id: Optional[str] = Field(default=None, max_length=36, description="the subject id")

    @field_validator("id")
    @classmethod
    def _id(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _UUID.match(v):
            raise ValueError("not a UUID")
        return v

    @model_validator(mode="after")
    def _one(self) -> "SubjectRefIn":
        if self.id is None and self.phone is None and self.email is None and self.tckn is None:
            raise ValueError("subject.identifier_missing")
        return self


class ApplicationIn(Strict):
    """A data subject's application (KVKK md. 11): the same `subject` object as a consent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": [
        {"subject": {"phone": "0532 123 45 67"}}]})

    subject: SubjectRefIn


# -- answers (what the consent and application routes answer; kopru.answers) ----------------

from datetime import date as _date, datetime as _datetime  # noqa: E402
from typing import Any as _Any  # noqa: E402
from uuid import UUID as _Uuid  # noqa: E402

from kopru.answers import NextCursor, Out  # noqa: E402

Purpose = Literal[tuple(PURPOSES)]  # type: ignore[valid-type]
LegalBasis = Literal[tuple(LEGAL_BASES)]  # type: ignore[valid-type]
Category = Literal[tuple(ALL_CATEGORIES)]  # type: ignore[valid-type]
Sha256 = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the exact text shown, hexadecimal")


class ConsentRecorded(Out):
    """POST /consents (201). Instants in Europe/Istanbul."""

    id: _Uuid
    subject_id: _Uuid
    purpose: Purpose
    legal_basis: LegalBasis
    text_sha256: str = Sha256
    granted_at: _datetime
    expires_at: _datetime


class ConsentWithdrawn(Out):
    """POST /consents/{id}/withdraw."""

    id: _Uuid
    status: Literal["withdrawn"]
    withdrawn_at: _datetime


class IysOut(Out):
    type: IysType
    recipient_type: IysRecipientType
    source: IysSource


class ConsentView(Out):
    id: _Uuid
    purpose: Purpose
    legal_basis: LegalBasis
    legal_basis_ref: str = Field(description="the KVKK article, e.g. KVKK md. 5(1)")
    data_categories: list[Category]
    channel: Channel
    iys: Optional[IysOut]
    text_sha256: str = Sha256
    retention_days: int
    granted_at: _datetime
    expires_at: _datetime
    withdrawn_at: Optional[_datetime]
    withdrawal_channel: Optional[Channel]
    status: Literal["active", "withdrawn", "expired"]


class ConsentEvent(Out):
    event: Literal["granted", "withdrawn"]
    consent_id: _Uuid
    purpose: Purpose
    channel: Optional[Channel]
    at: _datetime


class SubjectMasked(Out):
    id: _Uuid
    erased: bool
    phone: Optional[str] = Field(description="masked; null when not known or erased")
    email: Optional[str] = Field(description="masked")
    tckn: Optional[str] = Field(description="masked")


class ConsentHistory(Out):
    """GET /consents: the subject (identifiers masked), a page of its consents, the grants
    and withdrawals of those consents, oldest first."""

    subject: SubjectMasked
    consents: list[ConsentView]
    history: list[ConsentEvent]
    next_cursor: NextCursor


class ApplicationOpened(Out):
    """POST /exports, POST /erasures (202): the application, due within 30 days."""

    id: _Uuid
    kind: Literal["export", "erasure"]
    subject_id: _Uuid
    status: Literal["pending"]
    requested_at: _datetime
    due_at: _datetime
    due_date: _date


class _Application(Out):
    id: _Uuid
    subject_id: _Uuid
    requested_at: _datetime
    due_at: _datetime
    due_date: _date
    completed_at: Optional[_datetime]
    overdue: bool


class ExportOut(_Application):
    """GET /exports/{id}: its status and, when ready, a new short-lived link."""

    kind: Literal["export"]
    status: Literal["pending", "ready", "expired"]
    url: Optional[str] = Field(description="the document's link while ready")
    link_expires_at: Optional[_datetime]


class Cleared(Out):
    table: str
    columns: list[str]
    rows: int
    action: Literal["shredded", "cleared"]


class Kept(Out):
    table: str
    columns: list[str]
    rows: int
    hold: str
    law: str
    until: Optional[_datetime]
    reason: str


class ErasureDisclosure(Out):
    recipient: str
    records: int
    first: Optional[_datetime]
    last: Optional[_datetime]
    notified: bool
    how: str
    note: Optional[str]


class CopiesBound(Out):
    """Until when backups taken before the erasure may still open the subject's data."""

    backups_may_hold_key_until: Optional[_datetime]
    key_epoch: Optional[str]
    key_epoch_ends_at: Optional[_datetime]
    key_epoch_days: int
    backup_retention_days: int
    key_store: str
    key_store_deletion_window_days: Optional[int]
    pre_epoch_copies: bool
    periodic_destruction_days: int
    within_periodic_destruction: bool
    tr: str
    en: str


class ErasureReport(Out):
    subject_id: _Uuid
    completed_at: _datetime
    key_destroyed: bool
    consents_withdrawn: int
    cleared: list[Cleared]
    kept: list[Kept]
    third_parties: list[ErasureDisclosure]
    copies: CopiesBound


class ErasureOut(_Application):
    """GET /erasures/{id}: its status and, once completed, the report (no personal data)."""

    kind: Literal["erasure"]
    status: Literal["pending", "completed"]
    report: Optional[ErasureReport]


class Controller(Out):
    name: str
    verbis_no: Optional[str]


class ExportSubject(Out):
    id: _Uuid
    phone: Optional[str]
    email: Optional[str]
    tckn: Optional[str]
    erased: bool


class ExportDisclosure(Out):
    recipient: str
    purpose: str
    records: int
    first: Optional[_datetime]
    last: Optional[_datetime]
    source: str


class AuditEntry(Out):
    seq: int
    at: _datetime
    actor: str
    action: str
    target: Optional[str]


class RegisterEntry(Out):
    retention: str
    categories: list[str]
    legal_holds: list[str]


class ExportApplication(Out):
    id: _Uuid
    requested_at: _datetime
    due_at: _datetime


class ExportDocument(Out):
    """GET /exports/{id}/download: everything the tenant holds about the subject (KVKK md. 11)."""

    format: Literal["kopru.kvkk.export.v1"]
    application: ExportApplication
    controller: Controller
    subject: ExportSubject
    records: dict[str, list[dict[str, _Any]]] = Field(description="per table of the personal-data register, the "
                                                                 "subject's rows (columns as the register names them)")
    consent_texts: dict[str, str] = Field(description="the consent texts shown, by their SHA-256")
    third_parties: list[ExportDisclosure]
    audit: list[AuditEntry]
    register_: dict[str, RegisterEntry] = Field(alias="register", description="the personal-data register: per table, its retention, categories and legal holds")
    generated_at: _datetime
    summary_tr: str
