"""Nilvera connector against the Nilvera simulator served on loopback over real HTTP
(uvicorn in a thread, httpx on the wire: no mock transport). The simulator is given an
explicit validator in every test, so these tests do not depend on kopru.einvoice."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid as uuidlib
from pathlib import Path

import httpx
import pytest

from kopru.connectors import nilvera
from kopru.connectors.nilvera import (
    AuthError,
    DocumentNotFound,
    InvalidRequest,
    NilveraClient,
    PermanentError,
    RetryPolicy,
    TransientError,
    ValidationRejected,
    codes,
    status_from_response,
)
from kopru_tools.simulators.nilvera import NilveraSimulator, adapt_findings, serve
from kopru.logs import JsonFormatter

REPO = Path(__file__).resolve().parents[2]
API_KEY = "nv-test-7d1f0a9c3b5e4f2aa1b2c3d4e5f60718"
OTHER_KEY = "nv-other-00000000000000000000000000000"
SELLER_VKN = "1234567890"
BUYER_VKN = "9876543210"
BUYER_ALIAS = "urn:mail:defaultpk@alici-firma.com.tr"
BUYER_ALIAS_2 = "urn:mail:muhasebepk@alici-firma.com.tr"
UNREGISTERED_VKN = "5555555555"
BUYER_TCKN = "10000000146"
SECRET_NOTE = "Gizli sözleşme notu ÇĞİÖŞÜ-4711"


def invoice_xml(ettn: str, *, profile: str = "TEMELFATURA", number: str | None = "KPR2026000000001",
                buyer: str | None = BUYER_VKN, scheme: str = "VKN", note: str = SECRET_NOTE, extra: str = "") -> bytes:
    buyer_xml = (f'<cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification>'
                 f'<cbc:ID schemeID="{scheme}">{buyer}</cbc:ID></cac:PartyIdentification></cac:Party>'
                 f'</cac:AccountingCustomerParty>') if buyer else ""
    number_xml = f"<cbc:ID>{number}</cbc:ID>" if number else ""
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
                 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
                 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
                 xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2">
          <ext:UBLExtensions><ext:UBLExtension><ext:ExtensionContent/></ext:UBLExtension></ext:UBLExtensions>
          <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
          <cbc:CustomizationID>TR1.2</cbc:CustomizationID>
          <cbc:ProfileID>{profile}</cbc:ProfileID>
          {number_xml}
          <cbc:CopyIndicator>false</cbc:CopyIndicator>
          <cbc:UUID>{ettn}</cbc:UUID>
          <cbc:IssueDate>2026-01-15</cbc:IssueDate>
          <cbc:InvoiceTypeCode>SATIS</cbc:InvoiceTypeCode>
          <cbc:Note>{note}</cbc:Note>
          {extra}
          {buyer_xml}
        </Invoice>
        """).encode("utf-8")


class StubValidator:
    """Stands in for kopru.einvoice.validate: findings per marker found in the document, in
    the loose shape that module may return (an object with .findings of dicts/objects)."""

    def __init__(self):
        self.calls = 0
        self.rules: dict[bytes, list] = {}

    def __call__(self, xml: bytes):
        self.calls += 1
        found = []
        for marker, findings in self.rules.items():
            if marker in xml:
                found += findings

        class Result:
            pass

        r = Result()
        r.findings = found
        r.valid = not any(f.get("severity", "error") == "error" for f in found if isinstance(f, dict))
        return r


SCHEMATRON = [
    {"severity": "error", "rule": "TR-CAL-07", "message": "Satır tutarı miktar x birim fiyat olmalı",
     "location": "/Invoice/cac:InvoiceLine[1]/cbc:LineExtensionAmount", "source": "schematron"},
    {"severity": "warning", "rule": "TR-W-01", "message": "bilgi amaçlı uyarı", "source": "schematron"},
]
XSD = [{"severity": "ERROR", "rule": "cvc-complex-type.2.4.a", "message": "Invalid content was found",
        "location": "/Invoice/cbc:Bogus", "source": "xsd"}]
WARN_ONLY = [{"severity": "warning", "rule": "TR-W-02", "message": "yalnızca uyarı", "source": "schematron"}]


@pytest.fixture(scope="module")
def validator():
    return StubValidator()


@pytest.fixture(scope="module")
def sim(validator):
    s = NilveraSimulator(validator=validator)
    s.add_account(API_KEY, SELLER_VKN, label="seller")
    s.add_account(OTHER_KEY, "1111111111", label="other")
    s.add_taxpayer(BUYER_VKN, [BUYER_ALIAS, BUYER_ALIAS_2], title="Alıcı Firma A.Ş.")
    return s


@pytest.fixture(scope="module")
def base_url(sim):
    with serve(sim) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh(sim, validator):
    sim.reset()
    sim.validation_stage = "gib"
    validator.rules = {b"BAD-SCHEMATRON": SCHEMATRON, b"BAD-XSD": XSD, b"ONLY-WARNINGS": WARN_ONLY}
    yield
    sim.clear_failures()


@pytest.fixture
async def client(base_url):
    async with NilveraClient(API_KEY, base_url, timeout=3.0,
                             read_retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)) as c:
        yield c


def ettn() -> str:
    return str(uuidlib.uuid4())


