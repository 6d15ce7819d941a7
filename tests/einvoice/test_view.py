"""Issue 17's invoice side: the internet sale on an e-Arşiv invoice (GİB's XSD + schematron),
the display XSLT every document carries, the HTML view it makes (hostile stylesheets refused,
never reading a file or the network), and the signed, expiring link einvoice-submit serves."""

from __future__ import annotations

import base64
import copy
import time
import uuid

import pytest
from lxml import etree
from pydantic import ValidationError

from kopru.einvoice.models import Invoice
from kopru.einvoice.render import kopru_xslt, render
from kopru.einvoice.sign import load_signing_key, render_signed, test_certificate
from kopru.einvoice.validate import validate
from kopru.einvoice.view import TOKEN_CHARS, make_token, read_token, render_html, view_link
from kopru.errors import CATALOG, KopruError, validation_error
from tests.einvoice.samples import CASES, PERSON, invoice, line
from tests.einvoice.test_render_validate import NS, assert_clean, t, x

WEBSITE = "https://magaza.example.com.tr/siparis/1042"
SALE = {"website": WEBSITE, "payment_means": "ODEMEARACISI", "payment_agent": "iyzico",
        "payment_date": "2026-11-20", "shipment_date": "2026-11-21",
        "carrier_name": "Hızlı Kargo A.Ş.", "carrier_tax_number": "1234567026"}


def earsiv(**sale) -> dict:
    return invoice(profile="EARSIVFATURA", number="ARS2026000000042", customer=copy.deepcopy(PERSON),
                   lines=[line(name="Kulaklık", quantity="1", unit_price="899.90"),
                          line(name="Kargo bedeli", quantity="1", unit_price="50.00")],
                   internet_sale={**SALE, **sale})


@pytest.fixture(scope="module")
def key():
    tc = test_certificate()
    return load_signing_key(tc.p12, tc.password)


# -- the internet sale ------------------------------------------------------------------------

def test_internet_sale_to_a_person_passes_gibs_xsd_and_schematron(key):
    inv = Invoice.model_validate(earsiv())
    xml = render(inv)
    report = validate(xml)
    assert_clean(report)
    assert report.kind == "earsiv" and report.profile == "EARSIVFATURA"
    assert [f["rule"] for f in report.findings] == ["imza-yok"]
    signed = render_signed(inv, key).xml
    report = validate(signed)
    assert_clean(report)
    assert [f["rule"] for f in report.findings] == ["imza-var"]

    refs = {r.findtext(f"{{{NS['cbc']}}}DocumentTypeCode"): r.findtext(f"{{{NS['cbc']}}}ID")
            for r in x(xml, "/inv:Invoice/cac:AdditionalDocumentReference")}
    assert refs["SEND_TYPE"] == "ELEKTRONIK" and refs["IS_INTERNET"] == "INTERNET"
    assert refs["INT_WEBSITE"] == WEBSITE and refs["INT_PAYMENT_METHOD"] == "ODEMEARACISI"
    assert refs["INT_PAYMENTDATE"] == "2026-11-20"
    assert t(xml, "/inv:Invoice/cac:AccountingSupplierParty/cac:Party/cbc:WebsiteURI") == WEBSITE
    assert t(xml, "/inv:Invoice/cac:PaymentMeans/cbc:PaymentMeansCode") == "1"
    assert t(xml, "/inv:Invoice/cac:PaymentMeans/cbc:PaymentDueDate") == "2026-11-20"
    assert t(xml, "/inv:Invoice/cac:PaymentMeans/cbc:PaymentChannelCode") == "iyzico"
    assert t(xml, "/inv:Invoice/cac:PaymentMeans/cbc:InstructionNote") == "ODEMEARACISI"
    carrier = "/inv:Invoice/cac:Delivery/cac:CarrierParty"
    assert t(xml, f"{carrier}/cac:PartyIdentification/cbc:ID") == "1234567026"
    assert t(xml, f"{carrier}/cac:PartyIdentification/cbc:ID/@schemeID") == "VKN"
    assert t(xml, f"{carrier}/cac:PartyName/cbc:Name") == "Hızlı Kargo A.Ş."
    assert t(xml, "/inv:Invoice/cac:Delivery/cac:Despatch/cbc:ActualDespatchDate") == "2026-11-21"


