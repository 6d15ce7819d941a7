"""The e-invoice input (issue 6) and its arithmetic.

`Invoice` is the body of `POST /einvoices` and the input of `kopru einvoice render`.
Domain rules raise `ValueError("<catalog code>")` so that a 422 names the rule.

Money is `Decimal` throughout and follows GİB's arithmetic: every line amount is
rounded half-up to 2 places on its own line, and the document totals are sums of
those rounded line amounts (`Invoice.totals()`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
import datetime as _dt
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Literal, Optional
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kopru.einvoice import codes

Profile = Literal["TEMELFATURA", "TICARIFATURA", "EARSIVFATURA", "IHRACAT"]
InvoiceType = Literal["SATIS", "IADE", "TEVKIFAT", "ISTISNA", "OZELMATRAH", "IHRACKAYITLI"]

NUMBER_RE = re.compile(r"^[A-Z0-9]{3}20\d{2}\d{9}$")
CENT = Decimal("0.01")
HUNDRED = Decimal(100)

# the profiles GİB allows an IADE (return) invoice under, of those we issue
# (schematron InvoiceTypeCodeCheck-2 also lists ILAC_TIBBICIHAZ, YATIRIMTESVIK, IDIS, KAMU)
IADE_PROFILES = frozenset({"TEMELFATURA", "EARSIVFATURA"})
# invoice types that may carry KDV withholding (GeneralWithholdingTaxTotalCheck-1, of ours)
WITHHOLDING_TYPES = frozenset({"TEVKIFAT", "IADE"})
# exemption code group -> the invoice types GİB allows it with (TaxExemptionReasonCodeCheck-3/4/5)
EXEMPTION_TYPES = {
    "ISTISNA": frozenset({"ISTISNA", "IADE", "IHRACKAYITLI"}),
    "OZELMATRAH": frozenset({"OZELMATRAH", "IADE"}),
    "IHRACKAYITLI": frozenset({"IHRACKAYITLI", "IADE"}),
}

# IHRACAT (export through customs). GİB's rules: the invoice is addressed to the customs
# authority (AccountingCustomerParty VKN 1460415308, TaxFreeInvoiceCheck-1; its PK alias
# urn:mail:ihracatpk@gtb.gov.tr takes IHRACAT only, IhracatYolcuBeraberCheck-2), the foreign
# buyer goes in cac:BuyerCustomerParty (PARTYTYPE=EXPORT, IhracatYolcuBeraberCheck-4, with its
# RegistrationName, OfficelTitleCheck-1), and every line carries INCOTERMS, a delivery address,
# a transport mode and the GTİP (LineDeliveryCheck-1..4; codes from GİB's lists,
# DeliveryCodeCheck-1..3). The customs party is filled in here, never by the caller.
CUSTOMS_VKN = "1460415308"
CUSTOMS_ALIAS = "urn:mail:ihracatpk@gtb.gov.tr"
CUSTOMS_NAME = "Gümrük ve Ticaret Bakanlığı Gümrükler Genel Müdürlüğü- Bilgi İşlem Dairesi Başkanlığı"
CUSTOMS_TAX_OFFICE = "Ulus"
# an export invoice is an exemption invoice: 0 % KDV under 11/1-a KDVK (mal ihracatı)
EXPORT_TYPES = frozenset({"ISTISNA"})
EXPORT_EXEMPTIONS = frozenset({"301"})
GTIP_RE = re.compile(r"^\d{12}$")


def q2(d: Decimal) -> Decimal:
    """Half-up to kuruş, as GİB rounds each line amount."""
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Address(_Base):
    street: Optional[str] = Field(None, max_length=255, description="street, building and door number")
    district: str = Field(min_length=1, max_length=100, description="ilçe (cbc:CitySubdivisionName)")
    city: str = Field(min_length=1, max_length=100, description="il (cbc:CityName)")
    postal_code: Optional[str] = Field(None, max_length=20)
    country: str = Field("Türkiye", min_length=1, max_length=100)


class Party(_Base):
    """A company (`vkn` + `name` + `tax_office`) or a person (`tckn` + `first_name` +
    `family_name`; `name` then optional, e.g. a sole proprietor's trade name)."""

    vkn: Optional[str] = Field(None, description="10-digit Vergi Kimlik Numarası")
    name: Optional[str] = Field(None, min_length=1, max_length=255)
    tax_office: Optional[str] = Field(None, min_length=1, max_length=100)
    tckn: Optional[str] = Field(None, description="11-digit T.C. Kimlik Numarası")
    first_name: Optional[str] = Field(None, min_length=1, max_length=100)
    family_name: Optional[str] = Field(None, min_length=1, max_length=100)
    address: Address
    email: Optional[str] = Field(None, max_length=255)
    phone: Optional[str] = Field(None, max_length=32)

    @field_validator("vkn")
    @classmethod
    def _vkn(cls, v: Optional[str]) -> Optional[str]:
        from kopru.tenancy.identifiers import vkn_valid

        if v is not None and not vkn_valid(v):
            raise ValueError("einvoice.vkn_invalid")
        return v

    @field_validator("tckn")
    @classmethod
    def _tckn(cls, v: Optional[str]) -> Optional[str]:
        from kopru.tenancy.identifiers import tckn_valid

        if v is not None and not tckn_valid(v):
            raise ValueError("einvoice.tckn_invalid")
        return v

    @model_validator(mode="after")
    def _identity(self) -> "Party":
        if (self.vkn is None) == (self.tckn is None):
            raise ValueError("einvoice.party_identity_invalid")
        if self.vkn is not None:
            if not self.name or not self.tax_office or self.first_name or self.family_name:
                raise ValueError("einvoice.party_identity_invalid")
        elif not self.first_name or not self.family_name:
            raise ValueError("einvoice.party_identity_invalid")
        return self

    @property
    def scheme(self) -> str:
        return "VKN" if self.vkn is not None else "TCKN"

    @property
    def identifier(self) -> str:
        return self.vkn if self.vkn is not None else self.tckn  # type: ignore[return-value]


class ForeignAddress(_Base):
    """The foreign buyer's address (IHRACAT): the country is an ISO 3166 code from GİB's list, not TR."""

    street: str = Field(min_length=1, max_length=255)
    district: Optional[str] = Field(None, max_length=100)
    city: str = Field(min_length=1, max_length=100)
    postal_code: Optional[str] = Field(None, max_length=20)
    country_code: str = Field(description="ISO 3166-1 alpha-2 code from GİB's CountryCodeList, not TR")
    country: Optional[str] = Field(None, min_length=1, max_length=100, description="country name (default: the code)")

    @field_validator("country_code")
    @classmethod
    def _country(cls, v: str) -> str:
        if v == "TR" or v not in codes.country_codes():
            raise ValueError("einvoice.export_buyer_country_invalid")
        return v


class ExportBuyer(_Base):
    """The real (foreign) buyer of an IHRACAT invoice: cac:BuyerCustomerParty."""

    name: str = Field(min_length=1, max_length=255, description="registered name (cbc:RegistrationName)")
    address: ForeignAddress
    tax_id: Optional[str] = Field(None, min_length=1, max_length=50, description="the buyer's foreign tax id, if any")
    email: Optional[str] = Field(None, max_length=255)
    phone: Optional[str] = Field(None, max_length=32)


class Package(_Base):
    """Kap bilgisi (IHRACAT): cac:TransportHandlingUnit/cac:ActualPackage."""

    type_code: str = Field(description="kap cinsi: UN/ECE rec. 21 code from GİB's PackageTypeCodeList (BX, CT, PK, PX…)")
    quantity: int = Field(gt=0, le=99_999_999, description="kap adedi")
    id: Optional[str] = Field(None, min_length=1, max_length=35, description="kap numarası")

    @field_validator("type_code")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in codes.package_type_codes():
            raise ValueError("einvoice.package_type_invalid")
        return v


class Line(_Base):
    name: str = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(gt=0, max_digits=21)
    unit_code: str = Field(description="UN/ECE rec. 20 code GİB allows: C62 (adet), KGM, LTR, HUR…")
    unit_price: Decimal = Field(ge=0, max_digits=21)
    kdv_rate: Decimal = Field(ge=0, le=100, description="KDV percentage: 0, 1, 10, 20…")
    discount_rate: Optional[Decimal] = Field(None, gt=0, le=100, description="percentage of quantity × unit price")
    discount_amount: Optional[Decimal] = Field(None, gt=0, max_digits=18)
    withholding_code: Optional[str] = Field(None, description="GİB's KDV tevkifat code (6xx/8xx)")
    withholding_rate: Optional[Decimal] = Field(
        None, description="percentage withheld; only needed where GİB allows several for the code")
    exemption_code: Optional[str] = Field(None, description="GİB's KDV exemption reason code (e.g. 301, 351)")
    exemption_reason: Optional[str] = Field(None, min_length=1, max_length=500)
    # IHRACAT only (each required there)
    delivery_terms: Optional[str] = Field(None, description="IHRACAT: INCOTERMS code from GİB's list (EXW, FCA, FOB, CIF…)")
    gtip: Optional[str] = Field(None, description="IHRACAT: the 12-digit GTİP (customs tariff) code")
    package: Optional[Package] = Field(None, description="IHRACAT: kap cinsi, adedi and numarası")
    transport_mode: Optional[str] = Field(
        None, description="IHRACAT: gönderilme şekli, GİB's code (1 sea, 2 rail, 3 road, 4 air, 5 post…)")

    @field_validator("delivery_terms")
    @classmethod
    def _incoterms(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in codes.delivery_terms():
            raise ValueError("einvoice.delivery_terms_invalid")
        return v

    @field_validator("gtip")
    @classmethod
    def _gtip(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not GTIP_RE.fullmatch(v):
            raise ValueError("einvoice.gtip_invalid")
        return v

    @field_validator("transport_mode")
    @classmethod
    def _transport(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in codes.transport_modes():
            raise ValueError("einvoice.transport_mode_invalid")
        return v

    @property
    def has_export_data(self) -> bool:
        return any(x is not None for x in (self.delivery_terms, self.gtip, self.package, self.transport_mode))

    @field_validator("unit_code")
    @classmethod
    def _unit(cls, v: str) -> str:
        if v not in codes.unit_codes():
            raise ValueError("einvoice.unit_code_invalid")
        return v

    @field_validator("kdv_rate")
    @classmethod
    def _rate(cls, v: Decimal) -> Decimal:
        if _places(v) > 2:
            raise ValueError("einvoice.kdv_rate_invalid")
        return v

    @field_validator("discount_amount")
    @classmethod
    def _kurus(cls, v: Optional[Decimal]) -> Optional[Decimal]:
        if v is not None and _places(v) > 2:
            raise ValueError("einvoice.discount_invalid")
        return v

    @field_validator("exemption_code")
    @classmethod
    def _exemption(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v not in codes.exemption_codes():
            raise ValueError("einvoice.exemption_code_invalid")
        return v

    @model_validator(mode="after")
    def _line_rules(self) -> "Line":
        if self.discount_rate is not None and self.discount_amount is not None:
            raise ValueError("einvoice.discount_conflict")
        if self.discount_amount is not None and self.discount_amount > q2(self.quantity * self.unit_price):
            raise ValueError("einvoice.discount_invalid")
        if self.withholding_code is not None:
            codes.withholding_rate(self.withholding_code, self.withholding_rate)  # raises the rule's code
        elif self.withholding_rate is not None:
            raise ValueError("einvoice.withholding_code_invalid")
        if (self.exemption_code is None) != (self.exemption_reason is None):
            raise ValueError("einvoice.exemption_missing")
        return self

    def amounts(self) -> "LineAmounts":
        gross = q2(self.quantity * self.unit_price)
        if self.discount_rate is not None:
            discount = q2(gross * self.discount_rate / HUNDRED)
        else:
            discount = self.discount_amount or Decimal("0.00")
        net = gross - discount
        kdv = q2(net * self.kdv_rate / HUNDRED)
        wh_rate = None
        withholding = Decimal("0.00")
        if self.withholding_code is not None:
            wh_rate = codes.withholding_rate(self.withholding_code, self.withholding_rate)
            withholding = q2(kdv * wh_rate / HUNDRED)
        return LineAmounts(gross, q2(discount), q2(net), kdv, wh_rate, withholding)


# e-Arşiv internet sales (VUK 509 Genel Tebliğ; GİB's e-Arşiv Fatura Uygulaması Kılavuzu): an
# e-Arşiv invoice for a sale made on the internet carries the web address of the sale, the payment
# type and date, the payment intermediary, and, for goods shipped, the shipment date and the
# carrier's name and VKN/TCKN. The payment types are GİB's own words (the e-Arşiv report's
# odemeSekli list; Paraşüt, Mysoft and Nilvera clients use the same five values).
PAYMENT_TYPES = ("KREDIKARTI/BANKAKARTI", "EFT/HAVALE", "KAPIDAODEME", "ODEMEARACISI", "DIGER")
# the payment types GİB's lists expect a payment date with (a cash-on-delivery payment may come later)
PAID_TYPES = frozenset({"KREDIKARTI/BANKAKARTI", "EFT/HAVALE", "ODEMEARACISI"})
INTERNET_SALE_PROFILES = frozenset({"EARSIVFATURA"})
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class InternetSale(_Base):
    """The internet-sale block of an e-Arşiv invoice (see kopru.einvoice.render for where each
    field goes in the UBL-TR document)."""

    website: str = Field(min_length=1, max_length=255, description="http(s) address of the site the sale was made on")
    payment_means: Literal["KREDIKARTI/BANKAKARTI", "EFT/HAVALE", "KAPIDAODEME", "ODEMEARACISI", "DIGER"] = Field(
        description="GİB's e-Arşiv payment type")
    payment_agent: Optional[str] = Field(
        None, min_length=1, max_length=100, description="the payment intermediary (e.g. iyzico); required for ODEMEARACISI")
    payment_date: Optional[_dt.date] = Field(
        None, description="the day the buyer paid; required except for KAPIDAODEME and DIGER")
    shipment_date: Optional[_dt.date] = Field(
        None, description="the day the goods were handed to the carrier; omitted for services and virtual goods")
    carrier_name: Optional[str] = Field(None, min_length=1, max_length=255, description="the carrier's name or trade name")
    carrier_tax_number: Optional[str] = Field(None, description="the carrier's VKN (10 digits) or TCKN (11 digits)")
    carrier_address: Optional[Address] = Field(
        None, description="the carrier's address (GİB's UBL-TR schema wants a postal address on every party)")

    @field_validator("website")
    @classmethod
    def _website(cls, v: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v)
        except ValueError:
            raise ValueError("einvoice.internet_sale_website_invalid") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(v):
            raise ValueError("einvoice.internet_sale_website_invalid")
        return v

    @field_validator("carrier_tax_number")
    @classmethod
    def _carrier_id(cls, v: Optional[str]) -> Optional[str]:
        from kopru.tenancy.identifiers import tckn_valid, vkn_valid

        if v is not None and not (vkn_valid(v) if len(v) == 10 else len(v) == 11 and tckn_valid(v)):
            raise ValueError("einvoice.internet_sale_carrier_invalid")
        return v

    @model_validator(mode="after")
    def _sale_rules(self) -> "InternetSale":
        if self.payment_means == "ODEMEARACISI" and self.payment_agent is None:
            raise ValueError("einvoice.internet_sale_agent_missing")
        if self.payment_means in PAID_TYPES and self.payment_date is None:
            raise ValueError("einvoice.internet_sale_payment_date_missing")
        carrier = (self.carrier_name, self.carrier_tax_number)
        if any(c is not None for c in carrier) and (None in carrier or self.shipment_date is None):
            raise ValueError("einvoice.internet_sale_carrier_incomplete")
        if self.carrier_address is not None and self.carrier_name is None:
            raise ValueError("einvoice.internet_sale_carrier_incomplete")
        return self

    @property
    def carrier_scheme(self) -> Optional[str]:
        if self.carrier_tax_number is None:
            return None
        return "VKN" if len(self.carrier_tax_number) == 10 else "TCKN"


class BillingReference(_Base):
    """The invoice this one refers to (for IADE: the invoice being returned)."""

    number: str = Field(description="16 characters, e.g. ABC2026000000001")
    date: _dt.date

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        if not NUMBER_RE.fullmatch(v):
            raise ValueError("einvoice.number_invalid")
        return v


class Invoice(_Base):
    # an e-Arşiv invoice to a person (no registered-user list needed), as the tests send it
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, json_schema_extra={"examples": [
        {"profile": "EARSIVFATURA", "type": "SATIS", "issue_date": "2026-11-20", "issue_time": "14:30:00",
         "customer": {"tckn": "12345678950", "first_name": "Ayşe", "family_name": "Yılmaz",
                      "address": {"district": "Çankaya", "city": "Ankara"}},
         "lines": [{"name": "Danışmanlık hizmeti", "quantity": "2", "unit_code": "C62", "unit_price": "150.00",
                    "kdv_rate": "20"}]}]})

    profile: Profile
    type: InvoiceType
    number: Optional[str] = Field(None, description="ABC2026000000001: 3-character series, year, 9-digit sequence")
    uuid: Optional[UUID] = Field(None, description="the ETTN; a new uuid4 when omitted")
    issue_date: _dt.date
    issue_time: Optional[_dt.time] = None
    currency: str = Field("TRY", description="ISO 4217 code from GİB's list")
    exchange_rate: Optional[Decimal] = Field(None, gt=0, description="TRY per unit of currency; required when not TRY")
    customer: Optional[Party] = Field(
        None, description="the buyer; required except for IHRACAT, whose customer is the customs authority (filled in)")
    buyer: Optional[ExportBuyer] = Field(None, description="IHRACAT only: the foreign buyer")
    supplier: Optional[Party] = Field(None, description="used by `kopru einvoice render`; the service uses the tenant's")
    lines: list[Line] = Field(min_length=1, max_length=5000)
    billing_reference: Optional[BillingReference] = None
    notes: list[str] = Field(default_factory=list, max_length=20)
    internet_sale: Optional[InternetSale] = Field(
        None, description="EARSIVFATURA only: the sale was made on the internet (web address, payment, shipment)")

    @field_validator("number")
    @classmethod
    def _number(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not NUMBER_RE.fullmatch(v):
            raise ValueError("einvoice.number_invalid")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if v not in codes.currency_codes():
            raise ValueError("einvoice.currency_invalid")
        return v

    @field_validator("exchange_rate")
    @classmethod
    def _rate(cls, v: Optional[Decimal]) -> Optional[Decimal]:
        # GİB: at most 15 digits before and 6 after the point (CurrencyCodeCheck-7)
        if v is not None and (_places(v) > 6 or v >= Decimal("1e15")):
            raise ValueError("einvoice.exchange_rate_invalid")
        return v

    @field_validator("notes")
    @classmethod
    def _notes(cls, v: list[str]) -> list[str]:
        if any(not n or len(n) > 1000 for n in v):
            raise ValueError("einvoice.note_invalid")
        return v

    @model_validator(mode="after")
    def _document_rules(self) -> "Invoice":
        if self.profile == "IHRACAT":
            self._export_rules()
        else:
            if self.customer is None:
                raise ValueError("einvoice.customer_missing")
            if self.buyer is not None or any(ln.has_export_data for ln in self.lines):
                raise ValueError("einvoice.export_fields_unexpected")
        if self.internet_sale is not None and self.profile not in INTERNET_SALE_PROFILES:
            raise ValueError("einvoice.internet_sale_profile_invalid")
        if self.number is not None and int(self.number[3:7]) != self.issue_date.year:
            raise ValueError("einvoice.number_year_mismatch")
        if self.currency != "TRY" and self.exchange_rate is None:
            raise ValueError("einvoice.exchange_rate_missing")
        if self.currency == "TRY" and self.exchange_rate is not None:
            raise ValueError("einvoice.exchange_rate_unexpected")
        if self.type == "IADE":
            if self.profile not in IADE_PROFILES:
                raise ValueError("einvoice.iade_profile_invalid")
            if self.billing_reference is None:
                raise ValueError("einvoice.billing_reference_missing")
        withheld = [ln for ln in self.lines if ln.withholding_code is not None]
        if withheld and self.type not in WITHHOLDING_TYPES:
            raise ValueError("einvoice.withholding_type_mismatch")
        if self.type == "TEVKIFAT" and not withheld:
            raise ValueError("einvoice.withholding_missing")
        groups = codes.exemption_groups()
        for ln in self.lines:
            if ln.kdv_rate == 0 and ln.exemption_code is None and self.type != "IADE":
                raise ValueError("einvoice.exemption_missing")
            if ln.exemption_code is None:
                continue
            if ln.kdv_rate != 0 and self.type != "OZELMATRAH":
                raise ValueError("einvoice.exemption_unexpected")
            for group, types in EXEMPTION_TYPES.items():
                if ln.exemption_code in groups[group] and self.type not in types:
                    raise ValueError("einvoice.exemption_type_mismatch")
        return self

    def _export_rules(self) -> None:
        """IHRACAT: the caller gives the foreign buyer and each line's export data; the
        customs authority is the accounting customer (see CUSTOMS_VKN)."""
        if self.customer is not None:
            raise ValueError("einvoice.export_customer_unexpected")
        if self.buyer is None:
            raise ValueError("einvoice.export_buyer_missing")
        if self.type not in EXPORT_TYPES:
            raise ValueError("einvoice.export_type_invalid")
        for ln in self.lines:
            if ln.delivery_terms is None:
                raise ValueError("einvoice.delivery_terms_missing")
            if ln.gtip is None:
                raise ValueError("einvoice.gtip_missing")
            if ln.package is None:
                raise ValueError("einvoice.package_missing")
            if ln.transport_mode is None:
                raise ValueError("einvoice.transport_mode_missing")
            if ln.kdv_rate != 0 or ln.exemption_code not in EXPORT_EXEMPTIONS:
                raise ValueError("einvoice.export_exemption_invalid")

    @property
    def accounting_customer(self) -> Party:
        """cac:AccountingCustomerParty: the customs authority for IHRACAT, else the customer."""
        if self.profile == "IHRACAT":
            return customs_party()
        assert self.customer is not None
        return self.customer

    def totals(self) -> "Totals":
        return compute_totals(self)


@cache
def customs_party() -> Party:
    """The customs authority an IHRACAT invoice is addressed to (GİB's registered user
    1460415308, PK alias CUSTOMS_ALIAS)."""
    return Party(vkn=CUSTOMS_VKN, name=CUSTOMS_NAME, tax_office=CUSTOMS_TAX_OFFICE,
                 address=Address(district="Altındağ", city="Ankara"))


# -- arithmetic ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineAmounts:
    gross: Decimal  # quantity × unit price, rounded
    discount: Decimal
    net: Decimal  # cbc:LineExtensionAmount
    kdv: Decimal
    withholding_rate: Optional[Decimal]
    withholding: Decimal


@dataclass(frozen=True, slots=True)
class KdvGroup:
    rate: Decimal
    exemption_code: Optional[str]
    exemption_reason: Optional[str]
    taxable: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class WithholdingGroup:
    code: str
    rate: Decimal
    taxable: Decimal  # the KDV the percentage applies to
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    line_extension: Decimal  # Σ line net amounts
    discounts: Decimal  # Σ line discounts (already inside the line net amounts)
    tax_exclusive: Decimal
    kdv: Decimal
    tax_inclusive: Decimal
    withholding: Decimal
    payable: Decimal
    kdv_groups: tuple[KdvGroup, ...]
    withholding_groups: tuple[WithholdingGroup, ...]


def compute_totals(invoice: Invoice) -> Totals:
    """Line amounts rounded per line, document amounts summed from them; KDV grouped per
    rate (and per exemption code where KDV is 0), withholding per code and rate."""
    zero = Decimal("0.00")
    lines = tuple(ln.amounts() for ln in invoice.lines)
    kdv_groups: dict[tuple[Decimal, Optional[str]], list] = {}
    wh_groups: dict[tuple[str, Decimal], list] = {}
    for ln, a in zip(invoice.lines, lines):
        key = (ln.kdv_rate, ln.exemption_code)
        g = kdv_groups.setdefault(key, [ln.exemption_reason, zero, zero])
        g[1] += a.net
        g[2] += a.kdv
        if ln.withholding_code is not None:
            assert a.withholding_rate is not None
            w = wh_groups.setdefault((ln.withholding_code, a.withholding_rate), [zero, zero])
            w[0] += a.kdv
            w[1] += a.withholding
    line_extension = sum((a.net for a in lines), zero)
    kdv = sum((a.kdv for a in lines), zero)
    withholding = sum((a.withholding for a in lines), zero)
    tax_inclusive = line_extension + kdv
    return Totals(
        lines=lines,
        line_extension=line_extension,
        discounts=sum((a.discount for a in lines), zero),
        tax_exclusive=line_extension,
        kdv=kdv,
        tax_inclusive=tax_inclusive,
        withholding=withholding,
        payable=tax_inclusive - withholding,
        kdv_groups=tuple(
            KdvGroup(rate, code, g[0], g[1], g[2])
            for (rate, code), g in sorted(kdv_groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        ),
        withholding_groups=tuple(
            WithholdingGroup(code, rate, w[0], w[1]) for (code, rate), w in sorted(wh_groups.items())
        ),
    )


# -- answers (what the einvoice routes answer; kopru.answers) ------------------------------

from kopru.answers import Out, Words, absent  # noqa: E402

EinvoiceStatus = Literal["queued", "submitting", "submitted", "accepted", "rejected", "failed", "unknown"]
EinvoiceKind = Literal["efatura", "earsiv"]


class EinvoiceAccepted(Out):
    """POST /einvoices (202): numbered and queued for submission."""

    id: UUID
    uuid: UUID = Field(description="the ETTN")
    number: str = Field(pattern=r"^[A-Z0-9]{3}[0-9]{13}$", description="series, year and a gap-free sequence")
    status: Literal["queued"]
    kind: EinvoiceKind = Field(description="efatura to a registered e-Fatura user, else earsiv")
    profile: Profile
    payable_amount: str = Field(pattern=r"^-?[0-9]+\.[0-9]{2}$")
    currency: str
    replayed: bool = absent("present (true) when the Idempotency-Key was seen before")


class EinvoiceHistoryEntry(Out):
    status: EinvoiceStatus
    code: Optional[str]
    at: _dt.datetime


class EinvoiceOut(Out):
    """GET /einvoices/{id}: an invoice's status and history (never the customer's name or number)."""

    id: UUID
    uuid: UUID = Field(description="the ETTN")
    number: str
    series: str
    year: int
    profile: Profile
    type: InvoiceType
    kind: EinvoiceKind
    status: EinvoiceStatus
    error_code: Optional[str]
    error: Optional[Words]
    gib_code: Optional[str]
    answer: Optional[str] = Field(description="the receiver's answer to a TICARIFATURA (KABUL, RED)")
    customer_scheme: Literal["VKN", "TCKN"]
    currency: str
    payable_amount: str = Field(pattern=r"^-?[0-9]+\.[0-9]{2}$")
    issue_date: _dt.date
    attempts: int
    submitted_at: Optional[_dt.datetime]
    delivered_at: Optional[_dt.datetime]
    answer_due_at: Optional[_dt.datetime]
    created_at: _dt.datetime
    updated_at: _dt.datetime
    history: list[EinvoiceHistoryEntry]
