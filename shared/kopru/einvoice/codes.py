"""The code lists GİB allows, read from GİB's own schematron code lists.

The lists are not typed by hand: `efatura-kontrol` ships `ekler/kodlar.json`,
extracted from the e-Fatura package's `UBL-TR_Codelist.xml` (the same values the
schematron enforces). They are loaded on first use and cached for the process,
so the lists the model checks an input against are exactly the lists GİB's
schematron checks the rendered document against.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Mapping

# Common unit codes (UN/ECE rec. 20) with their Turkish names, for messages and docs.
# The authority on what is allowed is `unit_codes()`.
COMMON_UNITS: Mapping[str, str] = MappingProxyType({
    "C62": "adet", "NIU": "adet (birim)", "KGM": "kilogram", "GRM": "gram", "TNE": "ton", "LTR": "litre",
    "MTR": "metre", "MTK": "metrekare", "MTQ": "metreküp", "KWH": "kilovatsaat", "HUR": "saat", "DAY": "gün",
    "MON": "ay", "ANN": "yıl", "BX": "kutu", "PA": "paket", "PR": "çift", "SET": "set",
})


@cache
def _lists() -> dict[str, tuple[str, ...]]:
    path = resources.files("efatura_kontrol.ekler").joinpath("kodlar.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: tuple(values) for name, values in data["listeler"].items()}


def code_list(name: str) -> tuple[str, ...]:
    """One of GİB's lists by its schematron name (e.g. "UnitCodeList"); KeyError if unknown."""
    return _lists()[name]


@cache
def unit_codes() -> frozenset[str]:
    return frozenset(code_list("UnitCodeList"))


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(code_list("CurrencyCodeList"))


@cache
def country_codes() -> frozenset[str]:
    return frozenset(code_list("CountryCodeList"))


@cache
def exemption_codes() -> frozenset[str]:
    """Every KDV exemption reason code GİB accepts (TaxExemptionReasonCodeType)."""
    return frozenset(code_list("TaxExemptionReasonCodeType"))


@cache
def exemption_groups() -> Mapping[str, frozenset[str]]:
    """Exemption codes by the invoice type GİB ties them to:
    ISTISNA (istisna codes), OZELMATRAH (8xx), IHRACKAYITLI (7xx); the rest (e.g. 351
    "istisna olmayan diğer", 555) are not tied to a type."""
    return MappingProxyType({
        "ISTISNA": frozenset(code_list("istisnaTaxExemptionReasonCodeType")),
        "OZELMATRAH": frozenset(code_list("ozelMatrahTaxExemptionReasonCodeType")),
        "IHRACKAYITLI": frozenset(code_list("ihracExemptionReasonCodeType")),
    })


@cache
def withholding_rates() -> Mapping[str, tuple[Decimal, ...]]:
    """KDV withholding (tevkifat) code -> the percentages GİB allows for it, e.g.
    "603" -> (50, 70), "606" -> (90,), "801" -> (100,).

    From WithholdingTaxTypeWithPercent (code and percent concatenated: "60370"),
    kept to the codes of WithholdingTaxType (GİB's 6xx/8xx list)."""
    codes = set(code_list("WithholdingTaxType"))
    out: dict[str, list[Decimal]] = {}
    for joined in code_list("WithholdingTaxTypeWithPercent"):
        code, percent = joined[:3], joined[3:]
        if code in codes and percent:
            out.setdefault(code, []).append(Decimal(percent))
    return MappingProxyType({c: tuple(sorted(p)) for c, p in sorted(out.items())})


def withholding_rate(code: str, requested: Decimal | None = None) -> Decimal:
    """The percentage to withhold for `code`: `requested` when GİB allows it for the
    code, else the code's only allowed percentage. ValueError(<catalog code>) when the
    code is unknown, the percentage is not allowed, or the code allows several and
    none was chosen."""
    allowed = withholding_rates().get(code)
    if not allowed:
        raise ValueError("einvoice.withholding_code_invalid")
    if requested is None:
        if len(allowed) != 1:
            raise ValueError("einvoice.withholding_rate_required")
        return allowed[0]
    if requested not in allowed:
        raise ValueError("einvoice.withholding_rate_invalid")
    return next(p for p in allowed if p == requested)


@cache
def delivery_terms() -> frozenset[str]:
    """INCOTERMS codes GİB accepts in cac:DeliveryTerms/cbc:ID[@schemeID='INCOTERMS']
    (DeliveryTermCodeList: EXW, FCA, FOB, CIF, DAP…)."""
    return frozenset(code_list("DeliveryTermCodeList"))


@cache
def package_type_codes() -> frozenset[str]:
    """UN/ECE rec. 21 package type codes GİB accepts in cbc:PackagingTypeCode
    (PackageTypeCodeList: BX box, CT carton, PK package, PX pallet…)."""
    return frozenset(code_list("PackageTypeCodeList"))


@cache
def transport_modes() -> frozenset[str]:
    """UN/ECE rec. 19 transport mode codes GİB accepts in cbc:TransportModeCode
    (TransportModeCodeList: 1 sea, 2 rail, 3 road, 4 air, 5 post, 7 fixed installation…)."""
    return frozenset(code_list("TransportModeCodeList"))