async def poll(client, kind, u, n, **kw):
    return [await client.get_status(kind, u, **kw) for _ in range(n)]


# -- taxpayers and the key's company ---------------------------------------------------------------

async def test_a_registered_buyer_has_its_aliases(client, sim):
    tp = await client.check_taxpayer(BUYER_VKN)
    assert tp.registered and tp.aliases == (BUYER_ALIAS, BUYER_ALIAS_2)
    assert tp.default_alias == BUYER_ALIAS and tp.type == "OZEL" and tp.title == "Alıcı Firma A.Ş."
    assert BUYER_ALIAS not in repr(tp) and "Alıcı" not in repr(tp)


@pytest.mark.parametrize("number", [UNREGISTERED_VKN, BUYER_TCKN])
async def test_an_unregistered_number_is_not_registered_so_e_arsiv(client, number):
    tp = await client.check_taxpayer(number)
    assert not tp.registered and tp.aliases == () and tp.default_alias is None


async def test_a_404_on_the_taxpayer_check_also_means_not_registered(client, sim):
    sim.fail_next(code=3004, endpoint=codes.TAXPAYER)
    tp = await client.check_taxpayer(BUYER_VKN)
    assert not tp.registered


@pytest.mark.parametrize("bad", ["123", "12345678901234", "12345abcde", "", None, "1234567890 "[:-1] + "x"])
async def test_a_malformed_tax_number_is_refused_before_calling(client, sim, bad):
    with pytest.raises(InvalidRequest) as ei:
        await client.check_taxpayer(bad)
    assert ei.value.code == "nilvera.tax_number_invalid" and ei.value.tr and ei.value.en
    assert bad is None or bad == "" or bad not in str(ei.value)
    assert sim.calls == []


async def test_company_answers_the_keys_tax_number(client):
    assert (await client.company()).tax_number == SELLER_VKN


async def test_a_wrong_api_key_is_a_permanent_auth_error_and_is_not_retried(base_url, sim):
    async with NilveraClient("wrong-key", base_url, read_retry=RetryPolicy(attempts=3, base_delay=0.01)) as c:
        for call in (c.company(), c.check_taxpayer(BUYER_VKN), c.get_status(nilvera.EINVOICE, ettn()),
                     c.send_earchive(invoice_xml(u := ettn(), profile="EARSIVFATURA", buyer=BUYER_TCKN,
                                                 scheme="TCKN"), u)):
            with pytest.raises(AuthError) as ei:
                await call
            e = ei.value
            assert isinstance(e, PermanentError) and not e.retryable and not RetryPolicy.retryable(e)
            assert (e.code, e.http_status) == ("unauthorized", 401) and e.tr and e.en
    assert [c.http_status for c in sim.calls] == [401, 401, 401, 401]  # one call each: not retried
    assert sim.count() == 0


async def test_a_403_is_an_auth_error_too(client, sim):
    sim.fail_next(http_status=403, endpoint=codes.SEND_EINVOICE)
    with pytest.raises(AuthError) as ei:
        await client.send_einvoice(invoice_xml(u := ettn()), u, BUYER_ALIAS)
    assert (ei.value.code, ei.value.http_status) == ("forbidden", 403)


# -- e-Fatura ------------------------------------------------------------------------------------------

async def test_e_fatura_goes_to_the_buyers_alias_and_progresses_to_1300(client, sim):
    u = ettn()
    xml = invoice_xml(u)
    res = await client.send_einvoice(xml, u, BUYER_ALIAS)
    assert (res.kind, res.uuid, res.number, res.already_submitted) == ("einvoice", u, "KPR2026000000001", False)
    inv = sim.invoice(u)
    assert inv.xml == xml and inv.alias == BUYER_ALIAS and inv.buyer == BUYER_VKN and inv.profile == "TEMELFATURA"
    s1, s2, s3, s4 = await poll(client, nilvera.EINVOICE, u, 4)
    assert (s1.code, s1.gib_code, s1.outcome, s1.final, s1.nilvera_status) == ("1000", 1000, "pending", False, "waiting")
    assert (s2.code, s2.outcome, s2.final) == ("1100", "pending", False)
    assert (s3.code, s3.outcome, s3.final, s3.answer, s3.resend) == ("1300", "delivered", True, None, None)
    assert s3.tr and s3.en and s3.tr != s3.en and s3.uuid == u and s3.kind == "einvoice"
    assert s4.code == "1300"  # stays there


async def test_the_ettn_in_the_document_may_be_upper_case(client, sim):
    u = ettn()
    res = await client.send_einvoice(invoice_xml(u.upper()), u, BUYER_ALIAS)
    assert res.uuid == u and sim.invoice(u) is not None


async def test_the_uuid_must_be_the_documents_own(client, sim):
    for kw, code in (({"uuid": ettn()}, "nilvera.uuid_mismatch"), ({"uuid": "not-a-uuid"}, "nilvera.uuid_invalid"),
                     ({"alias": "defaultpk@firma"}, "nilvera.alias_invalid"), ({"xml": b""}, "nilvera.xml_missing"),
                     ({"xml": b"   "}, "nilvera.xml_missing")):
        u = ettn()
        args = {"xml": invoice_xml(u), "uuid": u, "alias": BUYER_ALIAS, **kw}
        with pytest.raises(InvalidRequest) as ei:
            await client.send_einvoice(args["xml"], args["uuid"], args["alias"])
        assert ei.value.code == code
    with pytest.raises(InvalidRequest) as ei:
        await client.get_status("efatura", ettn())
    assert ei.value.code == "nilvera.kind_invalid"
    assert sim.calls == []  # nothing went out


