"""The WhatsApp Cloud API client against the simulator over loopback HTTP: what is permanent,
what is transient and what is ambiguous; the webhook signature over the raw bytes."""

from __future__ import annotations

import pytest

from kopru.connectors import whatsapp
from kopru_tools.simulators.whatsapp import WhatsAppSimulator, serve

PNID, TOKEN, SECRET = "200000000000002", "EAAG-connector-token", "connector-app-secret"


@pytest.fixture(scope="module")
def sim():
    s = WhatsAppSimulator()
    s.add_number(PNID, TOKEN, SECRET)
    s.add_template("siparis_kargoda", "tr", params=1)
    with serve(s) as url:
        s.url = url
        yield s


def client(sim):
    return whatsapp.WhatsAppClient(sim.url, timeout=2.0)


CREDS = whatsapp.Credentials(PNID, TOKEN)


async def test_send_and_the_answer(sim):
    res = await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="ref-1")
    assert res.wamid.startswith("wamid.") and res.wa_id == "905321234567"
    m = sim.sent_to("+905321234567")[-1]
    assert m.opaque == "ref-1" and m.parameters == ["1"]
    info = await client(sim).phone_number(CREDS)
    assert info["verified_name"] == "Köprü Dev"


async def test_codes_permanent_transient_and_ambiguous(sim):
    with pytest.raises(whatsapp.PermanentError) as e:
        await client(sim).phone_number(whatsapp.Credentials(PNID, "wrong-token"))
    assert e.value.code == "190" and e.value.http_status == 401 and "wrong-token" not in str(e.value)
    with pytest.raises(whatsapp.PermanentError) as e:
        await client(sim).send_template(CREDS, "+905321234567", "yok_boyle", "tr", ref="r")
    assert e.value.code == "132001"
    for code in (130429, 131056):
        sim.fail_next(code=code)
        with pytest.raises(whatsapp.TransientError) as t:
            await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
        assert t.value.code == str(code) and not t.value.ambiguous
    # a 5xx in Graph's shape, or Meta's server-side codes at any status: Meta may have taken it
    for code, status in ((None, 500), (131000, None), (131016, None), (2, None), (1, 400), (999999, 502)):
        sim.fail_next(code=code, http_status=status)
        with pytest.raises(whatsapp.TransientError) as t:
            await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
        assert t.value.code == str(code or 1) and t.value.ambiguous, (code, status)
    # a read is never ambiguous (asking again cannot send anything): retried, then answered
    sim.fail_next(code=131000, endpoint="phone")
    assert (await client(sim).phone_number(CREDS))["verified_name"] == "Köprü Dev"
    # a bare 429 is a refusal too; a connection refused never left
    sim.fail_next(http_status=429, raw=True)
    with pytest.raises(whatsapp.TransientError) as t:
        await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
    assert t.value.code == "http_429" and not t.value.ambiguous
    with pytest.raises(whatsapp.TransientError) as t:
        await whatsapp.WhatsAppClient("http://127.0.0.1:1", timeout=2.0).send_template(
            CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
    assert t.value.code == "connection" and not t.value.ambiguous
    sim.fail_next(http_status=502, raw=True)  # not Meta's answer: it may have sent
    with pytest.raises(whatsapp.TransientError) as t:
        await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
    assert t.value.code == "http_502" and t.value.ambiguous
    sim.fail_next(delay=3.0)  # accepted, answered after our time-out
    with pytest.raises(whatsapp.TransientError) as t:
        await client(sim).send_template(CREDS, "+905321234567", "siparis_kargoda", "tr", ["1"], ref="r")
    assert t.value.code == "timeout" and t.value.ambiguous
    with pytest.raises(whatsapp.InvalidRequest):
        await client(sim).send_text(CREDS, "05321234567", "Merhaba", ref="r")


def test_signature_over_the_raw_body():
    raw = b'{"object":"whatsapp_business_account","entry":[]}'
    good = whatsapp.signature(SECRET, raw)
    whatsapp.verify_signature(SECRET, raw, good)
    with pytest.raises(whatsapp.BadSignature) as e:
        whatsapp.verify_signature(SECRET, raw, None)
    assert e.value.missing
    for header in (whatsapp.signature("another-secret", raw), good.upper(), "sha1=" + good[7:], good[:-1]):
        with pytest.raises(whatsapp.BadSignature) as e:
            whatsapp.verify_signature(SECRET, raw, header)
        assert not e.value.missing
    with pytest.raises(whatsapp.BadSignature):
        whatsapp.verify_signature(SECRET, raw.replace(b":[]", b": []"), good)


def test_codes_have_both_languages():
    for code, spec in whatsapp.CODES.items():
        assert spec.kind in ("permanent", "transient") and spec.tr and spec.en, code
    assert whatsapp.spec(131047).kind == "permanent" and whatsapp.spec(130429).kind == "transient"
    assert whatsapp.spec(999999, 400).kind == "permanent" and whatsapp.spec(999999, 503).kind == "transient"
    from kopru.connectors.whatsapp.codes import maybe_taken

    assert not any(maybe_taken(c, 400) for c in (4, 80007, 130429, 131056))  # limits Meta documents: refused
    assert all(maybe_taken(c, 400) for c in (1, 2, 131000, 131016)) and maybe_taken(130429, 500)
