"""The input model: GİB's rules refused early, each with its code; and the same mistakes
in a document refused by GİB's schematron with its finding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree
from pydantic import ValidationError

from kopru.einvoice import codes
from kopru.einvoice.models import Invoice
from kopru.einvoice.render import render
from kopru.einvoice.validate import validate
from kopru.errors import CATALOG, validation_error
from tests.einvoice.samples import CASES, CUSTOMER, PERSON, invoice, line

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def refused(body) -> str:
    """The single domain code a request body is refused with (as the API would answer)."""
    with pytest.raises(ValidationError) as exc:
        Invoice.model_validate(body)
    err = validation_error(exc.value, "en")
    assert err.code in CATALOG and err.code.startswith("einvoice."), err.errors
    assert err.http_status == 422
    return err.code


def test_the_issue_cases_are_accepted():
    for body in CASES.values():
        Invoice.model_validate(body)


@pytest.mark.parametrize("body,code", [
    # the common mistakes of issue 6
    (invoice(lines=[line(unit_code="ADET")]), "einvoice.unit_code_invalid"),
    (invoice(currency="USD"), "einvoice.exchange_rate_missing"),
    (invoice(profile="TICARIFATURA", type="IADE", billing_reference={"number": "KPR2026000000001",
                                                                      "date": "2026-11-01"}),
     "einvoice.iade_profile_invalid"),
    (invoice(number="KPR26000000001"), "einvoice.number_invalid"),
    (invoice(number="kpr2026000000001"), "einvoice.number_invalid"),
    (invoice(customer={**PERSON, "tckn": "1000000014"}), "einvoice.tckn_invalid"),
    # and the rest of the rules
    (invoice(customer={**PERSON, "tckn": "10000000147"}), "einvoice.tckn_invalid"),  # check digit
    (invoice(customer={**CUSTOMER, "vkn": "1234567019"}), "einvoice.vkn_invalid"),
    (invoice(customer={**CUSTOMER, "tax_office": None}), "einvoice.party_identity_invalid"),
    (invoice(customer={**PERSON, "vkn": "1234567026"}), "einvoice.party_identity_invalid"),
    (invoice(customer={**PERSON, "family_name": None}), "einvoice.party_identity_invalid"),
    (invoice(number="KPR2025000000001"), "einvoice.number_year_mismatch"),
    (invoice(currency="TL"), "einvoice.currency_invalid"),
    (invoice(exchange_rate="1"), "einvoice.exchange_rate_unexpected"),
    (invoice(currency="EUR", exchange_rate="36.1234567"), "einvoice.exchange_rate_invalid"),
    (invoice(type="IADE"), "einvoice.billing_reference_missing"),
    (invoice(profile="IHRACAT"), "einvoice.export_customer_unexpected"),  # the customs party is filled in
    (invoice(lines=[line(discount_rate="10", discount_amount="5.00")]), "einvoice.discount_conflict"),
    (invoice(lines=[line(discount_amount="100.01")]), "einvoice.discount_invalid"),
    (invoice(lines=[line(discount_amount="1.005")]), "einvoice.discount_invalid"),
    (invoice(lines=[line(kdv_rate="18.125")]), "einvoice.kdv_rate_invalid"),
    (invoice(type="TEVKIFAT"), "einvoice.withholding_missing"),
    (invoice(lines=[line(withholding_code="606")]), "einvoice.withholding_type_mismatch"),
    (invoice(type="TEVKIFAT", lines=[line(withholding_code="699")]), "einvoice.withholding_code_invalid"),
    (invoice(type="TEVKIFAT", lines=[line(withholding_code="603")]), "einvoice.withholding_rate_required"),
    (invoice(type="TEVKIFAT", lines=[line(withholding_code="606", withholding_rate="50")]),
     "einvoice.withholding_rate_invalid"),
    (invoice(lines=[line(kdv_rate="0")]), "einvoice.exemption_missing"),
    (invoice(lines=[line(kdv_rate="0", exemption_code="351")]), "einvoice.exemption_missing"),
    (invoice(lines=[line(kdv_rate="0", exemption_code="999", exemption_reason="x")]),
     "einvoice.exemption_code_invalid"),
    (invoice(lines=[line(kdv_rate="20", exemption_code="351", exemption_reason="x")]),
     "einvoice.exemption_unexpected"),
    (invoice(lines=[line(kdv_rate="0", exemption_code="301", exemption_reason="İhracat")]),
     "einvoice.exemption_type_mismatch"),  # an ISTISNA code on a SATIS invoice
    (invoice(notes=[""]), "einvoice.note_invalid"),
])
def test_refused_with_its_code(body, code):
    assert refused(body) == code


def test_kdv_zero_with_a_non_istisna_code_on_satis_is_fine():
    # 351 ("istisna olmayan diğer") is not tied to the ISTISNA type
    inv = Invoice.model_validate(invoice(lines=[line(kdv_rate="0", exemption_code="351",
                                                     exemption_reason="İstisna olmayan diğer")]))
    report = validate(render(inv))
    assert report.valid and not report.warnings


def test_error_text_never_echoes_the_input():
    with pytest.raises(ValidationError) as exc:
        Invoice.model_validate(invoice(customer={**PERSON, "tckn": "1000000014"}))
    body = validation_error(exc.value, "tr").problem("tr")
    assert "1000000014" not in repr(body)
    assert body["code"] == "einvoice.tckn_invalid" and body["errors"][0]["field"] == "customer.tckn"


def test_json_numbers_and_strings_are_exact_decimals():
    import json

    body = invoice(lines=[{**line(), "unit_price": 0.1, "quantity": 3}])
    inv = Invoice.model_validate_json(json.dumps(body))
    assert inv.lines[0].unit_price == Decimal("0.1")
    assert inv.totals().line_extension == Decimal("0.30")


@pytest.mark.parametrize("qty,price,rate,net,kdv", [
    ("1", "0.125", "20", "0.13", "0.03"),      # half-up on .5: 0.125 -> 0.13, 0.026 -> 0.03
    ("1", "0.145", "10", "0.15", "0.02"),      # 0.015 -> 0.02 (banker's: 0.14 and 0.02)
    ("3", "33.335", "1", "100.01", "1.00"),    # 100.005 -> 100.01; 1.0001 -> 1.00
    ("2.5", "4.01", "20", "10.03", "2.01"),    # 10.025 -> 10.03; 2.006 -> 2.01
])
def test_line_amounts_round_half_up(qty, price, rate, net, kdv):
    inv = Invoice.model_validate(invoice(lines=[line(quantity=qty, unit_price=price, kdv_rate=rate)]))
    a = inv.totals().lines[0]
    assert (a.net, a.kdv) == (Decimal(net), Decimal(kdv))


def test_totals_are_sums_of_rounded_lines():
    inv = Invoice.model_validate(invoice(lines=[line(quantity="1", unit_price="0.125", kdv_rate="20")] * 4))
    tot = inv.totals()
    assert tot.line_extension == Decimal("0.52")  # 4 × 0.13, not round(0.50)
    assert tot.kdv == Decimal("0.12")  # 4 × 0.03, not round(0.104)
    assert tot.payable == Decimal("0.64")


# -- the same mistakes in a document: GİB's schematron finds them -----------------------


def _mutated(case: str, change) -> bytes:
    root = etree.fromstring(render(Invoice.model_validate(CASES[case])))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _set(path, value=None, attr=None):
    def change(root):
        el = root.find(path, NS)
        if attr:
            el.set(attr, value)
        else:
            el.text = value
    return change


def _remove(path):
    def change(root):
        el = root.find(path, NS)
        el.getparent().remove(el)
    return change


@pytest.mark.parametrize("case,change,rule", [
    ("temel_satis", _set("cac:InvoiceLine/cbc:InvoicedQuantity", "ADET", "unitCode"), "sch-GeneralUnitCodeCheck-1"),
    ("usd", _remove("cac:PricingExchangeRate"), "sch-CurrencyCodeCheck-6"),
    ("iade", _set("cbc:ProfileID", "TICARIFATURA"), "sch-InvoiceTypeCodeCheck-2"),
    ("temel_satis", _set("cbc:ID", "KPR26000000001"), "sch-InvoiceIDCheck-1"),
    ("earsiv_tckn", _set("cac:AccountingCustomerParty/cac:Party/cac:PartyIdentification/cbc:ID", "1000000014"),
     "sch-PartyIdentificationTCKNVKNCheck-2"),
    ("tevkifat", _set("cbc:InvoiceTypeCode", "SATIS"), "sch-GeneralWithholdingTaxTotalCheck-1"),
    ("istisna", _set("cbc:InvoiceTypeCode", "SATIS"), "sch-TaxExemptionReasonCodeCheck-3"),
])
def test_document_mistakes_are_gibs_findings(case, change, rule):
    report = validate(_mutated(case, change))
    assert not report.valid
    assert rule in report.rules("error"), report.findings
    finding = next(f for f in report.findings if f["rule"] == rule)
    assert finding["severity"] == "error" and finding["source"] == "schematron"
    assert finding["message_tr"] and finding["message_en"].startswith("GİB schematron rule ")
    assert finding["location"].startswith("/inv:Invoice[1]")


def test_document_arithmetic_mistakes_are_warnings():
    report = validate(_mutated("temel_satis", _set("cac:LegalMonetaryTotal/cbc:PayableAmount", "999.99")))
    assert report.valid  # GİB's schematron does not do the arithmetic; efatura-kontrol warns
    (w,) = report.arithmetic_warnings
    assert w["rule"] == "hesap-dip-odenecek"
    assert w["message_en"] == ("Payable amount does not equal tax-inclusive amount − withholding + rounding: "
                               "written 999.99, computed 360.00")


def test_schema_order_errors_are_xsd_findings():
    def swap(root):
        uuid = root.find("cbc:UUID", NS)
        root.remove(uuid)
        root.insert(2, uuid)
    report = validate(_mutated("temel_satis", swap))
    assert not report.valid
    xsd = [f for f in report.errors if f["source"] == "xsd"]
    assert xsd and xsd[0]["message_en"].startswith("Schema (XSD) error: Element ")
    assert xsd[0]["message_tr"] == "Şema (XSD) hatası: " + xsd[0]["message_en"].removeprefix("Schema (XSD) error: ")


def test_code_lists_come_from_gibs_schematron_lists():
    assert "C62" in codes.unit_codes() and "KGM" in codes.unit_codes() and "ADET" not in codes.unit_codes()
    assert len(codes.unit_codes()) > 2000
    assert {"TRY", "USD", "EUR"} <= codes.currency_codes() and "TL" not in codes.currency_codes()
    rates = codes.withholding_rates()
    assert rates["606"] == (Decimal(90),) and rates["603"] == (Decimal(50), Decimal(70))
    assert rates["801"] == (Decimal(100),) and "650" not in rates  # 650 is not in GİB's WithholdingTaxType
    assert {"301", "351", "701", "801"} <= codes.exemption_codes()
    groups = codes.exemption_groups()
    assert "301" in groups["ISTISNA"] and "351" not in groups["ISTISNA"] and "801" in groups["OZELMATRAH"]