async def test_e_fatura_routing_refusals_say_reroute(client, sim):
    cases = [
        (invoice_xml(u1 := ettn(), buyer=UNREGISTERED_VKN), u1, BUYER_ALIAS, "2054"),  # buyer not an e-Fatura user
        (invoice_xml(u2 := ettn()), u2, "urn:mail:baskapk@alici-firma.com.tr", "2052"),  # not the buyer's alias
        (invoice_xml(u3 := ettn(), profile="EARSIVFATURA"), u3, BUYER_ALIAS, "2063"),  # e-Arşiv profile
    ]
    for xml, u, alias, code in cases:
        with pytest.raises(PermanentError) as ei:
            await client.send_einvoice(xml, u, alias)
        e = ei.value
        assert (e.code, e.http_status, e.reroute, e.endpoint) == (code, 422, True, "einvoice.send")
        assert e.nilvera_codes == (int(code),) and e.tr and e.en and e.tr != e.en
    assert sim.count() == 0


# -- e-Arşiv ------------------------------------------------------------------------------------------

async def test_e_arsiv_to_a_tckn_buyer_progresses_to_succeed(client, sim):
    u = ettn()
    xml = invoice_xml(u, profile="EARSIVFATURA", buyer=BUYER_TCKN, scheme="TCKN", number="ARS2026000000007")
    res = await client.send_earchive(xml, u)
    assert (res.kind, res.number, res.already_submitted) == ("earchive", "ARS2026000000007", False)
    assert sim.invoice(u).kind == "earchive" and sim.invoice(u).alias is None
    s1, s2, s3 = await poll(client, nilvera.EARCHIVE, u, 3)
    assert (s1.code, s1.outcome, s1.final) == ("queued", "pending", False)
    assert (s2.code, s2.outcome, s2.final, s2.reported) == ("succeed", "delivered", True, False)
    assert (s3.outcome, s3.reported, s3.profile) == ("delivered", True, "EARSIVFATURA")


async def test_e_arsiv_without_a_number_gets_one_from_the_integrator(client):
    u = ettn()
    res = await client.send_earchive(invoice_xml(u, profile="EARSIVFATURA", buyer=None, number=None), u)
    assert res.number and res.number.startswith("NLV")


async def test_e_arsiv_refusals(client, sim):
    with pytest.raises(PermanentError) as ei:  # the buyer is a registered e-Fatura user
        await client.send_earchive(invoice_xml(u := ettn(), profile="EARSIVFATURA"), u)
    assert (ei.value.code, ei.value.reroute) == ("2025", True)
    with pytest.raises(PermanentError) as ei:  # not an e-Arşiv profile
        await client.send_earchive(invoice_xml(u := ettn(), buyer=BUYER_TCKN, scheme="TCKN"), u)
    assert (ei.value.code, ei.value.reroute) == ("2024", True)
    assert sim.count() == 0


# -- TICARIFATURA answers ---------------------------------------------------------------------------

async def test_ticarifatura_waits_at_1300_then_kabul(client, sim):
    sim.answer_next("KABUL")
    u = ettn()
    await client.send_einvoice(invoice_xml(u, profile="TICARIFATURA"), u, BUYER_ALIAS)
    s1, s2, s3, s4 = await poll(client, nilvera.EINVOICE, u, 4)
    assert [s.code for s in (s1, s2)] == ["1000", "1100"]
    assert (s3.code, s3.outcome, s3.final, s3.awaiting_answer, s3.answer) == ("1300", "delivered", False, True, None)
    assert s3.profile == "TICARIFATURA" and s3.gib_code == 1300
    assert (s4.code, s4.outcome, s4.final, s4.answer, s4.answered_automatically) == ("KABUL", "accepted", True, "KABUL", False)
    assert not s4.permanent


async def test_ticarifatura_red_with_the_buyers_note(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u, profile="TICARIFATURA"), u, BUYER_ALIAS)
    states = await poll(client, nilvera.EINVOICE, u, 5)
    assert states[-1].awaiting_answer  # nobody answered: it keeps waiting
    sim.answer(u, "RED", note="Fiyat sözleşmeye uymuyor")
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.final, st.answer, st.resend) == ("RED", "rejected", True, "RED", "never")
    assert st.answer_note == "Fiyat sözleşmeye uymuyor" and "Fiyat" not in repr(st) and st.permanent


async def test_ticarifatura_answered_automatically_is_accepted(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u, profile="TICARIFATURA"), u, BUYER_ALIAS)
    sim.advance(u)
    sim.answer(u, "AUTO")
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.final, st.answer, st.answered_automatically) == ("KABUL", "accepted", True, "KABUL", True)


async def test_a_temelfatura_is_final_at_1300_without_an_answer(client, sim):
    sim.answer_next("RED")  # only a TICARIFATURA takes it
    u = ettn()
    await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    sim.advance(u)
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.final, st.answer) == ("1300", "delivered", True, None)


