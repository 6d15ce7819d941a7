"""The Arvento client on the transport and in the logs and traces: every failure is one of
its own errors with `code`, `retryable` and `ambiguous` (never a raw httpx error), each call
is one CLIENT span and one log line (kopru.connectors.common.traced_call), over real
sockets on loopback and the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from kopru.connectors import arvento as av

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_a_refused_connection_is_transient_and_surely_made_no_login():
    c = av.ArventoRest("filo", "parola", f"http://127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(av.TransientError) as ei:
        await c.login()
    e = ei.value
    assert (e.code, e.retryable, e.ambiguous, e.endpoint) == ("arvento.unavailable", True, False, av.LOGIN)
    assert e.__cause__ is None and "parola" not in str(e)


@pytest.mark.parametrize("call,ambiguous", [("login", True), ("last_positions", False)])
async def test_a_connection_dropped_after_the_request_went(call, ambiguous):
    """The request reached the server, which closed without answering: a TransientError
    (never a raw httpx error); ambiguous only for a login (Arvento may have made a new
    session and killed the old), not for a read."""
    got = asyncio.Event()

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        got.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        c = av.ArventoRest("filo", "parola", f"http://127.0.0.1:{port}", session_id="sid-1", timeout=2.0)
        with pytest.raises(av.TransientError) as ei:
            await getattr(c, call)()
    finally:
        server.close()
        await server.wait_closed()
    assert got.is_set()
    assert (ei.value.code, ei.value.retryable, ei.value.ambiguous) == ("arvento.unavailable", True, ambiguous)


async def test_every_error_says_code_retryable_and_ambiguous(arvento):
    arvento.add_account("kodlu", "parola", label="codes")
    for err, retryable in ((av.AuthError("arvento.auth_failed", av.LOGIN), False),
                           (av.PermanentError("arvento.refused", av.VEHICLES), False),
                           (av.RateLimited("arvento.rate_limited", av.VEHICLES), True),
                           (av.SessionInvalid("arvento.session_invalid", av.VEHICLES), True)):
        assert (err.retryable, err.ambiguous) == (retryable, False) and err.code.startswith("arvento.")
    arvento.fail_next(http_status=503)
    with pytest.raises(av.TransientError) as ei:  # a 5xx to a login: it may have been made
        await av.ArventoRest("kodlu", "parola", arvento.url).login()
    assert (ei.value.code, ei.value.http_status, ei.value.ambiguous) == ("arvento.unavailable", 503, True)


async def test_each_call_is_one_log_line_inside_its_span_with_nothing_secret(arvento, caplog, live_logs):
    from kopru.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    user, password = f"log-{uuid.uuid4().hex[:8]}", "gizli-parola-7"
    arvento.add_account(user, password, label=f"log-{user}")
    c = av.ArventoRest(user, password, arvento.url)
    sid = await c.login()
    with pytest.raises(av.RateLimited):  # at once: inside the simulator's window
        await c.vehicles()
    records = [r for r in caplog.records if r.name.startswith(("kopru", "httpx", "httpcore"))]
    lines = [json.loads(x) for x in live_logs]
    ok = [x for x in lines if x["msg"] == "arvento.call"]
    failed = [x for x in lines if x["msg"] == "arvento.call_failed"]
    assert [(x["endpoint"], x["http_status"], x["outcome"]) for x in ok] == [("login", 200, "ok")], ok
    assert len(ok[0]["trace_id"]) == 32 and "duration_ms" in ok[0]  # logged inside the CLIENT span
    assert [(x["endpoint"], x["code"], x["outcome"], x["ambiguous"]) for x in failed] == \
        [("vehicle", "arvento.rate_limited", "transient", False)], failed
    fmt = JsonFormatter()
    blob = "\n".join(live_logs + [fmt.format(r) + repr(r.__dict__) for r in records])
    for secret in (user, password, sid):
        assert secret not in blob


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

    from kopru.connectors.arvento import ArventoRest
    from kopru_tools.simulators.arvento import ArventoSimulator, serve

    sim = ArventoSimulator(window_s=0.0)
    sim.add_account("u", "p")
    sim.add_vehicle("u", "N1")

    async def main(url):
        c = ArventoRest("u", "p", url)
        await c.login()
        await c.last_positions()

    with serve(sim) as url:
        asyncio.run(main(url))
    print(json.dumps([[s.name, s.kind.name] for s in exporter.get_finished_spans()]))
''')


def test_each_call_is_a_client_span():
    out = subprocess.run([sys.executable, "-c", SPAN_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "ERROR"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["arvento login", "CLIENT"],
                                                              ["arvento vehicle/lastEvents", "CLIENT"]]
