"""Validation before anything leaves: OASIS UBL 2.1 XSD, GİB's UBL-TR schematron, arithmetic.

The rules are GİB's own, run by `efatura-kontrol` (pinned, see RULE_PACKAGE): the
UBL 2.1 XSD as GİB ships it (ext:UBLExtensions mandatory), the e-Fatura package's
schematron compiled once to XSLT 3.0 and run by SaxonC, plus its line/tax/total
arithmetic and signature-structure checks. Köprü adds the safe parsing in front
(`kopru.einvoice.xmlsafe`) and findings in Turkish and English.

The compiled stylesheet and the XSD live for the process (the first call pays
~1 s to compile; `warm_up()` does it ahead). SaxonC and lxml's schema objects are
not thread-safe, so one validation runs at a time per process; each takes a few
milliseconds.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Mapping, Optional

from kopru.errors import CATALOG, KopruError

# The rule package, pinned: efatura-kontrol 0.1.0 ships GİB's e-Fatura package 29
# (UBL-TR 1.2.1), schematron of 2026-07-01, code lists guide 1.42.
# tests/einvoice checks this against the installed package.
RULE_PACKAGE: Mapping[str, str] = MappingProxyType({
    "validator": "efatura-kontrol",
    "validator_version": "0.1.0",
    "ubl_tr": "1.2.1",
    "efatura_package": "29",
    "schematron_date": "2026-07-01",
    "code_lists_guide": "1.42",
    "source": "https://ebelge.gib.gov.tr/efaturamevzuat.html",
})
RULE_PACKAGE_VERSION = "efatura-kontrol 0.1.0 / GİB e-Fatura paketi 29 / şematron 2026-07-01"

KINDS = ("fatura", "earsiv", "irsaliye", "irsaliye-yaniti", "uygulama-yaniti", "zarf")
_ROOTS = frozenset({
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:DespatchAdvice-2}DespatchAdvice",
    "{urn:oasis:names:specification:ubl:schema:xsd:ReceiptAdvice-2}ReceiptAdvice",
    "{urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2}ApplicationResponse",
    "{http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader}StandardBusinessDocument",
})

_SEVERITY = {"hata": "error", "uyari": "warning", "bilgi": "info"}
_SOURCE = {"xml": "xml", "xsd": "xsd", "sematron": "schematron", "hesap": "arithmetic", "imza": "signature"}

_LOCK = threading.Lock()
_ready = False


@dataclass(frozen=True)
class Report:
    """The outcome of `validate`. `findings` are dicts with rule, source, severity
    (error/warning/info), location (XPath), line, message_tr, message_en, fix_tr."""

    valid: bool
    findings: tuple[dict[str, Any], ...]
    kind: Optional[str] = None  # fatura, earsiv, …
    profile: Optional[str] = None
    type: Optional[str] = None
    refused: Optional[str] = None  # the error code when the input was refused before validation
    duration_ms: float = 0.0
    rule_package: Mapping[str, str] = field(default_factory=lambda: RULE_PACKAGE)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["severity"] == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["severity"] == "warning"]

    @property
    def arithmetic_warnings(self) -> list[dict[str, Any]]:
        return [f for f in self.warnings if f["source"] == "arithmetic"]

    def rules(self, severity: str = "error") -> list[str]:
        return [f["rule"] for f in self.findings if f["severity"] == severity]

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "kind": self.kind,
            "profile": self.profile,
            "type": self.type,
            "refused": self.refused,
            "rule_package": dict(self.rule_package),
            "duration_ms": round(self.duration_ms, 2),
            "findings": [dict(f) for f in self.findings],
        }


def warm_up() -> None:
    """Compile the schematron and load the XSDs now rather than on the first document."""
    global _ready
    if _ready:
        return
    from efatura_kontrol import kontrol

    with _LOCK:
        kontrol.hazirla()
        _ready = True


def validate(xml: bytes, *, kind: Optional[str] = None, now: Optional[datetime] = None) -> Report:
    """Validate a UBL-TR document (an e-Fatura, e-Arşiv, e-İrsaliye, application
    response or envelope; the kind follows the root element and cbc:ProfileID, or
    `kind`). Never raises for bad input: a refused document gives a Report with
    `refused` set to the error code and that one finding. `now` (default: the clock)
    is the instant GİB's "no future IssueDate" rule is judged at, in Türkiye's time."""
    from kopru.einvoice.xmlsafe import parse_safely

    start = time.perf_counter()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    try:
        tree = parse_safely(xml)
        if tree.getroot().tag not in _ROOTS:
            raise KopruError("einvoice.xml_not_ubl_tr")
    except KopruError as exc:
        return _refused(exc.code, start)
    from efatura_kontrol.kontrol import kontrol_et

    warm_up()
    with _LOCK:
        # bytes, never str: efatura-kontrol reads a str as a file path
        rapor = kontrol_et(bytes(xml), tur=kind)
    findings = _issue_dates_in_turkey(tree, [_finding(b) for b in rapor.bulgular], now)
    return Report(
        valid=not any(f["severity"] == "error" for f in findings),
        findings=findings,
        kind=rapor.tur,
        profile=rapor.profil,
        type=rapor.tip,
        duration_ms=(time.perf_counter() - start) * 1000,
    )


# GİB's TimeCheck-1 (`xs:date(cbc:IssueDate) le current-date()`, every cbc:IssueDate) is
# judged by GİB in Türkiye's time, but SaxonC takes current-date() and the implicit time zone
# from the process (UTC in a container): from 00:00 to 03:00 in Istanbul it would refuse an
# invoice dated today, and a process east of Istanbul would pass tomorrow's. So the rule's
# result from the stylesheet is set aside and the rule is applied here, with today in
# Europe/Istanbul and the same XPath date comparison (a date without a zone takes Istanbul's).
_TIME_CHECK = "sch-TimeCheck-1"
_CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
_XS_DATE = re.compile(r"-?(\d{4,})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?")


def _date_start(text: str, default_tz) -> Optional[datetime]:
    """The instant an xs:date starts (its own zone, else `default_tz`), None when the text is
    not castable as xs:date (TarihBicimi-1 reports that) or outside what Python holds."""
    from datetime import timedelta, timezone

    m = _XS_DATE.fullmatch(text.strip())
    if m is None or text.strip().startswith("-"):
        return None
    zone = m.group(4)
    if zone is None:
        tz = default_tz
    elif zone == "Z":
        tz = timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=tz)
    except (ValueError, OverflowError):
        return None


def _path(el) -> str:
    """The element's path as the stylesheet gives one (/Q{ns}Invoice[1]/Q{ns}IssueDate[1]),
    for `_location` to shorten like the others."""
    steps = []
    while el is not None:
        parent = el.getparent()
        index = 1 if parent is None else 1 + sum(1 for s in el.itersiblings(preceding=True) if s.tag == el.tag)
        steps.append(f"Q{el.tag}[{index}]")
        el = parent
    return "/" + "/".join(reversed(steps))


def _issue_dates_in_turkey(tree, findings: list[dict[str, Any]], now: Optional[datetime]) -> tuple[dict[str, Any], ...]:
    from efatura_kontrol.bulgu import Bulgu
    from efatura_kontrol.kod import acikla

    from kopru.text import business_tz

    tz = business_tz()
    today = (now or datetime.now(tz)).astimezone(tz).date()
    today_start = datetime(today.year, today.month, today.day, tzinfo=tz)
    kept = [f for f in findings if f["rule"] != _TIME_CHECK]
    for el in tree.getroot().iter(_CBC + "IssueDate"):
        text = el.text or ""
        start = _date_start(text, tz)
        if start is None or start <= today_start:
            continue
        # GİB's own text of the rule (the stylesheet's, value included: a date, not personal data),
        # and efatura-kontrol's explanation of it, as its own findings carry them
        message = (f"Geçersiz cbc:IssueDate değeri : '{text}' cbc:IssueDate alanı günün tarihinden ileri "
                   "bir tarih olamaz")
        about = acikla(_TIME_CHECK) or {}
        kept.append(_finding(Bulgu(kod=_TIME_CHECK, seviye="hata", kaynak="sematron", mesaj=message,
                                   gib_mesaj=message, konum=_path(el), satir=el.sourceline,
                                   aciklama=about.get("aciklama"), duzeltme=about.get("duzeltme") or None)))
    return tuple(kept)


def _refused(code: str, start: float) -> Report:
    spec = CATALOG[code]
    finding = {"rule": code, "source": "xml", "severity": "error", "location": None, "line": None,
               "message_tr": spec.tr, "message_en": spec.en, "fix_tr": None}
    return Report(valid=False, findings=(finding,), refused=code, duration_ms=(time.perf_counter() - start) * 1000)


_PREFIXES = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "inv",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2": "cac",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2": "cbc",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2": "ext",
    "http://www.w3.org/2000/09/xmldsig#": "ds",
    "http://uri.etsi.org/01903/v1.3.2#": "xades",
}
_QNAME = re.compile(r"Q\{([^}]*)\}")


def _location(konum: Optional[str]) -> Optional[str]:
    """SVRL's /Q{urn:…Invoice-2}Invoice[1]/Q{urn:…}InvoiceLine[1] as /inv:Invoice[1]/cac:InvoiceLine[1]."""
    if not konum:
        return None
    return _QNAME.sub(lambda m: f"{_PREFIXES[m.group(1)]}:" if m.group(1) in _PREFIXES else m.group(0), konum)


