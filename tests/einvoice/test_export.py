"""IHRACAT (export): the customs authority as the customer, the foreign buyer in
cac:BuyerCustomerParty, INCOTERMS, GTİP, package and transport mode on every line; GİB's
XSD and schematron pass it clean (signed too), and each missing export field is refused
with its own code before anything is rendered."""

from __future__ import annotations

import copy

import pytest
from lxml import etree
from pydantic import ValidationError

from kopru.einvoice import codes
from kopru.einvoice.models import CUSTOMS_VKN, Invoice
from kopru.einvoice.render import render
from kopru.einvoice.sign import load_signing_key, render_signed, test_certificate, verify
from kopru.einvoice.validate import validate
from kopru.errors import CATALOG, validation_error
from tests.einvoice.samples import CUSTOMER, EXPORT_BUYER, export_invoice, export_line, invoice, line

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def refused(body) -> str:
    with pytest.raises(ValidationError) as exc:
        Invoice.model_validate(body)
    err = validation_error(exc.value, "en")
    assert err.code in CATALOG and err.code.startswith("einvoice."), err.errors
    assert err.http_status == 422
    return err.code


def assert_clean(report):
    assert report.valid, report.errors
    assert report.errors == [] and report.warnings == [] and report.arithmetic_warnings == [], report.findings


def test_ihracat_renders_and_validates_clean():
    inv = Invoice.model_validate(export_invoice())
    report = validate(render(inv))
    assert_clean(report)
    assert report.profile == "IHRACAT" and report.type == "ISTISNA" and report.kind == "fatura"
    assert [f["rule"] for f in report.findings] == ["imza-yok"]


