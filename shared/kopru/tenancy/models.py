"""Request and response bodies of the tenant routes (imported by the handlers that need them)."""

from __future__ import annotations

import re
from typing import Literal, Optional
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kopru.answers import NextCursor, Out
from kopru.tenancy.identifiers import subdomain_problem, tax_number_kind

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_VERBIS = re.compile(r"^[A-Za-z0-9-]{4,32}$")
CURRENCIES = ("TRY", "USD", "EUR", "GBP")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AdminIn(Strict):
    email: str = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not _EMAIL.fullmatch(v):
            raise ValueError("tenant.admin_email_invalid")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: str, info) -> str:
        email = (info.data.get("email") or "").lower()
        local = email.split("@")[0]
        if len(v) < 12 or (local and len(local) >= 4 and local in v.lower()):
            raise ValueError("tenant.admin_password_weak")
        return v


class TenantIn(Strict):
    name: str = Field(min_length=2, max_length=200)
    tax_number: str = Field(max_length=11)
    tax_office: str = Field(min_length=2, max_length=100)
    subdomain: str = Field(max_length=63)
    plan: Literal["trial", "starter", "professional", "enterprise"] = "trial"
    language: Literal["tr-TR", "en-US"] = "tr-TR"
    timezone: str = Field(default="Europe/Istanbul", max_length=64)
    currency: Literal["TRY", "USD", "EUR", "GBP"] = "TRY"
    verbis_no: Optional[str] = None
    admin: AdminIn

    @field_validator("name", "tax_office")
    @classmethod
    def _text(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v) < 2:
            raise ValueError("too short")
        return v

    @field_validator("tax_number")
    @classmethod
    def _tax(cls, v: str) -> str:
        if tax_number_kind(v) is None:
            raise ValueError("tenant.tax_number_invalid")
        return v

    @field_validator("subdomain")
    @classmethod
    def _sub(cls, v: str) -> str:
        code = subdomain_problem(v)
        if code:
            raise ValueError(code)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if not re.fullmatch(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}", v):
            raise ValueError("unknown time zone")
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return v

    @field_validator("verbis_no")
    @classmethod
    def _verbis(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _VERBIS.fullmatch(v):
            raise ValueError("invalid VERBİS registration number")
        return v


class TenantOut(Out):
    """A tenant (GET /tenants/{id}, an item of GET /tenants)."""

    id: UUID
    name: str
    tax_number: str
    tax_number_kind: Literal["VKN", "TCKN"]
    tax_office: str
    subdomain: str
    plan: Literal["trial", "starter", "professional", "enterprise"]
    language: Literal["tr-TR", "en-US"]
    timezone: str
    currency: Literal["TRY", "USD", "EUR", "GBP"]
    verbis_no: Optional[str]
    created_at: datetime


class OnboardedOut(Out):
    """POST /tenants (201): the tenant, its first admin user and its first API client,
    whose secret is shown this once."""

    tenant: TenantOut
    client_id: str
    client_secret: str
    admin_user_id: UUID


class TenantsPage(Out):
    """GET /tenants: tenants in the order they were onboarded (kopru.pages)."""

    tenants: list[TenantOut]
    next_cursor: NextCursor


def _scope_names():
    from kopru.auth.scopes import TENANT_SCOPES

    return tuple(sorted(TENANT_SCOPES))


Scope = Literal[_scope_names()]  # type: ignore[valid-type]


class ClientCreated(Out):
    """POST /tenants/{id}/clients (201): the secret is shown this once."""

    client_id: str
    client_secret: str
    name: str
    scopes: list[Scope]


class ClientOut(Out):
    client_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: Optional[datetime]


class ClientsPage(Out):
    """GET /tenants/{id}/clients: the tenant's API clients, oldest first (kopru.pages)."""

    clients: list[ClientOut]
    next_cursor: NextCursor


class ClientIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: Optional[list[str]] = Field(default=None, max_length=20)