def _finding(b) -> dict[str, Any]:
    message_tr = b.mesaj
    if b.kaynak == "xsd" and b.kod != "xsd-ozet":
        message_tr = f"Şema (XSD) hatası: {b.mesaj}"  # libxml2 reports in English
    return {
        "rule": b.kod,
        "source": _SOURCE.get(b.kaynak, b.kaynak),
        "severity": _SEVERITY.get(b.seviye, b.seviye),
        "location": _location(b.konum),
        "line": b.satir,
        "message_tr": message_tr,
        "message_en": english(b.kod, b.mesaj, b.kaynak, b.seviye),
        "fix_tr": b.duzeltme,
    }


# -- English -------------------------------------------------------------------------
# GİB's messages are Turkish only. Below, our English renderings of the messages of the
# rules met most often, rule by rule; any other rule gets a sentence that names it and
# points at the Turkish message (GİB's own text), rather than a guess.

_EN_RULES: dict[str, str] = {
    "UBLVersionIDCheck-1": "Invalid cbc:UBLVersionID: it must be '2.1'.",
    "CustomizationIDCheck-1": "Invalid cbc:CustomizationID: it must be 'TR1.2' or 'TR1.2.1'.",
    "ProfileIDCheck-1": "Invalid cbc:ProfileID: see GİB's ProfileIDType list for the allowed values.",
    "ProfileIDCheck-2": "Invalid cbc:ProfileID for an e-Arşiv invoice: see the ProfileIDTypeEarchive list (EARSIVFATURA).",
    "ProfileIDCheck-4": "The xsi:schemaLocation of Invoice must point to 'UBL-Invoice-2.1.xsd'.",
    "InvoiceIDCheck-1": "Invalid cbc:ID: the invoice number must have the form 'ABC2009123456789' (3-character series, year, 9-digit sequence).",
    "CopyIndicatorCheck-1": "Invalid cbc:CopyIndicator: it must be 'false'.",
    "UUIDCheck-1": "Invalid cbc:UUID: it must be in UUID format.",
    "InvoiceTypeCodeCheck-1": "Invalid cbc:InvoiceTypeCode: see GİB's code list for the allowed values.",
    "InvoiceTypeCodeCheck-2": "With invoice type IADE the profile can only be TEMELFATURA, EARSIVFATURA, ILAC_TIBBICIHAZ, YATIRIMTESVIK, IDIS or KAMU.",
    "CurrencyCodeCheck-1": "Invalid cbc:DocumentCurrencyCode: see GİB's code list for the allowed values.",
    "CurrencyCodeCheck-6": "An exchange rate is mandatory in documents whose currency is not TRY (cac:PricingExchangeRate/cbc:CalculationRate).",
    "CurrencyCodeCheck-7": "Invalid cac:PricingExchangeRate/cbc:CalculationRate: at most 15 digits before and 6 after the decimal point.",
    "GeneralCurrencyIDCheck-1": "Invalid currencyID attribute: see GİB's code list for the allowed values.",
    "GeneralUnitCodeCheck-1": "Invalid unitCode attribute: see GİB's code list for the allowed values (UN/ECE rec. 20, e.g. C62 for a piece).",
    "InvoicedQuantityCheck-1": "cbc:InvoicedQuantity must carry exactly one non-empty unitCode attribute.",
    "decimalCheck-1": "Invalid amount: at most 15 digits before the decimal point and 2 after it.",
    "SignatureCountCheck-1": "There must be at most one cac:Signature element.",
    "SignatureCheck-1": "The schemeID of cbc:ID inside cac:Signature must be 'VKN_TCKN'.",
    "SignatureCheck-2": "An ID with schemeID 'VKN_TCKN' must have 10 characters (tax number) or 11 (Turkish ID number).",
    "GeneralWithholdingTaxTotalCheck-1": "Mismatched invoice type: with cac:WithholdingTaxTotal the type can be TEVKIFAT, YTBTEVKIFAT, IADE, YTBIADE, SGK, SARJ or SARJANLIK.",
    "WithholdingTaxTotalCheck-1": "cac:WithholdingTaxTotal needs non-empty cac:TaxSubtotal/…/cbc:TaxTypeCode and cac:TaxSubtotal/cbc:Percent.",
    "WithholdingTaxTotalCheck-2": "Invalid withholding cbc:TaxTypeCode: see GİB's code list for the allowed values.",
    "WithholdingTaxTotalCheck-3": "Mismatched withholding percentage: this withholding code cannot have this percentage.",
    "IADEInvioceCheck-1": "IADE, TEVKIFATIADE and YTBIADE invoices need one cac:BillingReference/cac:InvoiceDocumentReference per returned invoice, with cbc:DocumentTypeCode IADE and a 16-character ID.",
    "PartyIdentificationSchemeIDCheck-1": "Invalid schemeID attribute: see GİB's code list for the allowed values.",
    "PartyIdentificationTCKNVKNCheck-1": "With schemeID 'VKN', cbc:ID must hold a 10-digit tax number.",
    "PartyIdentificationTCKNVKNCheck-2": "With schemeID 'TCKN', cbc:ID must hold an 11-digit Turkish ID number.",
    "PartyIdentificationPartyNamePersonCheck-1": "There must be one cbc:ID with schemeID 'VKN' or 'TCKN'.",
    "PartyIdentificationPartyNamePersonCheck-2": "There must not be cbc:ID elements with both schemeID 'VKN' and 'TCKN'.",
    "PartyIdentificationPartyNamePersonCheck-3": "With schemeID 'VKN' there must be a cac:PartyName element.",
    "PartyIdentificationPartyNamePersonCheck-4": "cac:PartyName must contain a non-empty cbc:Name.",
    "PartyIdentificationPartyNamePersonCheck-5": "With schemeID 'TCKN' there must be a cac:Person element.",
    "PartyIdentificationPartyNamePersonCheck-6": "cac:Person must contain non-empty cbc:FirstName and cbc:FamilyName.",
    "TaxTypeCheck-1": "Invalid cbc:TaxTypeCode: see GİB's code list for the allowed values.",
    "TaxExemptionReasonCheck-1": "For KDV (tax code 0015) with a tax amount of 0, cbc:TaxExemptionReason must be present and not empty.",
    "TaxExemptionReasonCodeCheck-1": "cbc:TaxExemptionReason must not be empty.",
    "TaxExemptionReasonCodeCheck-2": "Invalid cbc:TaxExemptionReasonCode: with cbc:TaxExemptionReason present it must hold a valid code from GİB's list.",
    "TaxExemptionReasonCodeCheck-3": "Mismatched invoice type: for this exemption code the type can be ISTISNA, IADE, IHRACKAYITLI, SGK, YTBIADE or YTBISTISNA.",
    "TaxExemptionReasonCodeCheck-4": "Mismatched invoice type: for this exemption code the type can be OZELMATRAH, IADE or SGK.",
    "TaxExemptionReasonCodeCheck-5": "Mismatched invoice type: for this exemption code the type can be IHRACKAYITLI, IADE or SGK.",
    "PaymentMeansCodeCheck-1": "Invalid cbc:PaymentMeansCode: see GİB's code list for the allowed values.",
    "XadesSignatureCheckForInvoice-1": "ds:SignedInfo/ds:Reference/ds:Transforms is mandatory.",
    "XadesSignatureCheckForInvoice-2": "ds:KeyInfo is mandatory.",
    "XadesSignatureCheckForInvoice-3": "ds:X509Data inside ds:KeyInfo is mandatory.",
    "XadesSignatureCheckForInvoice-4": "ds:Object is mandatory.",
    "XadesSignatureCheckForInvoice-5": "xades:SigningTime is mandatory.",
    "XadesSignatureCheckForInvoice-6": "xades:SigningCertificate is mandatory.",
    "XadesSignatureCheckForInvoice-7": "ds:SignedInfo must contain exactly one ds:Reference whose URI is empty (\"\").",
    "SignatureMethodCheck-1": "The Algorithm of ds:SignatureMethod must not be rsa-sha1.",
    "X509DataCheck-1": "ds:X509Certificate inside ds:X509Data is mandatory.",
    "TransformCountCheck-1": "ds:Transforms may contain at most one ds:Transform.",
    "SignatoryPartyPartyIdentificationCheck-1": "cac:SignatoryParty must contain at least one cac:PartyIdentification/cbc:ID with schemeID 'VKN' or 'TCKN'.",
}

