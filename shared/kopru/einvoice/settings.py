"""Request bodies of the e-invoice integration settings (tenant-onboarding's
`PUT /tenants/{id}/integrations/nilvera`)."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from kopru.einvoice.models import Address


class NilveraSettingsIn(BaseModel):
    """The tenant's Nilvera API key (checked with Nilvera's company call), its invoice
    series, its address as it goes on every invoice, and optionally its signing
    certificate (PKCS#12, base64) with its password. Secrets are sealed by the master
    key and never returned."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, str_strip_whitespace=True)

    api_key: str = Field(min_length=8, max_length=256)
    series: str = Field(pattern=r"^[A-Z0-9]{3}$", description="the 3-character invoice series, e.g. KPR")
    address: Address
    first_name: Optional[str] = Field(None, min_length=1, max_length=100,
                                      description="a sole trader (TCKN tenant): the first name on the invoice")
    family_name: Optional[str] = Field(None, min_length=1, max_length=100)
    email: Optional[str] = Field(None, max_length=255)
    phone: Optional[str] = Field(None, max_length=32)
    p12: Optional[str] = Field(None, max_length=64 * 1024, description="the mali mühür / e-imza PKCS#12, base64")
    p12_password: Optional[str] = Field(None, max_length=256)


# -- answers (the nilvera integration routes; kopru.answers) --------------------------------

from datetime import datetime as _datetime  # noqa: E402
from typing import Literal  # noqa: E402

from kopru.answers import Out  # noqa: E402


class AddressOut(Out):
    street: Optional[str]
    district: str
    city: str
    postal_code: Optional[str]
    country: str


class CertificateOut(Out):
    serial_number: str = Field(pattern=r"^[0-9a-f]+$", description="hexadecimal")
    not_after: _datetime


class NilveraSettingsOut(Out):
    """GET/PUT /tenants/{id}/integrations/nilvera: the settings as stored, never the secrets."""

    provider: Literal["nilvera"]
    configured: Literal[True]
    series: str
    address: AddressOut
    first_name: Optional[str]
    family_name: Optional[str]
    email: Optional[str]
    phone: Optional[str]
    certificate: Optional[CertificateOut] = Field(description="the signing certificate's serial and expiry, when a "
                                                              "PKCS#12 was given")
    secrets_set: list[Literal["api_key", "p12", "p12_password"]]


class NilveraChecked(Out):
    """POST /tenants/{id}/integrations/nilvera/test."""

    provider: Literal["nilvera"]
    ok: Literal[True]