def test_ihracat_document_parties_and_lines():
    root = etree.fromstring(render(Invoice.model_validate(export_invoice())))
    acp = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert acp.findtext("cac:PartyIdentification/cbc:ID", namespaces=NS) == CUSTOMS_VKN
    assert acp.find("cac:PartyIdentification/cbc:ID", NS).get("schemeID") == "VKN"
    buyer = root.find("cac:BuyerCustomerParty/cac:Party", NS)
    bid = buyer.find("cac:PartyIdentification/cbc:ID", NS)
    assert (bid.text, bid.get("schemeID")) == ("EXPORT", "PARTYTYPE")
    assert buyer.findtext("cac:PartyLegalEntity/cbc:RegistrationName", namespaces=NS) == EXPORT_BUYER["name"]
    assert buyer.findtext("cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS) == "DE123456789"
    assert buyer.findtext("cac:PostalAddress/cac:Country/cbc:IdentificationCode", namespaces=NS) == "DE"
    # BuyerCustomerParty right after AccountingCustomerParty (schema order)
    assert root.find("cac:AccountingCustomerParty", NS).getnext() is root.find("cac:BuyerCustomerParty", NS)
    for ln in root.findall("cac:InvoiceLine", NS):
        d = ln.find("cac:Delivery", NS)
        assert [etree.QName(c).localname for c in d] == ["DeliveryAddress", "DeliveryTerms", "Shipment"]
        terms = d.find("cac:DeliveryTerms/cbc:ID", NS)
        assert (terms.text, terms.get("schemeID")) == ("FOB", "INCOTERMS")
        sh = d.find("cac:Shipment", NS)
        assert len(sh.findtext("cac:GoodsItem/cbc:RequiredCustomsID", namespaces=NS)) == 12
        assert sh.findtext("cac:ShipmentStage/cbc:TransportModeCode", namespaces=NS) == "3"
        assert sh.findtext("cac:TransportHandlingUnit/cac:ActualPackage/cbc:PackagingTypeCode", namespaces=NS) == "CT"
        assert ln.find("cbc:LineExtensionAmount", NS).getnext() is d
        sub = ln.find("cac:TaxTotal/cac:TaxSubtotal", NS)
        assert sub.findtext("cbc:Percent", namespaces=NS) == "0"
        assert sub.findtext("cac:TaxCategory/cbc:TaxExemptionReasonCode", namespaces=NS) == "301"


def test_ihracat_signed_validates_and_verifies():
    tc = test_certificate()
    signed = render_signed(Invoice.model_validate(export_invoice()), load_signing_key(tc.p12, tc.password)).xml
    report = validate(signed)
    assert_clean(report)
    assert [f["rule"] for f in report.findings] == ["imza-var"]
    assert verify(signed, tc.certificate).signing_time


def test_ihracat_in_try_and_without_optional_fields():
    buyer = copy.deepcopy(EXPORT_BUYER)
    buyer.pop("tax_id")
    buyer["address"] = {"street": "1 Main St", "city": "Baku", "country_code": "AZ"}
    body = export_invoice(currency="TRY", exchange_rate=None, buyer=buyer,
                          lines=[export_line(package={"type_code": "PX", "quantity": 1}, transport_mode="4",
                                             delivery_terms="EXW")])
    assert_clean(validate(render(Invoice.model_validate(body))))


def _without(field):
    ln = export_line()
    ln.pop(field)
    return export_invoice(lines=[export_line(), ln])


@pytest.mark.parametrize("body,code", [
    (_without("delivery_terms"), "einvoice.delivery_terms_missing"),
    (_without("gtip"), "einvoice.gtip_missing"),
    (_without("package"), "einvoice.package_missing"),
    (_without("transport_mode"), "einvoice.transport_mode_missing"),
    (export_invoice(buyer=None), "einvoice.export_buyer_missing"),
    (export_invoice(buyer={**EXPORT_BUYER, "address": {**EXPORT_BUYER["address"], "country_code": "TR"}}),
     "einvoice.export_buyer_country_invalid"),
    (export_invoice(buyer={**EXPORT_BUYER, "address": {**EXPORT_BUYER["address"], "country_code": "XX"}}),
     "einvoice.export_buyer_country_invalid"),
    (export_invoice(lines=[export_line(gtip="61091000")]), "einvoice.gtip_invalid"),
    (export_invoice(lines=[export_line(gtip="6109100000111")]), "einvoice.gtip_invalid"),
    (export_invoice(lines=[export_line(gtip="6109.10.00.00")]), "einvoice.gtip_invalid"),
    (export_invoice(lines=[export_line(delivery_terms="FOBB")]), "einvoice.delivery_terms_invalid"),
    (export_invoice(lines=[export_line(package={"type_code": "KOLI", "quantity": 1})]),
     "einvoice.package_type_invalid"),
    (export_invoice(lines=[export_line(transport_mode="10")]), "einvoice.transport_mode_invalid"),
    (export_invoice(customer=copy.deepcopy(CUSTOMER)), "einvoice.export_customer_unexpected"),
    (export_invoice(type="SATIS"), "einvoice.export_type_invalid"),
    (export_invoice(lines=[export_line(kdv_rate="20", exemption_code=None, exemption_reason=None)]),
     "einvoice.export_exemption_invalid"),
    (export_invoice(lines=[export_line(exemption_code="302", exemption_reason="Hizmet ihracatı")]),
     "einvoice.export_exemption_invalid"),
    # export data outside IHRACAT, and a customer everywhere else
    (invoice(buyer=copy.deepcopy(EXPORT_BUYER)), "einvoice.export_fields_unexpected"),
    (invoice(lines=[line(gtip="610910000011")]), "einvoice.export_fields_unexpected"),
    (invoice(customer=None), "einvoice.customer_missing"),
])
def test_export_input_refused_with_its_code(body, code):
    assert refused(body) == code


def _mutated(change) -> bytes:
    root = etree.fromstring(render(Invoice.model_validate(export_invoice())))
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _remove_all(path):
    def change(root):
        for el in root.findall(path, NS):
            el.getparent().remove(el)
    return change


@pytest.mark.parametrize("path,rule", [
    ("cac:BuyerCustomerParty", "sch-IhracatYolcuBeraberCheck-4"),
    ("cac:BuyerCustomerParty/cac:Party/cac:PartyLegalEntity", "sch-OfficelTitleCheck-1"),
    ("cac:InvoiceLine/cac:Delivery/cac:DeliveryTerms", "sch-LineDeliveryCheck-1"),
    ("cac:InvoiceLine/cac:Delivery/cac:DeliveryAddress", "sch-LineDeliveryCheck-2"),
    ("cac:InvoiceLine/cac:Delivery/cac:Shipment/cac:ShipmentStage", "sch-LineDeliveryCheck-3"),
    ("cac:InvoiceLine/cac:Delivery/cac:Shipment/cac:GoodsItem", "sch-LineDeliveryCheck-4"),
    ("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", "sch-PartyVDCheck-1"),
])
def test_what_the_model_requires_is_what_gibs_schematron_checks(path, rule):
    report = validate(_mutated(_remove_all(path)))
    assert not report.valid and rule in report.rules("error"), report.findings


def test_export_code_lists_come_from_gibs_schematron_lists():
    assert {"EXW", "FCA", "FOB", "CIF", "DAP"} <= codes.delivery_terms() and "FOBB" not in codes.delivery_terms()
    assert {"BX", "CT", "PK", "PX"} <= codes.package_type_codes()
    assert codes.transport_modes() == frozenset(str(i) for i in range(10))