# efatura-kontrol's own checks (not GİB's): our English for its Turkish messages
_EN_TOOL: dict[str, str] = {
    "hesap-satir": "Line amount does not equal quantity × unit price − allowances + charges",
    "hesap-vergi": "Tax amount does not equal taxable amount × percent",
    "hesap-vergi-toplam": "Tax total does not equal the sum of its subtotals (with or without withholding)",
    "hesap-tevkifat": "Withholding amount does not equal KDV × withholding percent",
    "hesap-tevkifat-toplam": "Withholding total does not equal the sum of its subtotals",
    "hesap-dip-satir": "Document line extension amount does not equal the sum of the line amounts",
    "hesap-dip-indirim": "Allowance total does not equal the sum of the document allowances",
    "hesap-dip-artirim": "Charge total does not equal the sum of the document charges",
    "hesap-dip-vergi-haric": "Tax-exclusive amount does not equal line total − allowances + charges",
    "hesap-dip-vergi-dahil": "Tax-inclusive amount does not equal tax-exclusive amount + taxes",
    "hesap-dip-odenecek": "Payable amount does not equal tax-inclusive amount − withholding + rounding",
    "hesap-para-birimi": "Some amounts' currencyID differs from the document currency",
    "imza-yok": "The document carries no electronic signature; a document sent to GİB must carry a XAdES signature (normal for a draft).",
    "imza-var": "The XAdES signature is structurally complete (its cryptography is not verified by this check).",
    "imza-yapi": "A mandatory part of the ds:Signature is missing",
    "imza-referans": "A signature reference does not match an Id in the document",
    "xsd-ozet": "There are schema errors; schematron and arithmetic results may be incomplete until the structure is fixed.",
    "tur-uyumsuz": "The requested document kind differs from the root element's; the root element's rules were applied.",
    "xml-bicim": "The XML is not well-formed.",
    "xml-kok": "Unrecognised root element.",
    "xml-boyut": "The document exceeds the size limit.",
}
_NUMBERS = re.compile(r"yazılan (\S+), hesaplanan (\S+)$")