async def test_the_caller_can_say_the_profile_when_the_answer_lacks_it():
    body = {"InvoiceStatus": {"Code": "succeed"}, "EnvelopeInfo": {"GIBCode": 1300},
            "Answer": {"AnswerCode": "waitingForApproval"}}
    assert status_from_response("einvoice", "u", body).final
    assert status_from_response("einvoice", "u", body, profile="TICARIFATURA").awaiting_answer


# -- validation: GİB's 1150 / 1160, or the integrator's 2015 on upload -----------------------------------

async def test_a_schematron_failure_ends_in_1150_with_its_findings(client, sim, validator):
    u = ettn()
    before = validator.calls
    await client.send_einvoice(invoice_xml(u, note="BAD-SCHEMATRON"), u, BUYER_ALIAS)
    assert validator.calls == before + 1  # the simulator ran the validator on the upload
    *_, st = await poll(client, nilvera.EINVOICE, u, 3)
    assert (st.code, st.gib_code, st.outcome, st.final, st.resend) == ("1150", 1150, "failed", True, "after_fix")
    assert st.permanent and "SCHEMATRON" in st.detail and "Schematron" in st.tr and "schematron" in st.en
    (f,) = st.findings  # the warning is not a refusal
    assert (f.rule, f.location, f.source) == ("TR-CAL-07", "/Invoice/cac:InvoiceLine[1]/cbc:LineExtensionAmount", "schematron")
    assert f.message == "Satır tutarı miktar x birim fiyat olmalı"
    assert "TR-CAL-07" not in repr(st)


async def test_a_schema_failure_ends_in_1160(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u, note="BAD-SCHEMATRON BAD-XSD"), u, BUYER_ALIAS)
    sim.advance(u)
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.resend) == ("1160", "failed", "after_fix")
    assert {f.rule for f in st.findings} == {"cvc-complex-type.2.4.a", "TR-CAL-07"}
    assert all(f.source == "xsd" for f in st.findings)


async def test_warnings_alone_do_not_refuse(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u, note="ONLY-WARNINGS"), u, BUYER_ALIAS)
    sim.advance(u)
    assert (await client.get_status(nilvera.EINVOICE, u)).code == "1300"


async def test_after_a_1150_the_fixed_document_may_go_again_with_the_same_ettn(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u, note="BAD-SCHEMATRON"), u, BUYER_ALIAS)
    sim.advance(u)
    assert (await client.get_status(nilvera.EINVOICE, u)).code == "1150"
    again = await client.send_einvoice(invoice_xml(u, note="düzeltildi"), u, BUYER_ALIAS)
    assert not again.already_submitted and sim.count() == 1 and sim.invoice(u).attempts == 2
    sim.advance(u)
    assert (await client.get_status(nilvera.EINVOICE, u)).code == "1300"


async def test_validation_on_upload_is_a_2015_with_findings(client, sim):
    sim.validation_stage = "submit"
    u = ettn()
    with pytest.raises(ValidationRejected) as ei:
        await client.send_einvoice(invoice_xml(u, note="BAD-SCHEMATRON BAD-XSD"), u, BUYER_ALIAS)
    e = ei.value
    assert (e.code, e.http_status, e.retryable, e.reroute) == ("2015", 422, False, False)
    assert {(f.rule, f.location) for f in e.findings} == {
        ("TR-CAL-07", "/Invoice/cac:InvoiceLine[1]/cbc:LineExtensionAmount"), ("cvc-complex-type.2.4.a", "/Invoice/cbc:Bogus")}
    assert "TR-CAL-07" not in str(e) + repr(e) and sim.count() == 0


async def test_an_invalid_e_arsiv_is_refused_on_upload(client, sim):
    u = ettn()
    with pytest.raises(ValidationRejected) as ei:
        await client.send_earchive(invoice_xml(u, profile="EARSIVFATURA", buyer=None, note="BAD-SCHEMATRON"), u)
    assert [f.rule for f in ei.value.findings] == ["TR-CAL-07"] and sim.count() == 0


def test_the_validator_adapter_takes_the_shapes_a_validator_may_return():
    from dataclasses import dataclass
    from enum import Enum

    class Sev(Enum):
        ERROR = "error"
        WARNING = "warning"

    @dataclass
    class F:
        severity: Sev
        rule_id: str
        en: str
        xpath: str
        layer: str

    obj = type("R", (), {"errors": [F(Sev.ERROR, "XSD-1", "bad", "/a", "xsd"), F(Sev.WARNING, "W", "meh", "/b", "schematron")]})()
    got = adapt_findings(obj)
    assert [(f.rule, f.message, f.location, f.severity, f.is_error, f.is_schema) for f in got] == [
        ("XSD-1", "bad", "/a", "error", True, True), ("W", "meh", "/b", "warning", False, False)]
    assert [f.rule for f in adapt_findings({"findings": [{"code": "R1", "text": "x"}]})] == ["R1"]
    assert adapt_findings(None) == [] and adapt_findings([]) == [] and adapt_findings("düz metin")[0].message == "düz metin"


# -- duplicates: resubmitting never creates a second invoice -----------------------------------------