@pytest.mark.parametrize("sale,means", [
    # a card payment, a person carrier with an address
    ({"payment_means": "KREDIKARTI/BANKAKARTI", "payment_agent": None, "carrier_tax_number": "10000000146",
      "carrier_name": "Ali Kurye", "carrier_address": {"district": "Kadıköy", "city": "İstanbul"}}, "48"),
    # a virtual good: no shipment, no carrier, no cac:Delivery
    ({"payment_means": "EFT/HAVALE", "payment_agent": None, "shipment_date": None, "carrier_name": None,
      "carrier_tax_number": None}, "46"),
    # cash on delivery: paid later, no payment date
    ({"payment_means": "KAPIDAODEME", "payment_agent": None, "payment_date": None}, "10"),
    ({"payment_means": "DIGER", "payment_agent": None}, "1"),
])
def test_each_payment_type_validates_clean(sale, means):
    xml = render(Invoice.model_validate(earsiv(**sale)))
    assert_clean(validate(xml))
    assert t(xml, "/inv:Invoice/cac:PaymentMeans/cbc:PaymentMeansCode") == means
    assert bool(x(xml, "/inv:Invoice/cac:Delivery")) == (sale.get("shipment_date", "x") is not None)


def refused(body) -> str:
    with pytest.raises(ValidationError) as exc:
        Invoice.model_validate(body)
    err = validation_error(exc.value, "en")
    assert err.code in CATALOG and err.http_status == 422, err.errors
    assert CATALOG[err.code].tr and CATALOG[err.code].en
    return err.code


@pytest.mark.parametrize("body,code", [
    # e-Arşiv only: an e-Fatura profile is refused with its own code
    ({**CASES["temel_satis"], "internet_sale": SALE}, "einvoice.internet_sale_profile_invalid"),
    ({**CASES["ticari_satis"], "internet_sale": SALE}, "einvoice.internet_sale_profile_invalid"),
    (earsiv(website="ftp://magaza.example.com"), "einvoice.internet_sale_website_invalid"),
    (earsiv(website="javascript:alert(1)"), "einvoice.internet_sale_website_invalid"),
    (earsiv(website="https://"), "einvoice.internet_sale_website_invalid"),
    (earsiv(website="https://magaza.example.com/a b"), "einvoice.internet_sale_website_invalid"),
    (earsiv(payment_agent=None), "einvoice.internet_sale_agent_missing"),
    (earsiv(payment_means="KREDIKARTI/BANKAKARTI", payment_date=None), "einvoice.internet_sale_payment_date_missing"),
    (earsiv(carrier_tax_number="1234567891"), "einvoice.internet_sale_carrier_invalid"),
    (earsiv(carrier_tax_number="12345678901"), "einvoice.internet_sale_carrier_invalid"),
    (earsiv(carrier_tax_number="123456789"), "einvoice.internet_sale_carrier_invalid"),
    (earsiv(carrier_tax_number=None), "einvoice.internet_sale_carrier_incomplete"),
    (earsiv(carrier_name=None), "einvoice.internet_sale_carrier_incomplete"),
    (earsiv(shipment_date=None), "einvoice.internet_sale_carrier_incomplete"),
])
def test_internet_sale_mistakes_are_refused_with_their_code(body, code):
    assert refused(body) == code


def test_payment_types_are_gibs_five():
    with pytest.raises(ValidationError):
        Invoice.model_validate(earsiv(payment_means="KREDIKARTI"))


# -- the embedded stylesheet ------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_every_document_carries_kopru_xslt(case):
    inv = Invoice.model_validate(CASES[case])
    xml = render(inv)
    refs = x(xml, "/inv:Invoice/cac:AdditionalDocumentReference[cbc:DocumentType = 'XSLT']")
    assert len(refs) == 1
    obj = refs[0].find(f"{{{NS['cac']}}}Attachment/{{{NS['cbc']}}}EmbeddedDocumentBinaryObject")
    assert obj.get("mimeCode") == "application/xml" and obj.get("filename") == f"{inv.number}.xslt"
    assert obj.get("encodingCode") == "Base64" and obj.get("characterSetCode") == "UTF-8"
    assert base64.b64decode(obj.text) == kopru_xslt()