def english(rule: str, message_tr: str, source: str, severity: str) -> str:
    """The English message of a finding (see the note above _EN_RULES)."""
    if source == "xsd" and rule != "xsd-ozet":
        return f"Schema (XSD) error: {message_tr}"  # libxml2's message is English already
    if rule == "sch-degerlendirme":
        return "A GİB schematron rule could not be evaluated with this value (often a malformed date or time)."
    if rule.startswith("sch-") and rule != "sch-kural":
        rule_id = rule[4:]
        text = _EN_RULES.get(rule_id)
        if text is not None:
            return f"GİB schematron rule {rule_id}: {text}"
        verb = "reported" if severity == "uyari" else "failed"
        return f"GİB schematron rule {rule_id} {verb}; GİB's message (Turkish) is in message_tr."
    if rule == "sch-kural":
        return "A GİB schematron rule without an id failed; GİB's message (Turkish) is in message_tr."
    text = _EN_TOOL.get(rule)
    if text is None:
        return f"Check {rule} failed; the Turkish message is in message_tr."
    m = _NUMBERS.search(message_tr)
    if m:
        return f"{text}: written {m.group(1)}, computed {m.group(2)}"
    return text


def raise_for_report(report: Report) -> None:
    """KopruError einvoice.invalid (422) listing the error findings, when there are any."""
    if report.valid:
        return
    if report.refused:
        raise KopruError(report.refused)
    raise KopruError("einvoice.invalid", errors=[
        {k: f[k] for k in ("rule", "location", "line", "severity", "message_tr", "message_en")}
        for f in report.errors
    ])