async def test_the_same_ettn_twice_is_already_submitted_and_stored_once(client, sim):
    u = ettn()
    xml = invoice_xml(u)
    first = await client.send_einvoice(xml, u, BUYER_ALIAS)
    second = await client.send_einvoice(xml, u, BUYER_ALIAS)
    assert not first.already_submitted and second.already_submitted and second.uuid == u and second.number is None
    assert sim.count() == 1 and sim.invoice(u).attempts == 1
    assert [(c.http_status, c.codes) for c in sim.calls] == [(200, ()), (409, (1001,))]
    # the same for e-Arşiv, and while the first is still being processed
    v = ettn()
    xml2 = invoice_xml(v, profile="EARSIVFATURA", buyer=BUYER_TCKN, scheme="TCKN")
    await client.send_earchive(xml2, v)
    await client.get_status(nilvera.EARCHIVE, v)
    assert (await client.send_earchive(xml2, v)).already_submitted and sim.count() == 2


async def test_the_same_ettn_sent_at_once_from_several_workers_is_taken_once(client, sim):
    u = ettn()
    xml = invoice_xml(u)
    results = await asyncio.gather(*(client.send_einvoice(xml, u, BUYER_ALIAS) for _ in range(6)))
    assert sorted(r.already_submitted for r in results) == [False] + [True] * 5
    assert sim.count() == 1


async def test_a_404_api_not_found_on_the_taxpayer_check_is_not_an_answer(client, sim):
    sim.fail_next(code=3030, endpoint=codes.TAXPAYER)
    with pytest.raises(PermanentError) as ei:
        await client.check_taxpayer(BUYER_VKN)
    assert (ei.value.code, ei.value.http_status) == ("3030", 404)


async def test_another_account_does_not_see_the_first_ones_invoice(base_url, client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    async with NilveraClient(OTHER_KEY, base_url, read_retry=RetryPolicy(attempts=1)) as other:
        with pytest.raises(DocumentNotFound):
            await other.get_status(nilvera.EINVOICE, u)


async def test_gib_1163_is_a_final_duplicate_never_to_be_resent(client, sim):
    sim.reject_next(1163)
    u = ettn()
    await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    sim.advance(u)
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.final, st.resend, st.permanent) == ("1163", "duplicate", True, "never", True)
    assert "yeniden gönderilmemeli" in st.tr and "do not send it again" in st.en
    assert (await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)).already_submitted


@pytest.mark.parametrize(("gib", "outcome", "resend"), [(1230, "failed", "as_is"), (1195, "failed", "as_is"),
                                                        (1177, "failed", "after_fix"), (1160, "failed", "after_fix")])
async def test_other_gib_refusals_say_whether_to_resend(client, sim, gib, outcome, resend):
    sim.reject_next(gib)
    u = ettn()
    await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    sim.advance(u)
    st = await client.get_status(nilvera.EINVOICE, u)
    assert (st.code, st.outcome, st.final, st.resend, st.permanent) == (str(gib), outcome, True, resend, resend != "as_is")


async def test_a_number_used_before_is_a_refusal_not_a_duplicate(client, sim):
    sim.fail_next(code=1005, endpoint=codes.SEND_EINVOICE)
    with pytest.raises(PermanentError) as ei:
        await client.send_einvoice(invoice_xml(u := ettn()), u, BUYER_ALIAS)
    assert (ei.value.code, ei.value.http_status) == ("1005", 409)


async def test_an_unknown_uuid_is_document_not_found(client):
    with pytest.raises(DocumentNotFound) as ei:
        await client.get_status(nilvera.EINVOICE, ettn())
    assert (ei.value.code, ei.value.http_status, ei.value.retryable) == ("3003", 404, False)
    with pytest.raises(DocumentNotFound):
        await client.get_status(nilvera.EARCHIVE, ettn())


# -- Nilvera's own refusals -----------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "status", "error", "reroute"), [
    (2000, 422, PermanentError, False), (2078, 422, PermanentError, False), (3009, 404, PermanentError, False),
    (3000, 404, PermanentError, True), (2053, 422, PermanentError, True), (2057, 422, TransientError, False),
])
async def test_nilvera_error_codes_are_classified(client, sim, code, status, error, reroute):
    sim.fail_next(code=code, endpoint=codes.SEND_EINVOICE)
    with pytest.raises(error) as ei:
        await client.send_einvoice(invoice_xml(u := ettn()), u, BUYER_ALIAS)
    e = ei.value
    assert (e.code, e.http_status, e.nilvera_codes) == (str(code), status, (code,))
    assert getattr(e, "reroute", False) == reroute and e.tr and e.en
    assert e.en == codes.NILVERA_ERRORS[code].en
    if isinstance(e, TransientError):
        assert not e.ambiguous
    assert sim.count() == 0


async def test_an_undocumented_4xx_is_permanent(client, sim):
    sim.fail_next(code=2999, endpoint=codes.SEND_EARCHIVE)
    with pytest.raises(PermanentError) as ei:
        await client.send_earchive(invoice_xml(u := ettn(), profile="EARSIVFATURA", buyer=None), u)
    assert (ei.value.code, ei.value.http_status) == ("2999", 422)


# -- transient failures ---------------------------------------------------------------------------------

