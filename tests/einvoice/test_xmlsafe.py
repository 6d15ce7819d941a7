"""Inbound XML is parsed safely: no DTD, no entities, no network, a size cap; each refusal
has a stable code, and validate() answers it as a report, fast."""

from __future__ import annotations

import time

import pytest

from kopru.einvoice.models import Invoice
from kopru.einvoice.render import render
from kopru.einvoice.validate import validate
from kopru.einvoice.xmlsafe import MAX_BYTES, parse_safely
from kopru.errors import KopruError
from tests.einvoice.samples import CASES

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol9;</Invoice>
"""


@pytest.fixture(scope="module")
def invoice_xml() -> bytes:
    return render(Invoice.model_validate(CASES["temel_satis"]))


def with_doctype(xml: bytes, doctype: bytes, profile: bytes = b"TEMELFATURA") -> bytes:
    head, _, body = xml.partition(b"\n")
    body = body.replace(b"<cbc:ProfileID>TEMELFATURA</cbc:ProfileID>", b"<cbc:ProfileID>" + profile + b"</cbc:ProfileID>")
    return head + b"\n" + doctype + b"\n" + body


def refused_code(data: bytes) -> str:
    with pytest.raises(KopruError) as exc:
        parse_safely(data)
    return exc.value.code


def test_billion_laughs_refused_fast():
    start = time.perf_counter()
    assert refused_code(BILLION_LAUGHS) == "einvoice.xml_entity_forbidden"
    report = validate(BILLION_LAUGHS)
    assert time.perf_counter() - start < 0.05
    assert not report.valid and report.refused == "einvoice.xml_entity_forbidden"
    assert [f["rule"] for f in report.findings] == ["einvoice.xml_entity_forbidden"]
    assert report.findings[0]["message_en"] == "XML declaring entities (ENTITY) is refused."


def test_billion_laughs_in_utf16_refused():
    data = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    assert refused_code(data.decode().encode("utf-16")) == "einvoice.xml_entity_forbidden"
    assert refused_code(data.decode().encode("utf-16-be")) == "einvoice.xml_entity_forbidden"


def test_external_entity_refused_and_never_read(invoice_xml, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT-42")
    for uri in (b"file:///etc/passwd", f"file://{secret}".encode(), b"http://127.0.0.1:9/x"):
        doc = with_doctype(invoice_xml, b'<!DOCTYPE Invoice [<!ENTITY x SYSTEM "' + uri + b'">]>', b"&x;")
        assert refused_code(doc) == "einvoice.xml_entity_forbidden"
        report = validate(doc)
        assert report.refused == "einvoice.xml_entity_forbidden"
        assert "SECRET" not in repr(report.as_dict()) and "root:" not in repr(report.as_dict())


def test_any_doctype_refused(invoice_xml):
    external_dtd = with_doctype(invoice_xml, b'<!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/evil.dtd">')
    assert refused_code(external_dtd) == "einvoice.xml_dtd_forbidden"
    parameter_entity = with_doctype(invoice_xml, b'<!DOCTYPE Invoice [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>')
    assert refused_code(parameter_entity) == "einvoice.xml_entity_forbidden"
    assert validate(external_dtd).refused == "einvoice.xml_dtd_forbidden"


def test_undeclared_entity_is_malformed(invoice_xml):
    doc = invoice_xml.replace(b"<cbc:ProfileID>TEMELFATURA", b"<cbc:ProfileID>&x;", 1)
    assert refused_code(doc) == "einvoice.xml_malformed"


def test_oversized_refused_before_parsing(invoice_xml):
    big = invoice_xml.replace(b"</Invoice>", b"<!--" + b"x" * MAX_BYTES + b"--></Invoice>")
    assert len(big) > MAX_BYTES
    start = time.perf_counter()
    assert refused_code(big) == "einvoice.xml_too_large"
    assert validate(big).refused == "einvoice.xml_too_large"
    assert time.perf_counter() - start < 0.05
    # just under the cap is parsed (and then validated on its merits)
    fits = invoice_xml.replace(b"</Invoice>", b"<!--" + b"x" * (MAX_BYTES - len(invoice_xml) - 16) + b"--></Invoice>")
    assert len(fits) <= MAX_BYTES and parse_safely(fits) is not None


@pytest.mark.parametrize("data", [b"", b"<Invoice>", b"not xml at all", b"<a><b></a>", b"\xff\xfe\x00garbage"])
def test_malformed_refused(data):
    assert refused_code(data) == "einvoice.xml_malformed"
    assert validate(data).refused == "einvoice.xml_malformed"


def test_deep_nesting_is_libxml2_limited():
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    assert refused_code(deep) == "einvoice.xml_malformed"


def test_not_a_ubl_tr_document():
    report = validate(b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>')
    assert report.refused == "einvoice.xml_not_ubl_tr"


def test_str_is_a_programming_error(invoice_xml):
    with pytest.raises(TypeError):
        parse_safely(invoice_xml.decode())
