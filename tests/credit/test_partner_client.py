"""The credit partner's client on the transport: what a failed connection says about a report
request (taken or surely not), over real sockets on loopback; and that each call is one
traced call with its log line (kopru.connectors.common.traced_call)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from kopru.connectors import credit_partner as cp
from tests.conftest import CREDIT_API_KEY, CREDIT_CUSTOMER

TCKN = "10000000146"
CONSENT = {"reference": "c-1", "granted_at": "2026-12-01T10:00:00+03:00", "text_sha256": "a" * 64}


async def ask(c: cp.CreditPartnerClient):
    return await c.request_report(client_reference="ref-1", scheme="TCKN", number=TCKN, consent=CONSENT)


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_connection_refused_is_transient_and_surely_not_taken():
    async with cp.CreditPartnerClient("key", "CUST", f"http://127.0.0.1:{closed_port()}", timeout=1.0) as c:
        with pytest.raises(cp.TransientError) as ei:
            await ask(c)
    e = ei.value
    assert (e.code, e.retryable, e.ambiguous, e.endpoint) == ("credit_partner.unavailable", True, False, cp.CREATE)
    assert e.__cause__ is None and TCKN not in str(e)


async def dropping_server():
    """A server that reads the whole request, then closes without answering."""
    got = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        if length:
            await reader.readexactly(length)
        got.append(head.split(b" ")[0].decode())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], got


async def test_a_connection_dropped_after_the_request_went_may_have_made_the_report():
    """The request reached the partner, which closed without answering: it may have made (and
    billed) the report, so the request is ambiguous (reconciled by our reference, never asked
    again blindly); the same drop on the look-up is a plain transient read. Never a raw httpx
    error."""
    server, port, got = await dropping_server()
    try:
        async with cp.CreditPartnerClient("key", "CUST", f"http://127.0.0.1:{port}", timeout=2.0) as c:
            with pytest.raises(cp.TransientError) as sent:
                await ask(c)
            with pytest.raises(cp.TransientError) as read:
                await c.find_report("ref-1")
    finally:
        server.close()
        await server.wait_closed()
    assert got == ["POST", "GET"]
    assert (sent.value.code, sent.value.retryable, sent.value.ambiguous) == ("credit_partner.unavailable", True, True)
    assert (read.value.endpoint, read.value.ambiguous) == (cp.FIND, False)


async def test_no_free_connection_in_time_is_surely_not_taken():
    """The pool had no connection free within the time-out (PoolTimeout): the request never
    left the process, so it is retried, not reconciled or parked as unknown."""
    import httpx

    async def hang(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1))
    try:
        c = cp.CreditPartnerClient("key", "CUST", f"http://127.0.0.1:{port}", timeout=0.5, http=http)
        first, second = await asyncio.gather(ask(c), ask(c), return_exceptions=True)
    finally:
        await http.aclose()
        server.close()
        await server.wait_closed()
    assert all(isinstance(e, cp.TransientError) for e in (first, second)), (first, second)
    # one reached the server and got no answer (may have been taken); the other never got a connection
    assert sorted(e.ambiguous for e in (first, second)) == [False, True]


async def test_answers_map_to_errors_with_codes_and_each_call_logs_one_line(credit_sim, caplog):
    caplog.set_level(logging.INFO, logger="kopru.connectors.credit_partner")
    async with cp.CreditPartnerClient(CREDIT_API_KEY, CREDIT_CUSTOMER, credit_sim.url) as c:
        assert await c.find_report("yok-1") is None
        with pytest.raises(cp.AuthError) as auth:
            await cp.CreditPartnerClient("yanlis", CREDIT_CUSTOMER, credit_sim.url).ping()
        credit_sim.fail_next(503, endpoint="report.create")
        with pytest.raises(cp.TransientError) as unavailable:
            await ask(c)
    assert (auth.value.code, auth.value.retryable, auth.value.ambiguous, auth.value.http_status) == \
        ("credit_partner.credentials_invalid", False, False, 401)
    assert (unavailable.value.http_status, unavailable.value.ambiguous) == (503, True)
    lines = [(r.getMessage(), r.fields) for r in caplog.records if r.name == "kopru.connectors.credit_partner"]
    assert [m for m, _ in lines] == ["credit_partner.call", "credit_partner.call_failed",
                                     "credit_partner.call_failed"]
    assert lines[0][1]["endpoint"] == cp.FIND and lines[0][1]["outcome"] == "ok"
    assert lines[2][1]["code"] == "credit_partner.unavailable" and lines[2][1]["ambiguous"] is True
    assert TCKN not in repr(lines) and CREDIT_API_KEY not in repr(lines)