def test_kopru_xslt_is_a_clean_xslt_1_stylesheet():
    doc = etree.fromstring(kopru_xslt())
    xsl = "http://www.w3.org/1999/XSL/Transform"
    assert doc.tag == f"{{{xsl}}}stylesheet" and doc.get("version") == "1.0"
    # nothing outside the document: no import/include, no document(), no script, no image, no link
    assert not doc.xpath("//xsl:import | //xsl:include", namespaces={"xsl": xsl})
    # what the stylesheet says (attribute values, text, element names), not its namespace declarations
    said = " ".join([*doc.xpath("//@*"), *doc.xpath("//text()"), *(etree.QName(e).localname for e in doc.iter(etree.Element))])
    for banned in ("document(", "script", "img", "http:", "https:", "url(", "unparsed-text", "system-property"):
        assert banned not in said, banned
    etree.XSLT(doc)  # compiles


def test_html_shows_the_invoice():
    inv = Invoice.model_validate(earsiv())
    html = render_html(render(inv))
    for shown in ("ARS2026000000042", "Ayşe Yılmaz", "Köprü Yazılım Ltd. Şti.", WEBSITE, "ODEMEARACISI", "iyzico",
                  "20.11.2026", "21.11.2026", "Hızlı Kargo A.Ş.", "Kulaklık", "Kargo bedeli", "İnternet Satışı",
                  "Ödenecek Tutar", "1.139,88 TRY", "949,90 TRY", "189,98 TRY", "KDV (%20)", "YALNIZ:",
                  ):
        assert shown in html, shown
    assert html.lstrip().lower().startswith("<!doctype html>")
    ettn = t(render(inv, ettn="6f1d2a1e-9d3b-4c47-8a57-2f3f2f3f2f3f"), "/inv:Invoice/cbc:UUID")
    assert ettn in render_html(render(inv, ettn=ettn))


