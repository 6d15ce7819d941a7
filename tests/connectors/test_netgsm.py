"""Netgsm connector against the Netgsm simulator served on loopback over real HTTP
(uvicorn in a thread, httpx on the wire: no mock transport)."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from kopru.connectors import netgsm
from kopru.connectors.netgsm import (
    CODES,
    Credentials,
    InvalidRequest,
    NetgsmClient,
    PermanentError,
    ReportStatus,
    RetryPolicy,
    TransientError,
)
from kopru_tools.simulators.netgsm import NetgsmSimulator, serve
from kopru.logs import JsonFormatter

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "8501234567", "gizli-Parola-42!"
CREDS = Credentials(USER, PASSWORD)
NUMBER, NUMBER2 = "+905321234567", "+905339876543"
NETGSM_NO = "5321234567"
TEXT = "Siparişiniz kargoya verildi, takip kodu ÇĞİÖŞÜ-4711"
SEND_PERMANENT = ["20", "30", "40", "50", "51", "70", "85"]
SEND_TRANSIENT = ["80", "100", "101"]


@pytest.fixture(scope="module")
def sim():
    s = NetgsmSimulator()
    s.add_account(USER, PASSWORD, ["KOPRU", "KOPRU TEST"])
    s.add_account("noiys", "pw-noiys-1", ["KOPRU"], iys=False)
    s.add_account("nobrand", "pw-nobrand-1", ["KOPRU"], iys_brand=False)
    s.add_account("nootp", "pw-nootp-1", ["KOPRU"], otp=False)
    return s


@pytest.fixture(scope="module")
def base_url(sim):
    with serve(sim) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh(sim):
    sim.reset()
    yield
    sim.clear_failures()


@pytest.fixture
async def client(base_url):
    async with NetgsmClient(base_url, timeout=2.0,
                            read_retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)) as c:
        yield c


def key() -> str:
    return "sms-" + os.urandom(8).hex()


async def send_one(client, text=TEXT, number=NUMBER, **kw):
    kw.setdefault("iysfilter", "0")
    kw.setdefault("ref", key())
    creds = kw.pop("creds", CREDS)
    header = kw.pop("msgheader", "KOPRU")
    return await client.send(creds, header, [(text, number)], **kw)


# -- sending -----------------------------------------------------------------------

async def test_send_returns_a_jobid_and_netgsm_gets_what_it_documents(client, sim):
    k = key()
    start = datetime(2030, 1, 2, 7, 30, tzinfo=timezone.utc)  # 10:30 in Istanbul
    res = await send_one(client, encoding="tr", ref=k, startdate=start)
    assert res.jobid.isdigit() and res.code == "00" and res.recipients == 1 and res.ref == k
    (m,) = sim.job(res.jobid)
    assert (m.no, m.msg, m.msgheader, m.encoding, m.iysfilter) == (NETGSM_NO, TEXT, "KOPRU", "TR", "0")
    assert m.startdate == "020120301030"
    assert sim.calls[-1].usercode == USER and sim.calls[-1].endpoint == "send"


async def test_many_recipients_go_as_one_job(client, sim):
    res = await client.send(CREDS, "KOPRU", [("a", NUMBER), ("b", NUMBER2)], iysfilter="11", ref=key())
    assert res.recipients == 2
    assert sorted(m.no for m in sim.job(res.jobid)) == ["5321234567", "5339876543"]


async def test_netgsm_has_no_idempotency_key_a_repeat_is_a_second_message(client, sim, base_url):
    """Like the real API: nothing in a send tells Netgsm it saw it before, and no header
    of ours is sent (kopru.work reconciles instead); the inspection route lists both calls."""
    import httpx

    k = key()
    a = await send_one(client, ref=k)
    b = await send_one(client, ref=k)
    assert a.jobid != b.jobid and sim.count() == 2
    async with httpx.AsyncClient() as h:
        seen = (await h.get(f"{base_url}/_simulator/calls")).json()["calls"]
    assert [c["endpoint"] for c in seen][-2:] == ["send", "send"] and "password" not in str(seen)


@pytest.mark.parametrize("code", SEND_PERMANENT)
async def test_permanent_codes_are_not_retryable(client, sim, code):
    sim.fail_next(code=code, endpoint="send")
    with pytest.raises(PermanentError) as ei:
        await send_one(client)
    e = ei.value
    assert (e.code, e.http_status, e.endpoint, e.retryable) == (code, 406, "send", False)
    assert (e.tr, e.en) == (CODES["send"][code].tr, CODES["send"][code].en) and e.tr and e.en and e.tr != e.en
    assert sim.count() == 0


@pytest.mark.parametrize("code", SEND_TRANSIENT)
async def test_transient_codes_are_retryable_and_certainly_not_sent(client, sim, code):
    sim.fail_next(code=code, endpoint="send")
    with pytest.raises(TransientError) as ei:
        await send_one(client)
    e = ei.value
    assert (e.code, e.http_status, e.retryable, e.ambiguous) == (code, 406, True, False)
    assert e.tr and e.en and RetryPolicy.retryable(e)
    assert sim.count() == 0


async def test_an_undocumented_code_is_retried_not_failed_for_good(client, sim):
    sim.fail_next(code="99", endpoint="send")
    with pytest.raises(TransientError) as ei:
        await send_one(client)
    assert ei.value.code == "99" and not ei.value.ambiguous


async def test_http_500_is_transient_and_may_have_been_sent(client, sim):
    sim.fail_next(http_status=500, endpoint="send")
    with pytest.raises(TransientError) as ei:
        await send_one(client)
    assert (ei.value.code, ei.value.http_status, ei.value.ambiguous) == ("http_500", 500, True)
    assert sim.count() == 0
    # and the retry goes through
    assert (await send_one(client)).jobid and sim.count() == 1


async def test_a_timeout_is_transient_and_ambiguous_and_the_report_by_date_finds_it(base_url, sim):
    k = key()
    sim.fail_next(delay=1.5, endpoint="send")  # Netgsm takes it, answers too late
    t_before = datetime.now(timezone.utc)
    async with NetgsmClient(base_url, timeout=0.4) as c:
        t0 = time.monotonic()
        with pytest.raises(TransientError) as ei:
            await send_one(c, ref=k)
        assert time.monotonic() - t0 < 1.4
        assert (ei.value.code, ei.value.ambiguous, ei.value.http_status) == ("timeout", True, None)
        assert sim.count() == 1  # it did go out: that is what "ambiguous" means
        from datetime import timedelta

        found = await c.report_by_date(CREDS, t_before - timedelta(seconds=5), datetime.now(timezone.utc) + timedelta(seconds=5))
    assert [(e.jobid, e.number, e.msglen) for e in found] == [(sim.messages[0].jobid, NUMBER, len(TEXT))]


async def test_connection_refused_is_transient_and_certainly_not_sent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    async with NetgsmClient(f"http://127.0.0.1:{port}", timeout=1.0) as c:
        with pytest.raises(TransientError) as ei:
            await send_one(c)
    assert (ei.value.code, ei.value.ambiguous) == ("connection", False)


# -- what the simulator itself refuses, with Netgsm's codes ---------------------------

async def test_wrong_password_is_code_30(client, sim):
    with pytest.raises(PermanentError) as ei:
        await send_one(client, creds=Credentials(USER, "wrong-password"))
    assert ei.value.code == "30" and ei.value.http_status == 406 and sim.count() == 0
    with pytest.raises(PermanentError) as ei:
        await send_one(client, creds=Credentials("nobody", PASSWORD))
    assert ei.value.code == "30"


async def test_unregistered_header_is_code_40(client):
    with pytest.raises(PermanentError) as ei:
        await send_one(client, msgheader="BASKASI")
    assert ei.value.code == "40"


@pytest.mark.parametrize(("user", "password", "code"), [("noiys", "pw-noiys-1", "50"), ("nobrand", "pw-nobrand-1", "51")])
@pytest.mark.parametrize("iysfilter", ["11", "12"])
async def test_iys_sends_need_iys_permission_and_brand(client, sim, user, password, code, iysfilter):
    creds = Credentials(user, password)
    with pytest.raises(PermanentError) as ei:
        await send_one(client, creds=creds, iysfilter=iysfilter)
    assert ei.value.code == code
    assert (await send_one(client, creds=creds, iysfilter="0")).jobid  # informational is fine


async def test_too_long_text_is_code_20(client, sim):
    with pytest.raises(PermanentError) as ei:
        await send_one(client, text="x" * (sim.max_chars + 1))
    assert ei.value.code == "20"


async def test_more_than_the_duplicate_limit_to_one_number_is_code_85(client, sim):
    sim.duplicate_limit = 3
    try:
        for _ in range(3):
            await send_one(client)
        with pytest.raises(PermanentError) as ei:
            await send_one(client)
        assert ei.value.code == "85" and sim.count() == 3
        await send_one(client, number=NUMBER2)  # another number is fine
    finally:
        sim.duplicate_limit = 20


async def test_sending_limit_is_code_80_transient(client, sim):
    sim.send_limit_per_minute = 1
    try:
        await send_one(client)
        with pytest.raises(TransientError) as ei:
            await send_one(client)
        assert ei.value.code == "80" and sim.count() == 1
    finally:
        sim.send_limit_per_minute = None


async def test_bad_parameters_are_code_70_on_the_wire_and_refused_locally(base_url, client, sim):
    auth = (USER, PASSWORD)
    async with httpx.AsyncClient(base_url=base_url) as raw:
        for body in ({"msgheader": "KOPRU", "messages": [{"msg": "a", "no": NETGSM_NO}], "iysfilter": "13"},
                     {"msgheader": "KOPRU", "messages": []},
                     {"msgheader": "KOPRU", "messages": [{"msg": "a", "no": "0212123456"}]},
                     {"msgheader": "KOPRU", "messages": [{"msg": "a", "no": NETGSM_NO}], "startdate": "2030-01-02"}):
            r = await raw.post("/sms/rest/v2/send", json=body, auth=auth)
            assert (r.status_code, r.json()["code"]) == (406, "70")
        r = await raw.post("/sms/rest/v2/send", content=b"not json", auth=auth)
        assert r.json()["code"] == "70"
    assert sim.count() == 0
    before = len(sim.calls)
    for kw, code in (({"iysfilter": "13"}, "netgsm.iysfilter_invalid"), ({"encoding": "UCS2"}, "netgsm.encoding_invalid"),
                     ({"msgheader": "TWELVE-CHARS"}, "netgsm.msgheader_invalid"), ({"ref": ""}, "netgsm.ref_invalid"),
                     ({"text": "  "}, "netgsm.message_empty"), ({"startdate": datetime(2030, 1, 2)}, "netgsm.startdate_invalid"),
                     ({"creds": Credentials(USER, "")}, "netgsm.credentials_missing")):
        with pytest.raises(InvalidRequest) as ei:
            await send_one(client, **kw)
        assert ei.value.code == code and ei.value.tr and ei.value.en
    assert len(sim.calls) == before  # nothing went out


# -- numbers ------------------------------------------------------------------------

@pytest.mark.parametrize(("e164", "netgsm_form"), [("+905321234567", "5321234567"), ("+905051112233", "5051112233"),
                                                   ("+905999999999", "5999999999")])
def test_numbers_go_to_netgsm_as_ten_digits(e164, netgsm_form):
    assert netgsm.to_netgsm(e164) == netgsm_form
    assert netgsm.from_netgsm(netgsm_form) == e164 and netgsm.from_netgsm("90" + netgsm_form) == e164


@pytest.mark.parametrize("bad", ["05321234567", "5321234567", "905321234567", "+90 532 123 45 67", "+902161234567",
                                 "+4915112345678", "+90532123456", "+9053212345678", "", None])
def test_numbers_netgsm_cannot_take_are_refused_without_echo(bad):
    with pytest.raises(InvalidRequest) as ei:
        netgsm.to_netgsm(bad)
    assert ei.value.code == "netgsm.number_invalid"
    assert bad is None or bad == "" or bad not in str(ei.value)


def test_from_netgsm_rejects_what_is_not_a_turkish_mobile():
    assert netgsm.from_netgsm("2161234567") is None and netgsm.from_netgsm(None) is None


async def test_the_client_refuses_a_bad_number_before_calling(client, sim):
    with pytest.raises(InvalidRequest):
        await send_one(client, number="05321234567")
    assert sim.calls == []


# -- reports ---------------------------------------------------------------------------

STATUS_OUTCOME = {0: "pending", 1: "delivered", 2: "failed", 3: "failed", 4: "failed", 11: "failed", 12: "failed",
                  13: "failed", 14: "failed", 15: "failed", 16: "failed", 17: "failed"}


@pytest.mark.parametrize("status", sorted(STATUS_OUTCOME))
async def test_each_report_status_is_parsed(client, sim, status):
    res = await send_one(client)
    assert sim.set_status(res.jobid, status, error_code=0 if status < 2 else 7) == 1
    (entry,) = await client.report(CREDS, [res.jobid])
    assert entry.jobid == res.jobid and entry.number == NUMBER
    assert entry.status is ReportStatus(status) and entry.status_code == status
    assert entry.status.outcome == STATUS_OUTCOME[status] and entry.status.final == (status != 0)
    assert entry.status.iys == (status in (16, 17))
    assert entry.status.tr and entry.status.en and entry.operator == 30 and entry.msglen == len(TEXT)
    assert (entry.delivered_at is not None) == (status == 1)
    assert entry.error_code == (0 if status < 2 else 7)


async def test_an_undocumented_report_status_is_kept_as_unknown(client, sim):
    res = await send_one(client)
    sim.set_status(res.jobid, 42)
    (entry,) = await client.report(CREDS, [res.jobid])
    assert entry.status is ReportStatus.UNKNOWN and entry.status_code == 42 and entry.status.outcome == "pending"


async def test_report_statuses_per_recipient_and_across_pages(client, sim):
    res = await client.send(CREDS, "KOPRU", [("a", NUMBER), ("b", NUMBER2)], iysfilter="0", ref=key())
    sim.set_status(res.jobid, 1, number=NUMBER2)
    sim.set_status(res.jobid, 16, number="5321234567")
    got = {e.number: e.status for e in await client.report(CREDS, [res.jobid])}
    assert got == {NUMBER: ReportStatus.IYS_REJECTED, NUMBER2: ReportStatus.DELIVERED}
    many = [("x", f"+90532{i:07d}") for i in range(150)]
    big = await client.send(CREDS, "KOPRU", many, iysfilter="0", ref=key())
    entries = await client.report(CREDS, [big.jobid])
    assert len(entries) == 150 and {e.number for e in entries} == {n for _, n in many}
    assert len([c for c in sim.calls if c.endpoint == "report"]) == 3  # pages 0, 1 (100 + 50) of the big job, plus the first


async def test_report_with_nothing_to_list_is_empty_not_an_error(client):
    assert await client.report(CREDS, ["1"]) == []
    assert await client.report(CREDS, []) == []


async def test_report_date_window(client, sim):
    res = await send_one(client)
    now = datetime.now(timezone.utc)
    assert len(await client.report(CREDS, [res.jobid], startdate=now - timedelta(hours=1), stopdate=now + timedelta(hours=1))) == 1
    assert await client.report(CREDS, [res.jobid], startdate=now - timedelta(days=2), stopdate=now - timedelta(days=1)) == []


async def test_report_reads_are_retried_on_transient_errors(client, sim):
    res = await send_one(client)
    sim.fail_next(http_status=500, endpoint="report")
    assert len(await client.report(CREDS, [res.jobid])) == 1
    sim.fail_next(code="100", endpoint="report", times=3)
    with pytest.raises(TransientError) as ei:
        await client.report(CREDS, [res.jobid])
    assert ei.value.code == "100" and not ei.value.ambiguous
    sim.report_limit_per_minute = 1
    try:
        await client.report(CREDS, [res.jobid])
        with pytest.raises(TransientError) as ei:
            await client.report(CREDS, [res.jobid])
        assert ei.value.code == "80"
    finally:
        sim.report_limit_per_minute = None


async def test_report_auth_failure_is_permanent_and_not_retried(client, sim):
    with pytest.raises(PermanentError) as ei:
        await client.report(Credentials(USER, "nope"), ["1"])
    assert ei.value.code == "30" and len(sim.calls) == 1


async def test_delivery_reports_are_pushed_to_a_callback(client, sim):
    received = []

    async def app(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        received.append((scope["path"], json.loads(body)))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    res = await send_one(client)
    sim.set_status(res.jobid, 1)
    with serve(app) as callback:
        assert await sim.push_reports(callback + "/sms/reports", [res.jobid]) == 1
    ((path, entry),) = received
    assert path == "/sms/reports" and entry["jobid"] == res.jobid and entry["status"] == 1
    assert netgsm.from_netgsm(entry["number"]) == NUMBER


# -- headers (the "test connection" call) ---------------------------------------------------

async def test_msgheaders_lists_the_accounts_headers(client):
    assert await client.msgheaders(CREDS) == ["KOPRU", "KOPRU TEST"]


async def test_msgheaders_with_wrong_credentials_is_code_30(client, sim):
    with pytest.raises(PermanentError) as ei:
        await client.msgheaders(Credentials(USER, "wrong"))
    assert (ei.value.code, ei.value.http_status, ei.value.endpoint) == ("30", 406, "msgheader")
    sim.fail_next(code="101", endpoint="msgheader", times=3)
    with pytest.raises(TransientError):
        await client.msgheaders(CREDS)


async def test_module_functions_take_the_base_url_from_the_environment(base_url, monkeypatch):
    from kopru.config import reset_settings

    monkeypatch.setenv("NETGSM_BASE_URL", base_url + "/")
    reset_settings()
    assert await netgsm.msgheaders(CREDS) == ["KOPRU", "KOPRU TEST"]
    res = await netgsm.send(CREDS, "KOPRU", [("a", NUMBER)], iysfilter="0", ref=key())
    assert [e.jobid for e in await netgsm.report(CREDS, [res.jobid])] == [res.jobid]
    monkeypatch.delenv("NETGSM_BASE_URL")
    monkeypatch.setenv("DATABASE_URL", "postgresql://kopru@db.invalid/kopru")  # production data: production API
    reset_settings()
    c = NetgsmClient()
    assert c.base_url == "https://api.netgsm.com.tr"
    await c.aclose()
    monkeypatch.undo()
    reset_settings()


# -- OTP -----------------------------------------------------------------------------------

async def test_otp_is_sent_through_the_otp_endpoint(client, sim):
    k = key()
    res = await client.send_otp(CREDS, "KOPRU", "Dogrulama kodunuz: 482913", NUMBER, ref=k)
    assert res.jobid and sim.count(kind="otp") == 1 and sim.count(kind="sms") == 0


@pytest.mark.parametrize(("creds", "text", "code"), [
    (Credentials("nootp", "pw-nootp-1"), "Kod: 1", "60"),
    (CREDS, "Doğrulama kodunuz: 1", "20"),  # no Turkish letters on OTP
    (CREDS, "x" * 161, "20"),
    (Credentials(USER, "wrong"), "Kod: 1", "30"),
])
async def test_otp_refusals_are_permanent(client, sim, creds, text, code):
    with pytest.raises(PermanentError) as ei:
        await client.send_otp(creds, "KOPRU", text, NUMBER, ref=key())
    assert ei.value.code == code and ei.value.endpoint == "otp" and sim.count() == 0
    assert ei.value.en == CODES["otp"][code].en


@pytest.mark.parametrize(("code", "error"), [("41", PermanentError), ("52", PermanentError), ("100", TransientError)])
async def test_otp_codes_are_classified(client, sim, code, error):
    sim.fail_next(code=code, endpoint="otp")
    with pytest.raises(error) as ei:
        await client.send_otp(CREDS, "KOPRU", "Kod: 1", NUMBER, ref=key())
    assert ei.value.code == code


# -- nothing personal or secret in the logs -------------------------------------------------------


async def test_no_number_text_or_password_in_logs_errors_or_reprs(base_url, sim, caplog, live_logs):
    caplog.set_level(logging.DEBUG)
    fmt = JsonFormatter()
    secrets = [NUMBER, NETGSM_NO, "90" + NETGSM_NO, TEXT, "ÇĞİÖŞÜ-4711", PASSWORD,
               base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
    seen: list[str] = []
    async with NetgsmClient(base_url, timeout=0.5, read_retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        res = await send_one(c)
        seen += [repr(res), str(res)]
        sim.set_status(res.jobid, 1)
        seen += [repr(e) for e in await c.report(CREDS, [res.jobid])]
        await c.msgheaders(CREDS)
        await c.send_otp(CREDS, "KOPRU", "Kod 4711", NUMBER, ref=key())
        for fail in ({"code": "40"}, {"http_status": 500}, {"delay": 1.0}):
            sim.fail_next(endpoint="send", **fail)
            with pytest.raises(netgsm.NetgsmError) as ei:
                await send_one(c)
            seen += [str(ei.value), repr(ei.value), repr(ei.value.__cause__)]
        with pytest.raises(PermanentError) as ei:
            await send_one(c, creds=Credentials(USER, PASSWORD + "x"))
        seen += [str(ei.value), repr(ei.value)]
        with pytest.raises(InvalidRequest) as ei:
            await send_one(c, number="0" + NETGSM_NO)
        seen += [str(ei.value)]
    seen += [repr(CREDS), repr(sim.messages[0])] + live_logs
    records = [r for r in caplog.records if r.name.startswith(("kopru", "httpx", "httpcore"))]
    assert any(r.getMessage() == "netgsm.call" for r in records)
    assert any(r.getMessage() == "netgsm.call_failed" for r in records)
    for r in records:
        seen += [fmt.format(r), repr(r.__dict__)]  # formatted and raw: the mask is not what keeps them out
    blob = "\n".join(seen)
    for s in secrets:
        assert s not in blob
    calls = [c for c in map(json.loads, live_logs) if c["msg"] == "netgsm.call"]
    sent = next(c for c in calls if c["endpoint"] == "send")
    assert sent["jobid"] == res.jobid and sent["code"] == "00" and sent["recipients"] == 1 and "duration_ms" in sent
    assert len(sent["trace_id"]) == 32  # logged inside the CLIENT span


# -- spans and import-time cost ---------------------------------------------------------------------

SPAN_CHECK = textwrap.dedent('''
    import asyncio, json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from kopru.connectors.netgsm import Credentials, NetgsmClient
    from kopru_tools.simulators.netgsm import NetgsmSimulator, serve

    sim = NetgsmSimulator()
    sim.add_account("u", "p")

    async def main(url):
        async with NetgsmClient(url) as c:
            await c.msgheaders(Credentials("u", "p"))
            await c.send(Credentials("u", "p"), "KOPRU", [("a", "+905321234567")], iysfilter="0", ref="k1")

    with serve(sim) as url:
        asyncio.run(main(url))
    print(json.dumps([[s.name, s.kind.name] for s in exporter.get_finished_spans()]))
''')


def test_each_call_is_a_client_span():
    out = subprocess.run([sys.executable, "-c", SPAN_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "ERROR"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["netgsm msgheader", "CLIENT"], ["netgsm send", "CLIENT"]]


def test_importing_the_connector_loads_no_http_client():
    code = "import sys, kopru.connectors.netgsm; print(sorted(m for m in ('httpx', 'starlette', 'uvicorn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_the_dev_simulator_delivers_by_itself_and_the_control_route_injects_a_refusal(client, sim, base_url):
    """kopru dev's simulator finishes an SMS's life with no manual step (delivered after
    NETGSM_SIM_DELIVER_AFTER seconds); POST /_simulator/fail-next makes Netgsm refuse."""
    import asyncio

    import httpx

    sim.deliver_after = 0.3
    try:
        res = await send_one(client)
        (pending,) = await client.report(CREDS, [res.jobid])
        assert not pending.status.final
        await asyncio.sleep(0.4)
        (done,) = await client.report(CREDS, [res.jobid])
        assert done.status.final and done.status.outcome == "delivered" and done.delivered_at
        async with httpx.AsyncClient() as h:
            assert (await h.post(f"{base_url}/_simulator/fail-next", json={"code": 40})).status_code == 400
            assert (await h.post(f"{base_url}/_simulator/fail-next", json={"code": "40", "endpoint": "send"})).status_code == 200
        with pytest.raises(PermanentError) as ei:
            await send_one(client)
        assert ei.value.code == "40"
    finally:
        sim.deliver_after = None


@pytest.mark.parametrize(("code", "has"), [
    ("netgsm.40", "başlığı"), ("netgsm.report.16", "İYS"), ("netgsm.report.2", "süresi"),
    ("nilvera.2054", "e-Fatura"), ("gib.1163", ""), ("sms.not_configured", "Netgsm"),
    ("work.outcome_unknown", "operatör"), ("netgsm.9999", "belgelerimizde yok"), ("nilvera.x", "belgelerimizde yok"),
])
def test_every_outcome_code_has_words_in_turkish_and_english(code, has):
    from kopru.connectors.words import describe

    d = describe(code)
    assert d["code"] == code and d["tr"] and d["en"] and has.lower() in d["tr"].lower(), d
    assert describe(None) is None