async def test_http_500_on_send_is_transient_and_may_have_been_taken(client, sim):
    u = ettn()
    sim.fail_next(http_status=500, endpoint=codes.SEND_EINVOICE)
    with pytest.raises(TransientError) as ei:
        await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    assert (ei.value.code, ei.value.http_status, ei.value.ambiguous, ei.value.retryable) == ("http_500", 500, True, True)
    assert sim.count() == 0
    assert not (await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)).already_submitted and sim.count() == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_rate_limit_and_unavailable_are_transient(client, sim, status):
    sim.fail_next(http_status=status, endpoint=codes.SEND_EARCHIVE)
    with pytest.raises(TransientError) as ei:
        await client.send_earchive(invoice_xml(u := ettn(), profile="EARSIVFATURA", buyer=None), u)
    assert ei.value.http_status == status and ei.value.ambiguous == (status >= 500)


async def test_a_timeout_is_transient_and_ambiguous_and_the_retry_creates_nothing_new(base_url, sim):
    u = ettn()
    xml = invoice_xml(u)
    sim.fail_next(delay=1.5, endpoint=codes.SEND_EINVOICE)  # Nilvera takes it, answers too late
    async with NilveraClient(API_KEY, base_url, timeout=0.4) as c:
        t0 = time.monotonic()
        with pytest.raises(TransientError) as ei:
            await c.send_einvoice(xml, u, BUYER_ALIAS)
        assert time.monotonic() - t0 < 1.4
        assert (ei.value.code, ei.value.ambiguous, ei.value.http_status) == ("timeout", True, None)
        await asyncio.sleep(0.05)
        assert sim.count() == 1  # it did go in: that is what "ambiguous" means
        again = await c.send_einvoice(xml, u, BUYER_ALIAS)
    assert again.already_submitted and sim.count() == 1


async def test_a_dropped_connection_after_the_upload_is_ambiguous_and_the_retry_is_idempotent(client, sim):
    u = ettn()
    sim.fail_next(drop=True, endpoint=codes.SEND_EINVOICE)
    with pytest.raises(TransientError) as ei:
        await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    assert (ei.value.code, ei.value.ambiguous) == ("connection", True)
    assert sim.count() == 1
    assert (await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)).already_submitted and sim.count() == 1


async def test_connection_refused_is_transient_and_certainly_not_sent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    async with NilveraClient(API_KEY, f"http://127.0.0.1:{port}", timeout=1.0) as c:
        with pytest.raises(TransientError) as ei:
            await c.send_earchive(invoice_xml(u := ettn(), profile="EARSIVFATURA"), u)
    assert (ei.value.code, ei.value.ambiguous) == ("connection", False)


async def test_reads_are_retried_on_transient_errors(client, sim):
    u = ettn()
    await client.send_einvoice(invoice_xml(u), u, BUYER_ALIAS)
    sim.fail_next(http_status=500, endpoint=codes.STATUS_EINVOICE, times=2)
    assert (await client.get_status(nilvera.EINVOICE, u)).code == "1000"
    sim.fail_next(http_status=502, endpoint=codes.TAXPAYER, times=3)
    with pytest.raises(TransientError) as ei:
        await client.check_taxpayer(BUYER_VKN)
    assert (ei.value.code, ei.value.ambiguous) == ("http_502", False)  # a read cannot have done anything
    sim.fail_next(delay=1.0, endpoint=codes.STATUS_EINVOICE, times=5)
    async with NilveraClient(API_KEY, client.base_url, timeout=0.3, read_retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        with pytest.raises(TransientError) as ei:
            await c.get_status(nilvera.EINVOICE, u)
    assert (ei.value.code, ei.value.ambiguous) == ("timeout", False)


# -- the wire, as Nilvera's documents and Odoo show it -------------------------------------------------

async def test_the_simulator_speaks_nilveras_documented_shapes(base_url, sim):
    auth = {"Authorization": f"Bearer {API_KEY}"}
    u = ettn()
    async with httpx.AsyncClient(base_url=base_url) as raw:
        r = await raw.post("/einvoice/Send/Xml", files={"file": ("a.xml", invoice_xml(u), "application/xml")}, headers=auth)
        assert r.status_code == 400 and r.json() == {"Message": "GECERSIZ ISTEK", "Errors": [
            {"Code": 400, "Description": "Alias", "Detail": "Nesnesi Null Olamaz."}]}
        r = await raw.post("/earchive/Send/Xml", data={"other": "x"}, files={"x": ("a", b"1")}, headers=auth)
        assert r.status_code == 400 and r.json()["Errors"][0]["Description"] == "file"
        r = await raw.get("/general/Company")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await raw.post("/einvoice/Send/Xml", params={"Alias": BUYER_ALIAS}, headers=auth,
                           files={"file": ("a.xml", invoice_xml(u), "application/xml")})
        assert r.status_code == 200 and r.json() == {"UUID": u, "InvoiceNumber": "KPR2026000000001"}
        # Odoo asks for the status in lower case (/einvoice/sale/...): ASP.NET routes ignore case
        r = await raw.get(f"/einvoice/sale/{u}/Status", headers=auth)
        body = r.json()
        assert set(body) == {"InvoiceProfile", "IssueDate", "Answer", "InvoiceStatus", "EnvelopeInfo"}
        assert body["InvoiceStatus"]["Code"] == "waiting" and body["EnvelopeInfo"]["GIBCode"] == 1000
        r = await raw.get(f"/general/GlobalCompany/Check/TaxNumber/{UNREGISTERED_VKN}", headers=auth)
        assert r.json() == []
        # a DOCTYPE (billion laughs and friends) is not read
        bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                + invoice_xml(ettn()).split(b"?>", 1)[1])
        r = await raw.post("/einvoice/Send/Xml", params={"Alias": BUYER_ALIAS}, headers=auth,
                           files={"file": ("a.xml", bomb, "application/xml")})
        assert r.status_code == 400
    assert sim.count() == 1


