"""Issue 6's documents: rendered, validated with GİB's XSD + schematron + arithmetic, signed, verified."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from kopru.einvoice.models import Invoice
from kopru.einvoice.render import render, render_document
from kopru.einvoice.sign import load_signing_key, render_signed, sign, test_certificate, verify
from kopru.einvoice.validate import validate
from kopru.errors import KopruError
from tests.einvoice.samples import BUYER_TCKN, CASES, SUPPLIER_VKN, invoice, line, ten_lines

NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}


def x(doc: bytes | etree._Element, path: str) -> list:
    root = etree.fromstring(doc) if isinstance(doc, bytes) else doc
    return root.xpath(path, namespaces=NS)


def t(doc, path: str) -> str:
    found = x(doc, path)
    assert len(found) == 1, (path, found)
    return found[0] if isinstance(found[0], str) else found[0].text


def assert_clean(report) -> None:
    """Zero errors and zero warnings (arithmetic or other)."""
    assert report.valid, report.errors
    assert report.errors == [] and report.warnings == [], report.findings
    assert report.arithmetic_warnings == []


@pytest.fixture(scope="module")
def key():
    tc = test_certificate()
    return load_signing_key(tc.p12, tc.password)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_renders_and_validates_clean(case):
    inv = Invoice.model_validate(CASES[case])
    report = validate(render(inv))
    assert_clean(report)
    assert report.profile == inv.profile and report.type == inv.type
    assert report.kind == ("earsiv" if inv.profile == "EARSIVFATURA" else "fatura")
    # unsigned: GİB's note that the document is a draft, nothing more
    assert [f["rule"] for f in report.findings] == ["imza-yok"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_case_signed_validates_and_verifies(case, key):
    inv = Invoice.model_validate(CASES[case])
    signed = render_signed(inv, key).xml
    report = validate(signed)
    assert_clean(report)
    assert [f["rule"] for f in report.findings] == ["imza-var"]
    verified = verify(signed, test_certificate().certificate)
    assert verified.signing_time and verified.signed_xml.tag == f"{{{NS['inv']}}}Invoice"


def test_header_in_schema_order_with_ettn_and_number():
    inv = Invoice.model_validate(CASES["temel_satis"])
    ettn = "6f1d2a1e-9d3b-4c47-8a57-2f3f2f3f2f3f"
    doc = render_document(inv, ettn=ettn, number="ABC2026000000042")
    root = etree.fromstring(doc.xml)
    head = [etree.QName(c).localname for c in root][:13]
    assert head == ["UBLExtensions", "UBLVersionID", "CustomizationID", "ProfileID", "ID", "CopyIndicator", "UUID",
                    "IssueDate", "IssueTime", "InvoiceTypeCode", "Note", "DocumentCurrencyCode", "LineCountNumeric"]
    assert (t(root, "cbc:UBLVersionID"), t(root, "cbc:CustomizationID")) == ("2.1", "TR1.2")
    assert (t(root, "cbc:ID"), t(root, "cbc:UUID"), doc.uuid, doc.number) == (
        "ABC2026000000042", ettn, ettn, "ABC2026000000042")
    assert t(root, "cbc:CopyIndicator") == "false"
    # the signature placeholder, and who signs
    assert len(x(root, "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/*")) == 1
    assert t(root, "cac:Signature/cbc:ID") == SUPPLIER_VKN
    assert t(root, "cac:Signature/cbc:ID/@schemeID") == "VKN_TCKN"
    assert t(root, "cac:Signature/cac:DigitalSignatureAttachment/cac:ExternalReference/cbc:URI") == \
        "#Signature_ABC2026000000042"


def test_a_new_ettn_each_time_unless_given():
    inv = Invoice.model_validate(CASES["temel_satis"])
    a, b = render_document(inv), render_document(inv)
    assert a.uuid != b.uuid and len(a.uuid) == 36
    fixed = Invoice.model_validate({**CASES["temel_satis"], "uuid": "6f1d2a1e-9d3b-4c47-8a57-2f3f2f3f2f3f"})
    assert render_document(fixed).uuid == "6f1d2a1e-9d3b-4c47-8a57-2f3f2f3f2f3f"


def test_several_rates_and_discounts_amounts():
    inv = Invoice.model_validate(CASES["satis_rates_discount"])
    doc = render(inv)
    # per line: 10 × 12.50 = 125.00 at 1 %; 480.00 − 15 % = 408.00 at 10 %;
    # 32000 − 1500 = 30500.00 at 20 %; 12.5 × 18.40 = 230.00 at 20 %
    subtotals = {t(s, "cbc:Percent"): (t(s, "cbc:TaxableAmount"), t(s, "cbc:TaxAmount"))
                 for s in x(doc, "/inv:Invoice/cac:TaxTotal/cac:TaxSubtotal")}
    assert subtotals == {"1": ("125.00", "1.25"), "10": ("408.00", "40.80"), "20": ("30730.00", "6146.00")}
    assert t(doc, "/inv:Invoice/cac:TaxTotal/cbc:TaxAmount") == "6188.05"
    lmt = "/inv:Invoice/cac:LegalMonetaryTotal/"
    assert [t(doc, lmt + f"cbc:{n}") for n in ("LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount",
                                                "PayableAmount")] == ["31263.00", "31263.00", "37451.05", "37451.05"]
    assert x(doc, lmt + "cbc:AllowanceTotalAmount") == []  # line discounts are inside the line amounts
    book = x(doc, "/inv:Invoice/cac:InvoiceLine[2]/cac:AllowanceCharge")[0]
    assert [t(book, f"cbc:{n}") for n in ("ChargeIndicator", "MultiplierFactorNumeric", "Amount", "BaseAmount")] == \
        ["false", "0.15", "72.00", "480.00"]
    laptop = x(doc, "/inv:Invoice/cac:InvoiceLine[3]/cac:AllowanceCharge")[0]
    assert x(laptop, "cbc:MultiplierFactorNumeric") == [] and t(laptop, "cbc:Amount") == "1500.00"
    assert t(doc, "/inv:Invoice/cac:InvoiceLine[4]/cbc:InvoicedQuantity/@unitCode") == "MTR"
    assert t(doc, "/inv:Invoice/cbc:Note[1]") == \
        "YALNIZ: OTUZYEDİBİNDÖRTYÜZELLİBİR TÜRK LİRASI BEŞ KURUŞ"


def test_withholding_total_and_payable():
    doc = render(Invoice.model_validate(CASES["tevkifat"]))
    wt = x(doc, "/inv:Invoice/cac:WithholdingTaxTotal")[0]
    assert t(wt, "cbc:TaxAmount") == "2500.00"  # 2000 × 90 % + 1000 × 70 %
    by_code = {t(s, "cac:TaxCategory/cac:TaxScheme/cbc:TaxTypeCode"): (t(s, "cbc:TaxableAmount"), t(s, "cbc:Percent"),
                                                                       t(s, "cbc:TaxAmount"))
               for s in x(wt, "cac:TaxSubtotal")}
    assert by_code == {"606": ("2000.00", "90", "1800.00"), "603": ("1000.00", "70", "700.00")}
    assert t(doc, "/inv:Invoice/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == "18000.00"
    assert t(doc, "/inv:Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount") == "15500.00"
    assert t(doc, "/inv:Invoice/cac:InvoiceLine[1]/cac:WithholdingTaxTotal/cbc:TaxAmount") == "1800.00"


def test_exemption_reason_where_kdv_is_zero():
    doc = render(Invoice.model_validate(CASES["istisna"]))
    for cat in x(doc, "//cac:TaxSubtotal[cac:TaxCategory/cac:TaxScheme/cbc:TaxTypeCode='0015']/cac:TaxCategory"):
        assert t(cat, "cbc:TaxExemptionReasonCode") == "301"
        assert t(cat, "cbc:TaxExemptionReason") == "11/1-a Mal ihracatı"
    assert t(doc, "/inv:Invoice/cac:TaxTotal/cbc:TaxAmount") == "0.00"
    assert t(doc, "/inv:Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount") == "4500.00"


def test_iade_billing_reference():
    doc = render(Invoice.model_validate(CASES["iade"]))
    ref = x(doc, "/inv:Invoice/cac:BillingReference/cac:InvoiceDocumentReference")[0]
    assert (t(ref, "cbc:ID"), t(ref, "cbc:IssueDate"), t(ref, "cbc:DocumentTypeCode")) == \
        ("KPR2026000000001", "2026-11-10", "IADE")


def test_usd_exchange_rate_block_and_notes():
    doc = render(Invoice.model_validate(CASES["usd"]))
    assert t(doc, "/inv:Invoice/cbc:DocumentCurrencyCode") == "USD"
    rate = x(doc, "/inv:Invoice/cac:PricingExchangeRate")[0]
    assert [t(rate, f"cbc:{n}") for n in ("SourceCurrencyCode", "TargetCurrencyCode", "CalculationRate", "Date")] == \
        ["USD", "TRY", "34.5678", "2026-11-20"]
    assert set(x(doc, "//@currencyID")) == {"USD"}
    notes = [n.text for n in x(doc, "/inv:Invoice/cbc:Note")]
    assert notes[0] == "YALNIZ: BİNİKİYÜZ ABD DOLARI SIFIR SENT"
    assert notes[1] == "YALNIZ: KIRKBİRBİNDÖRTYÜZSEKSENBİR TÜRK LİRASI OTUZALTI KURUŞ"  # 1200 × 34.5678


def test_earsiv_to_a_person():
    doc = render(Invoice.model_validate(CASES["earsiv_tckn"]))
    party = x(doc, "/inv:Invoice/cac:AccountingCustomerParty/cac:Party")[0]
    assert t(party, "cac:PartyIdentification/cbc:ID") == BUYER_TCKN
    assert t(party, "cac:PartyIdentification/cbc:ID/@schemeID") == "TCKN"
    assert (t(party, "cac:Person/cbc:FirstName"), t(party, "cac:Person/cbc:FamilyName")) == ("Ayşe", "Yılmaz")
    assert x(party, "cac:PartyName") == []
    adr = x(doc, "/inv:Invoice/cac:AdditionalDocumentReference")[0]
    assert (t(adr, "cbc:ID"), t(adr, "cbc:DocumentTypeCode")) == ("ELEKTRONIK", "SEND_TYPE")


def test_ten_lines_clean(key):
    inv = Invoice.model_validate(ten_lines())
    assert len(inv.lines) == 10
    assert_clean(validate(render_signed(inv, key).xml))


# -- signatures ----------------------------------------------------------------------


def test_signature_structure_is_what_gib_checks(key):
    signed = render_signed(Invoice.model_validate(CASES["temel_satis"]), key).xml
    sigs = x(signed, "/inv:Invoice/ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/ds:Signature")
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.get("Id") == "Signature_KPR2026000000001"
    assert t(sig, "ds:SignedInfo/ds:SignatureMethod/@Algorithm") == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    whole = x(sig, "ds:SignedInfo/ds:Reference[@URI='']")
    assert len(whole) == 1
    assert x(whole[0], "ds:Transforms/ds:Transform/@Algorithm") == \
        ["http://www.w3.org/2000/09/xmldsig#enveloped-signature"]
    assert len(x(sig, "ds:SignedInfo/ds:Reference")) == 3  # document, SignedProperties, KeyInfo
    props = "ds:Object/xades:QualifyingProperties/xades:SignedProperties/xades:SignedSignatureProperties/"
    assert x(sig, props + "xades:SigningTime")
    assert x(sig, props + "xades:SigningCertificate/xades:Cert/xades:CertDigest/ds:DigestValue")
    assert x(sig, props + "xades:SigningCertificate/xades:Cert/xades:IssuerSerial/ds:X509SerialNumber")
    assert x(sig, props + "xades:SigningCertificateV2") == []  # XAdES 1.4.1 form: not in GİB's schema
    assert x(sig, "ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    # no placeholder left
    assert b"auto-generated_for_wildcard" not in signed


def test_sign_bytes_equals_render_signed_route():
    tc = test_certificate()
    inv = Invoice.model_validate(CASES["ticari_satis"])
    signed = sign(render(inv), tc.p12, tc.password)
    assert_clean(validate(signed))
    verify(signed, tc.certificate_pem)


def test_a_tampered_document_fails_verification(key):
    tc = test_certificate()
    signed = render_signed(Invoice.model_validate(CASES["temel_satis"]), key).xml
    verify(signed, tc.certificate)
    for old, new in ((b">300.00<", b">3000.00<"), ("Alıcı Ticaret".encode(), "Alici Ticaret".encode()),
                     (b"<cbc:IssueDate>2026-11-20", b"<cbc:IssueDate>2026-11-21")):
        assert old in signed
        with pytest.raises(KopruError) as exc:
            verify(signed.replace(old, new, 1), tc.certificate)
        assert exc.value.code == "einvoice.signature_invalid"
    # and the schematron alone would not notice: only the cryptographic check does
    assert validate(signed.replace(b"<cbc:IssueDate>2026-11-20", b"<cbc:IssueDate>2026-11-21", 1)).valid


def test_signed_by_another_certificate_fails_verification():
    other = test_certificate(vkn="1234567034")
    signed = sign(render(Invoice.model_validate(CASES["temel_satis"])), other.p12, other.password)
    with pytest.raises(KopruError) as exc:
        verify(signed, test_certificate().certificate)
    assert exc.value.code == "einvoice.signature_invalid"
    verify(signed, other.certificate)


def test_signing_refusals():
    tc = test_certificate()
    xml = render(Invoice.model_validate(CASES["temel_satis"]))
    with pytest.raises(KopruError) as exc:
        sign(xml, tc.p12, b"wrong password")
    assert exc.value.code == "einvoice.certificate_invalid"
    with pytest.raises(KopruError) as exc:
        sign(xml, b"not a pkcs12", tc.password)
    assert exc.value.code == "einvoice.certificate_invalid"
    signed = sign(xml, tc.p12, tc.password)
    with pytest.raises(KopruError) as exc:
        sign(signed, tc.p12, tc.password)
    assert exc.value.code == "einvoice.already_signed"
    import datetime as dt

    later = tc.certificate.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(KopruError) as exc:
        sign(xml, tc.p12, tc.password, signing_time=later)
    assert exc.value.code == "einvoice.certificate_expired"
    with pytest.raises(KopruError) as exc:
        sign(b"<a/>", tc.p12, tc.password)
    assert exc.value.code == "einvoice.xml_not_ubl_tr"


def test_sign_adds_the_extension_block_when_a_document_has_none():
    tc = test_certificate()
    root = etree.fromstring(render(Invoice.model_validate(CASES["temel_satis"])))
    root.remove(root[0])  # an integrator-style document without ext:UBLExtensions
    bare = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert not validate(bare).valid  # GİB's XSD wants the extensions
    signed = sign(bare, tc.p12, tc.password)
    assert_clean(validate(signed))
    verify(signed, tc.certificate)


def test_validation_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    docs = [render(Invoice.model_validate(c)) for c in CASES.values()] * 3
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(validate, docs))
    assert all(r.valid and not r.warnings for r in reports)


def test_line_rounding_reaches_the_document_half_up():
    # 3 lines of 1 × 10.005: each line 10.01 (half-up; banker's rounding would give 10.00),
    # the total is the sum of rounded lines: 30.03 (not round(30.015) = 30.02)
    inv = Invoice.model_validate(invoice(lines=[line(quantity="1", unit_price="10.005", kdv_rate="10")] * 3))
    doc = render(inv)
    assert [n.text for n in x(doc, "/inv:Invoice/cac:InvoiceLine/cbc:LineExtensionAmount")] == ["10.01"] * 3
    assert t(doc, "/inv:Invoice/cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == "30.03"
    assert t(doc, "/inv:Invoice/cac:TaxTotal/cbc:TaxAmount") == "3.00"  # 3 × round(1.001)
    assert inv.totals().payable == Decimal("33.03")
    assert_clean(validate(doc))


def test_no_future_issue_date_is_judged_in_turkeys_time(key):
    """GİB's TimeCheck-1 runs on Türkiye's date, whatever the process's zone: an invoice dated
    the 21st is good from 00:00 in Istanbul (21:00 UTC on the 20th), and refused before that."""
    import datetime as dt

    signed = render_signed(Invoice.model_validate(CASES["temel_satis"]), key).xml
    dated_21st = signed.replace(b"<cbc:IssueDate>2026-11-20", b"<cbc:IssueDate>2026-11-21", 1)
    utc = dt.timezone.utc
    just_after = dt.datetime(2026, 11, 20, 21, 0, 1, tzinfo=utc)  # 00:00:01 on the 21st in Istanbul
    just_before = dt.datetime(2026, 11, 20, 20, 59, 59, tzinfo=utc)  # 23:59:59 on the 20th in Istanbul
    assert validate(dated_21st, now=just_after).valid
    report = validate(dated_21st, now=just_before)
    assert not report.valid
    [f] = [f for f in report.findings if f["severity"] == "error"]
    assert (f["rule"], f["source"], f["location"]) == ("sch-TimeCheck-1", "schematron", "/inv:Invoice[1]/cbc:IssueDate[1]")
    assert "2026-11-21" in f["message_tr"] and f["line"] and f["message_en"] and f["fix_tr"]
    # a date with its own zone compares as XPath compares dates, by the instant it starts: the
    # 21st in UTC starts after the 21st in Istanbul, so it is still "future" on Istanbul's 21st
    zoned = signed.replace(b"<cbc:IssueDate>2026-11-20", b"<cbc:IssueDate>2026-11-21Z", 1)
    assert {f["rule"] for f in validate(zoned, now=just_after).findings if f["severity"] == "error"} == {"sch-TimeCheck-1"}
    assert not [f for f in validate(zoned, now=dt.datetime(2026, 11, 21, 21, 0, 1, tzinfo=utc)).findings
                if f["rule"] == "sch-TimeCheck-1"]


def test_the_stylesheets_own_clock_does_not_decide_the_issue_date(key):
    """SaxonC's current-date() is the process's (real clock, its zone): a document dated two days
    ahead is future to it, but judged at an instant when that day has begun in Istanbul it is not."""
    import datetime as dt

    ahead = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)
    signed = render_signed(Invoice.model_validate(CASES["temel_satis"]), key).xml
    doc = signed.replace(b"<cbc:IssueDate>2026-11-20", b"<cbc:IssueDate>" + ahead.isoformat().encode(), 1)
    assert not validate(doc).valid  # now: two days ahead
    then = dt.datetime(ahead.year, ahead.month, ahead.day, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert validate(doc, now=then).valid