def test_html_of_a_document_without_a_stylesheet_uses_kopru_xslt():
    xml = render(Invoice.model_validate(CASES["tevkifat"]))
    root = etree.fromstring(xml)
    for ref in root.xpath("cac:AdditionalDocumentReference[cbc:DocumentType = 'XSLT']", namespaces=NS):
        root.remove(ref)
    html = render_html(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert "KPR2026000000004" in html and "Tevkifat (606, %90)" in html


def test_html_refuses_an_unsafe_document():
    from tests.einvoice.test_xmlsafe import BILLION_LAUGHS

    with pytest.raises(KopruError) as exc:
        render_html(BILLION_LAUGHS)
    assert exc.value.code == "einvoice.xml_entity_forbidden"


# -- hostile stylesheets ----------------------------------------------------------------------

HEAD = ('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        'xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">')


def with_xslt(stylesheet: str | bytes) -> bytes:
    root = etree.fromstring(render(Invoice.model_validate(CASES["earsiv_tckn"])))
    obj = root.xpath("//cbc:EmbeddedDocumentBinaryObject", namespaces=NS)[0]
    raw = stylesheet.encode() if isinstance(stylesheet, str) else stylesheet
    obj.text = base64.b64encode(raw).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.fixture
def secret_file(tmp_path):
    """A file a stylesheet must not read: XML (so a successful document() would show it)."""
    f = tmp_path / "secret.xml"
    f.write_text("<secret>TOP-SECRET-VALUE</secret>", encoding="utf-8")
    return f


@pytest.mark.parametrize("name", ["document_file", "document_passwd", "document_http", "include_url",
                                  "import_file", "import_stylesheet", "exsl_write", "entity"])
def test_a_hostile_stylesheet_reads_and_writes_nothing(name, secret_file, tmp_path):
    target = tmp_path / "written.txt"
    secret_sheet = tmp_path / "secret.xsl"
    secret_sheet.write_text(HEAD + '<xsl:template name="leak">TOP-SECRET-VALUE</xsl:template></xsl:stylesheet>',
                            encoding="utf-8")
    sheets = {
        "document_file": f'<xsl:template match="/"><html><xsl:copy-of select="document(\'{secret_file.as_uri()}\')"/>'
                         '</html></xsl:template>',
        "document_passwd": '<xsl:template match="/"><html><pre><xsl:value-of select="document(\'file:///etc/passwd\')"/>'
                           '</pre></html></xsl:template>',
        "document_http": '<xsl:template match="/"><html><xsl:value-of select="document(\'http://127.0.0.1:9/x.xml\')"/>'
                         '</html></xsl:template>',
        "include_url": '<xsl:include href="http://127.0.0.1:9/evil.xsl"/><xsl:template match="/"><html>x</html>'
                       '</xsl:template>',
        "import_file": f'<xsl:import href="{secret_file.as_uri()}"/><xsl:template match="/"><html>x</html></xsl:template>',
        # a stylesheet on disk, read while compiling: refused before libxslt would load it
        "import_stylesheet": f'<xsl:import href="{secret_sheet.as_uri()}"/><xsl:template match="/"><html>'
                             '<xsl:call-template name="leak"/></html></xsl:template>',
        "exsl_write": f'<xsl:template match="/"><exsl:document href="{target}" method="text">owned</exsl:document>'
                      '<html>x</html></xsl:template>',
        "entity": None,
    }
    if name == "entity":
        sheet = ('<!DOCTYPE x [<!ENTITY s SYSTEM "' + secret_file.as_uri() + '">]>' + HEAD +
                 '<xsl:template match="/"><html>&s;</html></xsl:template></xsl:stylesheet>')
    else:
        sheet = HEAD + sheets[name] + "</xsl:stylesheet>"
    with pytest.raises(KopruError) as exc:
        html = render_html(with_xslt(sheet))
        assert "TOP-SECRET-VALUE" not in html and "root:" not in html  # (never reached)
    assert exc.value.code == "einvoice.xslt_invalid" and exc.value.http_status == 422
    assert not target.exists()


def test_a_harmless_embedded_stylesheet_is_the_one_used():
    html = render_html(with_xslt(HEAD + '<xsl:template match="/"><p>kendi şablonu</p></xsl:template></xsl:stylesheet>'))
    assert "kendi şablonu" in html


def test_a_stylesheet_that_is_not_base64_or_not_xml_is_refused():
    root = etree.fromstring(with_xslt("<x/>"))
    root.xpath("//cbc:EmbeddedDocumentBinaryObject", namespaces=NS)[0].text = "%%%not base64%%%"
    with pytest.raises(KopruError) as exc:
        render_html(etree.tostring(root))
    assert exc.value.code == "einvoice.xslt_invalid"
    with pytest.raises(KopruError) as exc:
        render_html(with_xslt(b"not xml <"))
    assert exc.value.code == "einvoice.xslt_invalid"


# -- the link ---------------------------------------------------------------------------------

def test_the_token_is_short_and_carries_128_bits_of_mac():
    link = view_link(uuid.uuid4(), uuid.uuid4())
    token = link.rsplit("/", 1)[1]
    assert len(token) == TOKEN_CHARS < 80
    assert link.startswith("http://") and "/function/einvoice-submit/einvoices/view/" in link
    raw = base64.urlsafe_b64decode(token + "==")
    assert len(raw) - 36 == 16  # 16 + 16 + 4 bytes of ids and expiry, then the MAC


def test_a_token_opens_until_it_expires():
    tid, iid = uuid.uuid4(), uuid.uuid4()
    now = time.time()
    token = view_link(tid, iid, ttl_seconds=60, now=now).rsplit("/", 1)[1]
    assert read_token(token, now=now + 59) == (tid, iid)
    with pytest.raises(KopruError) as exc:
        read_token(token, now=now + 61)
    assert exc.value.code == "einvoice.view_link_expired" and exc.value.http_status == 410


def test_the_default_life_is_the_setting(monkeypatch):
    from kopru.config import reset_settings

    monkeypatch.setenv("KOPRU_INVOICE_LINK_TTL_SECONDS", "120")
    reset_settings()
    try:
        now = time.time()
        token = view_link(uuid.uuid4(), uuid.uuid4(), now=now).rsplit("/", 1)[1]
        read_token(token, now=now + 119)
        with pytest.raises(KopruError):
            read_token(token, now=now + 121)
    finally:
        monkeypatch.delenv("KOPRU_INVOICE_LINK_TTL_SECONDS")
        reset_settings()


def forgeries(token: str, tid: uuid.UUID, iid: uuid.UUID) -> list[str]:
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    later = bytearray(raw)
    later[32:36] = (2 ** 32 - 1).to_bytes(4, "big")  # a longer life, same MAC
    other = bytearray(raw)
    other[16:32] = uuid.uuid4().bytes  # another invoice, same MAC
    flipped = bytearray(raw)
    flipped[-1] ^= 1
    enc = lambda b: base64.urlsafe_b64encode(bytes(b)).rstrip(b"=").decode()  # noqa: E731
    return [token[:-1], token[:40], token + "A", enc(later), enc(other), enc(flipped), "",
            make_token(tid, iid, 2 ** 32 - 1)[:-22] + "A" * 22, "ä" * TOKEN_CHARS, "../../etc/passwd"]


def test_forged_and_truncated_tokens_are_refused():
    tid, iid = uuid.uuid4(), uuid.uuid4()
    token = view_link(tid, iid).rsplit("/", 1)[1]
    for bad in forgeries(token, tid, iid):
        with pytest.raises(KopruError) as exc:
            read_token(bad)
        assert exc.value.code == "einvoice.view_link_invalid" and exc.value.http_status == 403, bad


# -- the route --------------------------------------------------------------------------------

from tests.functions.test_einvoice_submit import (  # noqa: E402  (the Nilvera simulator and a tenant)
    PERSON as BUYER, _nothing_left_pending, body as post_body, nilvera, post, tenant,
)

__all__ = ["_nothing_left_pending", "nilvera", "tenant"]


def sale_body() -> dict:
    return post_body(profile="EARSIVFATURA", customer=copy.deepcopy(BUYER),
                     lines=[line(name="Kulaklık", quantity="1", unit_price="899.90")],
                     internet_sale={**SALE, "payment_date": "2026-11-20"})


def counts(db) -> tuple:
    return tuple(db.execute(f"select count(*) from {table}").fetchone()[0]
                 for table in ("audit_log", "einvoices", "einvoice_status_history", "outbox", "idempotent_requests", "outward_calls"))


async def test_the_link_shows_the_invoice_as_html(client, tenant, db):
    r = await post(client, tenant, sale_body())
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["kind"] == "earsiv"
    link = view_link(tenant["id"], out["id"])
    path = link.split("/function/einvoice-submit", 1)[1]
    r = await client("einvoice-submit").get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    html = r.text
    for shown in (out["number"], out["uuid"], "Ayşe Yılmaz", WEBSITE, "iyzico", "1.079,88 TRY", "Hızlı Kargo A.Ş."):
        assert shown in html, shown
    # the stored, signed document passes GİB's rules with its stylesheet and internet sale
    xml = bytes(db.execute("select xml from einvoices where id = %s", (out["id"],)).fetchone()[0])
    assert validate(xml).valid and x(xml, "//cac:AdditionalDocumentReference[cbc:DocumentType = 'XSLT']")


async def test_a_bad_expired_or_foreign_link_opens_nothing_and_writes_nothing(client, tenant, onboard, db):
    r = await post(client, tenant, sale_body())
    assert r.status_code == 202, r.text
    inv_id = uuid.UUID(r.json()["id"])
    other = await onboard(name="Başka Dükkan Ltd. Şti.", tax_number="1234567034", tax_office="Kadıköy")
    view = client("einvoice-submit")
    token = view_link(tenant["id"], inv_id).rsplit("/", 1)[1]
    before = counts(db)
    for bad in forgeries(token, tenant["id"], inv_id):
        r = await view.get(f"/einvoices/view/{bad}")
        assert r.status_code in (403, 404), (bad, r.status_code)
        if r.status_code == 403:
            assert r.json()["code"] == "einvoice.view_link_invalid"
        assert "Ayşe" not in r.text
    expired = make_token(tenant["id"], inv_id, int(time.time()) - 1)
    r = await view.get(f"/einvoices/view/{expired}")
    assert r.status_code == 410 and r.json()["code"] == "einvoice.view_link_expired"
    # a valid link naming another tenant with this invoice: that tenant has no such invoice
    r = await view.get(f"/einvoices/view/{view_link(other['id'], inv_id).rsplit('/', 1)[1]}")
    assert r.status_code == 404 and r.json()["code"] == "einvoice.not_found" and "Ayşe" not in r.text
    r = await view.get(f"/einvoices/view/{view_link(tenant['id'], uuid.uuid4()).rsplit('/', 1)[1]}")
    assert r.status_code == 404 and r.json()["code"] == "einvoice.not_found"
    r = await view.get(f"/einvoices/view/{view_link(tenant['id'], inv_id).rsplit('/', 1)[1]}",
                       headers={"Accept-Language": "en"})
    assert r.status_code == 200
    assert counts(db) == before


async def test_an_internet_sale_on_an_efatura_is_a_422_with_its_code(client, tenant, db):
    before = counts(db)
    r = await post(client, tenant, post_body(internet_sale=SALE))
    assert r.status_code == 422 and r.json()["code"] == "einvoice.internet_sale_profile_invalid", r.text
    assert counts(db) == before