def test_status_mapping_table():
    for code, spec in codes.GIB_STATUS.items():
        st = status_from_response("einvoice", "U", {"InvoiceStatus": {"Code": "waiting"}, "EnvelopeInfo": {"GIBCode": code}})
        assert (st.code, st.outcome, st.final, st.resend) == (str(code), spec.outcome, spec.final, spec.resend)
        assert st.tr and st.en and st.uuid == "u"
    for gib in (1000, 1100, 1200, 1210, 1220):
        assert codes.GIB_STATUS[gib].outcome == "pending"
    assert codes.GIB_STATUS[1300].outcome == "delivered" and codes.GIB_STATUS[1163].outcome == "duplicate"
    for gib in (1150, 1160):
        assert (codes.GIB_STATUS[gib].outcome, codes.GIB_STATUS[gib].resend) == ("failed", "after_fix")
    # Nilvera's status alone, without an envelope code
    assert status_from_response("einvoice", "u", {"InvoiceStatus": {"Code": "waiting"}}).code == "queued"
    assert status_from_response("einvoice", "u", {"InvoiceStatus": {"Code": "succeed"}}).code == "1300"
    err = status_from_response("einvoice", "u", {"InvoiceStatus": {"Code": "error", "Description": "x"}})
    assert (err.code, err.outcome, err.final) == ("error", "failed", True)
    unk = status_from_response("einvoice", "u", {})
    assert (unk.code, unk.outcome, unk.final) == ("unknown", "pending", False)
    odd = status_from_response("einvoice", "u", {"InvoiceStatus": {"Code": "error"}, "EnvelopeInfo": {"GIBCode": 1999}})
    assert (odd.code, odd.outcome) == ("1999", "failed")
    assert status_from_response("earchive", "u", {"StatusCode": "succeed", "CancelStatus": True}).outcome == "cancelled"
    assert status_from_response("earchive", "u", {"StatusCode": "error", "StatusDetail": "1150 ..."}).outcome == "failed"


async def test_the_base_url_comes_from_the_environment(base_url, monkeypatch):
    from kopru.config import reset_settings

    monkeypatch.setenv("NILVERA_BASE_URL", base_url + "/")
    reset_settings()
    async with NilveraClient(API_KEY) as c:
        assert c.base_url == base_url and (await c.company()).tax_number == SELLER_VKN
    monkeypatch.delenv("NILVERA_BASE_URL")
    monkeypatch.setenv("DATABASE_URL", "postgresql://kopru@db.invalid/kopru")  # production data: production API
    reset_settings()
    c = NilveraClient(API_KEY)
    assert c.base_url == "https://api.nilvera.com" and nilvera.TEST_BASE_URL == "https://apitest.nilvera.com"
    await c.aclose()
    monkeypatch.undo()
    reset_settings()
    with pytest.raises(InvalidRequest):
        NilveraClient("")


async def test_a_shared_http_pool_is_used_and_left_open(base_url):
    async with httpx.AsyncClient() as pool:
        async with NilveraClient(API_KEY, base_url, http=pool) as a, NilveraClient(OTHER_KEY, base_url, http=pool) as b:
            assert (await a.company()).tax_number == SELLER_VKN and (await b.company()).tax_number == "1111111111"
        assert not pool.is_closed


# -- nothing secret or personal in the logs -------------------------------------------------------------


