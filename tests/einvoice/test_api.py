"""The library's surface: the pinned rule package, lazy imports, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kopru.einvoice.validate import RULE_PACKAGE, RULE_PACKAGE_VERSION, english, raise_for_report, validate
from kopru.errors import KopruError
from kopru_tools.cli import main
from tests.conftest import REPO
from tests.einvoice.samples import CASES, invoice, line


def test_rule_package_is_the_installed_one():
    import efatura_kontrol

    assert RULE_PACKAGE["validator_version"] == efatura_kontrol.SURUM
    paket = efatura_kontrol.PAKET
    assert RULE_PACKAGE["ubl_tr"] == paket["ublTr"]
    assert RULE_PACKAGE["efatura_package"] == paket["eFaturaPaketi"]
    date = paket["sematronGuncelleme"]
    assert RULE_PACKAGE["schematron_date"] == f"{date[:4]}-{date[4:6]}-{date[6:]}"
    assert RULE_PACKAGE["code_lists_guide"] == paket["kodListeleriKilavuzu"]
    assert RULE_PACKAGE["schematron_date"] in RULE_PACKAGE_VERSION


def test_every_report_carries_the_rule_package():
    from kopru.einvoice.models import Invoice
    from kopru.einvoice.render import render

    report = validate(render(Invoice.model_validate(CASES["temel_satis"])))
    assert report.as_dict()["rule_package"] == dict(RULE_PACKAGE)


def test_english_never_puts_words_in_gibs_mouth():
    # a rule we have no English for: named, and pointed at GİB's own (Turkish) text
    msg = english("sch-HKSInvioceCheck-1", "…", "sematron", "hata")
    assert msg == "GİB schematron rule HKSInvioceCheck-1 failed; GİB's message (Turkish) is in message_tr."


def test_raise_for_report_is_a_422_listing_the_errors():
    from kopru.einvoice.models import Invoice
    from kopru.einvoice.render import render

    xml = render(Invoice.model_validate(CASES["temel_satis"])).replace(b'unitCode="C62"', b'unitCode="ADET"')
    with pytest.raises(KopruError) as exc:
        raise_for_report(validate(xml))
    assert exc.value.code == "einvoice.invalid" and exc.value.http_status == 422
    assert [e["rule"] for e in exc.value.errors] == ["sch-GeneralUnitCodeCheck-1"]
    with pytest.raises(KopruError) as exc:
        raise_for_report(validate(b"<x"))
    assert exc.value.code == "einvoice.xml_malformed"


def test_nothing_heavy_at_import():
    code = (
        "import json, sys\n"
        "import kopru_tools.cli, kopru.einvoice\n"
        "heavy = ['lxml', 'pydantic', 'signxml', 'saxonche', 'num2words', 'efatura_kontrol', 'cryptography']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(out.stdout) == []


# -- CLI --------------------------------------------------------------------------------


def test_cli_render_writes_a_valid_document(tmp_path, capsysbinary):
    src = tmp_path / "invoice.json"
    src.write_text(json.dumps(CASES["tevkifat"]), encoding="utf-8")
    assert main(["einvoice", "render", str(src)]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"<?xml") and b"<cbc:InvoiceTypeCode>TEVKIFAT</cbc:InvoiceTypeCode>" in out
    assert validate(out).valid
    dest = tmp_path / "invoice.xml"
    dest.write_bytes(out)
    assert main(["einvoice", "validate", str(dest)]) == 0
    assert b"VALID" in capsysbinary.readouterr().out


def test_cli_render_signed_with_the_test_certificate(tmp_path, capsysbinary):
    from kopru.einvoice.sign import test_certificate, verify

    src = tmp_path / "invoice.json"
    src.write_text(json.dumps(CASES["earsiv_tckn"]), encoding="utf-8")
    assert main(["einvoice", "render", "--test-certificate", str(src)]) == 0
    out = capsysbinary.readouterr().out
    verify(out, test_certificate().certificate)


def test_cli_render_refuses_bad_input(tmp_path, capsys):
    src = tmp_path / "invoice.json"
    src.write_text(json.dumps(invoice(lines=[line(unit_code="ADET")])), encoding="utf-8")
    assert main(["einvoice", "render", str(src)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "lines.0.unit_code: einvoice.unit_code_invalid" in captured.err
    nosupplier = dict(CASES["temel_satis"])
    del nosupplier["supplier"]
    src.write_text(json.dumps(nosupplier), encoding="utf-8")
    assert main(["einvoice", "render", str(src)]) == 2
    assert "einvoice.supplier_missing" in capsys.readouterr().err


def test_cli_validate_reports_findings_and_exit_1(tmp_path, capsys):
    from kopru.einvoice.models import Invoice
    from kopru.einvoice.render import render

    bad = tmp_path / "bad.xml"
    bad.write_bytes(render(Invoice.model_validate(CASES["usd"])).replace(b'unitCode="HUR"', b'unitCode="SAAT"'))
    assert main(["einvoice", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "sch-GeneralUnitCodeCheck-1" in out and "(en) GİB schematron rule" in out
    assert main(["einvoice", "validate", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["rule_package"]["validator"] == "efatura-kontrol"
    assert {"rule", "location", "line", "severity", "message_tr", "message_en"} <= set(report["findings"][0])


def test_cli_validate_refuses_a_billion_laughs(tmp_path, capsys):
    from tests.einvoice.test_xmlsafe import BILLION_LAUGHS

    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BILLION_LAUGHS)
    assert main(["einvoice", "validate", str(bomb)]) == 1
    assert "einvoice.xml_entity_forbidden" in capsys.readouterr().out
