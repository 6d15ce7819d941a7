"""Traces to a collector (kopru.tracing.configure): with OTEL_EXPORTER_OTLP_ENDPOINT set, a
function's spans go over OTLP/HTTP (protobuf) to the collector, service.name = the function,
one trace across an HTTP request, the relay's publish of the event it emits and that
event's delivery to another function; unset, no SDK
is imported, and set, none at import time or on /healthz either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import REPO
from tests.helpers import bearer, drain


@contextmanager
def collector():
    """A loopback OTLP/HTTP traces receiver: yields (base URL, spans received), each span a
    dict with its service.name, decoded from ExportTraceServiceRequest (opentelemetry-proto)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest, ExportTraceServiceResponse)

    spans: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            ok = self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf"
            if ok:
                req = ExportTraceServiceRequest.FromString(raw)
                for rs in req.resource_spans:
                    res = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            spans.append({"service": res.get("service.name"), "name": s.name,
                                          "trace": s.trace_id.hex(), "span": s.span_id.hex(),
                                          "parent": s.parent_span_id.hex() or None, "kind": s.kind})
            body = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if ok else 404)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", spans
    finally:
        srv.shutdown()
        srv.server_close()


async def test_one_trace_from_a_request_through_its_event_to_another_function_reaches_the_collector(
        client, apps, onboard, iyzico, db, monkeypatch):
    """A payment's browser callback into `payment` (with a caller's traceparent) settles it and
    emits kopru.payment.succeeded.v1; delivered to `payment-chain`. The collector receives the
    request span (child of the caller's), the outward call to iyzico (its child) and the
    delivery (a child of the request span, across the event's traceparent), one trace id,
    each span under its function's service.name."""
    from kopru import tracing
    from kopru.config import reset_settings
    from tests.conftest import IYZICO_API_KEY, IYZICO_SECRET
    from tests.payments.conftest import payment_body
    from tests.payments.test_payments import callback_path, token_of

    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": IYZICO_API_KEY, "secret_key": IYZICO_SECRET})
    assert r.status_code == 200, r.text
    await drain(apps, only=())  # earlier events are not this trace's
    with collector() as (url, spans):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
        reset_settings()
        tracing.shutdown()
        try:
            r = await client("payment").post("/payments", json=payment_body(), headers=bearer(t["token"]))
            assert r.status_code == 201, r.text
            out = r.json()
            fields = iyzico.complete(token_of(out))
            trace_id, caller = "5af7183fb1d4cf5f" + "0123456789abcdef", "b7ad6b7169203331"
            r = await client("payment").post(callback_path(db, out["id"]), data=fields, follow_redirects=False,
                                             headers={"traceparent": f"00-{trace_id}-{caller}-01"})
            assert "status=succeeded" in r.headers["location"]
            bus = await drain(apps, only=("payment-chain",))
            assert not bus.dead_letters
            assert tracing.flush()
        finally:
            tracing.shutdown()
            monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
            reset_settings()
    mine = [s for s in spans if s["trace"] == trace_id]
    assert {s["service"] for s in mine} == {"payment", "outbox-relay", "payment-chain"}, spans
    (request,) = [s for s in mine if s["name"] == "payment POST"]
    assert request["service"] == "payment" and request["parent"] == caller
    calls = [s for s in mine if s["name"].startswith("iyzico ")]
    assert calls and all(s["parent"] == request["span"] and s["service"] == "payment" for s in calls)
    # the relay's publish (a PRODUCER span, child of the request that wrote the event), then the delivery under it
    (publish,) = [s for s in mine if s["name"] == "kopru.payment publish"]
    assert publish["service"] == "outbox-relay" and publish["parent"] == request["span"] and publish["kind"] == 4
    (delivery,) = [s for s in mine if s["name"] == "payment-chain event"]
    assert delivery["service"] == "payment-chain" and delivery["parent"] == publish["span"]
    # the payment's creation, with no traceparent from its caller, started a trace of its own at the edge
    roots = [s for s in spans if s["name"] == "payment POST" and s["trace"] != trace_id]
    assert roots and roots[0]["parent"] is None and roots[0]["service"] == "payment"


CHECK = textwrap.dedent('''
    import asyncio, json, sys
    from kopru.runtime import Function
    fn = Function("otlp-probe")

    @fn.route("GET", "/ping", public=True)
    async def ping(call):
        return {"ok": True}

    def sdk():
        return sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter")))

    async def get(path):
        from starlette.requests import Request
        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b"",
                 "scheme": "http", "server": ("t", 80)}
        return (await fn(Request(scope))).status_code

    at_import = sdk()
    health = asyncio.run(get("/healthz"))
    after_health = sdk()
    status = asyncio.run(get("/ping"))
    from kopru import tracing
    print(json.dumps({"at_import": at_import, "after_health": after_health, "after_request": sdk(),
                      "status": [health, status], "providers": sorted(tracing._providers)}))
''')


def _probe(**env_over) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(KOPRU_LOG_LEVEL="ERROR", **env_over)
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_an_endpoint_no_sdk_is_imported_and_nothing_is_configured():
    res = _probe()
    assert res["status"] == [200, 200]
    assert res["at_import"] == res["after_health"] == res["after_request"] == [], res
    assert res["providers"] == []


def test_with_an_endpoint_the_sdk_comes_with_the_first_request_not_the_import():
    # the traces variable wins over the generic one; nothing listens there, nothing is sent in this test
    res = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:9/t")
    assert res["at_import"] == res["after_health"] == [], res
    assert "opentelemetry.sdk.trace" in res["after_request"] and any(
        m.startswith("opentelemetry.exporter.otlp.proto.http") for m in res["after_request"])
    assert res["providers"] == ["otlp-probe"]


def test_the_endpoint_follows_the_standard_variables(monkeypatch):
    from kopru.config import reset_settings, settings

    for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    try:
        reset_settings()
        assert settings().otlp_traces_endpoint is None
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
        reset_settings()
        assert settings().otlp_traces_endpoint == "http://collector:4318/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example/otlp")
        reset_settings()
        assert settings().otlp_traces_endpoint == "https://traces.example/otlp"
    finally:
        monkeypatch.undo()
        reset_settings()