async def test_no_api_key_xml_tax_number_or_alias_in_logs_errors_or_reprs(base_url, sim, caplog, live_logs):
    caplog.set_level(logging.DEBUG)
    fmt = JsonFormatter()
    secrets = [API_KEY, f"Bearer {API_KEY}", SECRET_NOTE, "ÇĞİÖŞÜ-4711", BUYER_TCKN, BUYER_VKN, BUYER_ALIAS,
               "alici-firma", "TR-CAL-07", "Fiyat sözleşmeye"]
    seen: list[str] = []
    async with NilveraClient(API_KEY, base_url, timeout=0.5, read_retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        seen.append(repr(c))
        seen += [repr(await c.check_taxpayer(BUYER_VKN)), repr(await c.check_taxpayer(BUYER_TCKN))]
        u = ettn()
        res = await c.send_einvoice(invoice_xml(u, profile="TICARIFATURA", note=SECRET_NOTE), u, BUYER_ALIAS)
        seen += [repr(res), repr(await c.send_einvoice(invoice_xml(u, note=SECRET_NOTE), u, BUYER_ALIAS))]
        sim.advance(u)
        sim.answer(u, "RED", note="Fiyat sözleşmeye uymuyor")
        seen.append(repr(await c.get_status(nilvera.EINVOICE, u)))
        v = ettn()
        await c.send_earchive(invoice_xml(v, profile="EARSIVFATURA", buyer=BUYER_TCKN, scheme="TCKN"), v)
        w = ettn()
        await c.send_einvoice(invoice_xml(w, note="BAD-SCHEMATRON"), w, BUYER_ALIAS)
        sim.advance(w)
        seen.append(repr(await c.get_status(nilvera.EINVOICE, w)))
        sim.validation_stage = "submit"
        for fail in ({"code": 2054}, {"http_status": 500}, {"delay": 1.0}, {"drop": True}, {}):
            if fail:
                sim.fail_next(endpoint=codes.SEND_EINVOICE, **fail)
            x = ettn()
            with pytest.raises(nilvera.NilveraError) as ei:
                await c.send_einvoice(invoice_xml(x, note="BAD-SCHEMATRON " + SECRET_NOTE), x, BUYER_ALIAS)
            seen += [str(ei.value), repr(ei.value), repr(ei.value.__cause__)]
        with pytest.raises(InvalidRequest) as ei:
            await c.send_einvoice(invoice_xml(ettn()), ettn(), BUYER_ALIAS)
        seen.append(str(ei.value))
    async with NilveraClient(API_KEY + "x", base_url) as bad:
        with pytest.raises(AuthError) as ei:
            await bad.company()
        seen += [str(ei.value), repr(ei.value)]
    seen += [repr(sim.invoices), repr(sim.calls)] + live_logs
    records = [r for r in caplog.records if r.name.startswith(("kopru", "httpx", "httpcore"))]
    assert any(r.getMessage() == "nilvera.call" for r in records)
    assert any(r.getMessage() == "nilvera.call_failed" for r in records)
    assert any(r.name == "httpx" and "Check/TaxNumber/***" in r.getMessage() for r in records)  # httpx's own line, masked
    for r in records:
        seen += [fmt.format(r), repr(r.__dict__)]  # formatted and raw: the formatter's mask is not what keeps them out
    blob = "\n".join(seen)
    for s in secrets:
        assert s not in blob, s
    calls = [c for c in map(json.loads, live_logs) if c["msg"] == "nilvera.call"]
    sent = next(c for c in calls if c["endpoint"] == "einvoice.send")
    assert sent["uuid"] == u and sent["http_status"] == 200 and sent["xml_bytes"] > 0 and "duration_ms" in sent
    assert len(sent["trace_id"]) == 32  # logged inside the CLIENT span
    assert any(c["endpoint"] == "einvoice.send" and c.get("already_submitted") for c in calls)
    assert any(c["endpoint"] == "taxpayer" and c["tax_number_kind"] == "tckn" for c in calls)


# -- spans and import-time cost ---------------------------------------------------------------------------

SPAN_CHECK = textwrap.dedent('''
    import asyncio, json, uuid
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from kopru.connectors.nilvera import NilveraClient
    from kopru_tools.simulators.nilvera import NilveraSimulator, serve

    sim = NilveraSimulator(validator=None)
    sim.add_account("k")
    u = str(uuid.uuid4())
    xml = (f'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           f'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
           f'<cbc:ProfileID>EARSIVFATURA</cbc:ProfileID><cbc:UUID>{u}</cbc:UUID></Invoice>').encode()

    async def main(url):
        async with NilveraClient("k", url) as c:
            await c.check_taxpayer("1234567890")
            await c.send_earchive(xml, u)
            await c.get_status("earchive", u)

    with serve(sim) as url:
        asyncio.run(main(url))
    print(json.dumps([[s.name, s.kind.name] for s in exporter.get_finished_spans()]))
''')


def test_each_call_is_a_client_span():
    out = subprocess.run([sys.executable, "-c", SPAN_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "ERROR"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        ["nilvera taxpayer", "CLIENT"], ["nilvera earchive.send", "CLIENT"], ["nilvera earchive.status", "CLIENT"]]


def test_importing_the_connector_loads_no_http_client():
    code = ("import sys, kopru.connectors.nilvera; "
            "print(sorted(m for m in ('httpx', 'starlette', 'uvicorn', 'lxml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_the_dev_simulators_buyer_answers_by_itself_and_the_control_route_chooses_red(client, sim, base_url):
    """kopru dev's simulator finishes a TICARIFATURA's life with no manual step (the buyer's
    answer, NILVERA_SIM_ANSWER, KABUL by default); POST /_simulator/answer-next picks RED."""
    import httpx

    sim.auto_answer = "KABUL"
    try:
        u = ettn()
        await client.send_einvoice(invoice_xml(u, profile="TICARIFATURA"), u, BUYER_ALIAS)
        states = await poll(client, nilvera.EINVOICE, u, 4)
        assert (states[-1].code, states[-1].outcome, states[-1].final) == ("KABUL", "accepted", True)
        async with httpx.AsyncClient() as h:
            assert (await h.post(f"{base_url}/_simulator/answer-next", json={"answer": "maybe"})).status_code == 400
            assert (await h.post(f"{base_url}/_simulator/answer-next", json={"answer": "RED"})).status_code == 200
        u = ettn()
        await client.send_einvoice(invoice_xml(u, profile="TICARIFATURA"), u, BUYER_ALIAS)
        states = await poll(client, nilvera.EINVOICE, u, 4)
        assert (states[-1].code, states[-1].outcome) == ("RED", "rejected")
    finally:
        sim.auto_answer = None
