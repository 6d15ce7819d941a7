"""Webhook deliveries per second to a local receiver: what Köprü's delivery costs against a
bare signed httpx POST to the same receiver, in the same run.

Set-up: the embedded PostgreSQL/Redis under <bench data dir>/webhooks; a receiver in its own
process (uvicorn, an ASGI app answering 204 to every POST) on loopback
(KOPRU_WEBHOOKS_ALLOW_PRIVATE=1, as `kopru dev` sets it); a tenant onboarded and one
endpoint registered through the real routes. Figures, interleaved round by round (--rounds
rounds of --calls deliveries each, after --warmup untimed ones), one delivery at a time:

  raw httpx        one pooled httpx.AsyncClient POSTing a body signed with the
                   standardwebhooks library (the least a sender can spend)
  guard.post       the same signed body through kopru.webhooks.guard.post: the name resolved
                   and checked, the connection pinned to the checked address (no database)
  event -> delivery  a CloudEvent (kopru.payment.succeeded.v1) to the webhooks function's
                   POST / (ASGI, in this process): sender token, inbox row, the delivery row,
                   the kopru.work claim, the signed POST, the record: the bare outward call
  workflow step    the same CloudEvent to the workflows function's POST /, one workflow of
                   one `webhook.call` step to a second endpoint: the run row, the step under
                   its Idempotency-Key, the same delivery through kopru.work, the run's record
                   (workflow steps/s against the bare outward call)

Reported: deliveries/s (calls / the round's wall time, median over rounds) and median ms per
delivery, each figure's ratio to raw httpx. Exit 1 when a delivery did not succeed.

    scripts/bench webhooks
    .venv/bin/python -m bench.webhooks --rounds 5 --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from bench.common import bench_data_dir, child_env, free_port, inprocess_tenant, percentile, prepare_services, \
    stop_services, table, write_results

RECEIVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def _data() -> dict[str, str]:
    return {"payment_id": str(uuid.uuid4()), "iyzico_payment_id": "12345678", "amount": "150.00",
            "paid_amount": "150.00", "currency": "TRY"}


async def _run(args, receiver: str) -> dict[str, Any]:
    import httpx
    from standardwebhooks.webhooks import Webhook

    from kopru.events.ingress import issue
    from kopru.webhooks import guard
    from kopru.webhooks.delivery import headers as wh_headers, sign

    clients, t, h = await inprocess_tenant(args.client_id, args.client_secret, "webhooks", "workflows")
    tid = t["tenant"]["id"]
    hooks_c = clients["webhooks"]
    url = receiver + "/hook"
    r = await hooks_c.post("/webhooks/endpoints", headers=h, json={"url": url,
                                                                   "event_types": ["kopru.payment.succeeded.v1"]})
    if r.status_code != 201:
        raise SystemExit(f"endpoint: {r.status_code} {r.text[:300]}")
    ep = r.json()
    secret = ep["secret"]
    # the workflow's own endpoint, subscribed to nothing else: its deliveries are the workflow's steps
    r = await hooks_c.post("/webhooks/endpoints", headers=h, json={"url": receiver + "/flow",
                                                                   "event_types": ["kopru.payment.failed.v1"]})
    if r.status_code != 201:
        raise SystemExit(f"endpoint: {r.status_code} {r.text[:300]}")
    flow_ep = r.json()["id"]
    r = await clients["workflows"].post("/workflows", headers=h, json={
        "name": "bench", "trigger": {"type": "kopru.payment.succeeded.v1"},
        "steps": [{"action": "webhook.call", "input": {"endpoint_id": {"const": flow_ep}}}]})
    if r.status_code != 201:
        raise SystemExit(f"workflow: {r.status_code} {r.text[:300]}")
    flow_sender = {"Authorization": f"Bearer {issue('workflows', 'operator', 3600)}",
                   "Content-Type": "application/cloudevents+json"}
    sender = {"Authorization": f"Bearer {issue('webhooks', 'operator', 3600)}",
              "Content-Type": "application/cloudevents+json"}
    raw_client = httpx.AsyncClient(timeout=15.0)
    failures: list[str] = []
    wh = Webhook(secret)

    def body_now() -> tuple[str, str, datetime]:
        at = datetime.now(timezone.utc)
        body = json.dumps({"type": "kopru.payment.succeeded.v1", "timestamp": at.isoformat(), "data": _data()},
                          separators=(",", ":"))
        return body, "msg_" + uuid.uuid4().hex, at

    async def raw() -> None:
        body, mid, at = body_now()
        resp = await raw_client.post(url, content=body.encode(), headers={
            "content-type": "application/json", "webhook-id": mid, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": wh.sign(mid, at, body)})
        if resp.status_code != 204:
            failures.append(f"raw: {resp.status_code}")

    async def guarded() -> None:
        body, mid, at = body_now()
        ans = await guard.post(url, body.encode(), wh_headers(mid, at, sign([secret], mid, at, body)), timeout=15.0)
        if ans.status != 204:
            failures.append(f"guard.post: {ans.status}")

    async def event() -> None:
        ce = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/kopru/payment",
              "type": "kopru.payment.succeeded.v1", "time": datetime.now(timezone.utc).isoformat(),
              "datacontenttype": "application/json", "tenantid": tid, "partitionkey": tid, "data": _data()}
        resp = await hooks_c.post("/", json=ce, headers=sender)
        if resp.status_code != 204:
            failures.append(f"event: {resp.status_code} {resp.text[:200]}")

    async def step() -> None:
        ce = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/kopru/payment",
              "type": "kopru.payment.succeeded.v1", "time": datetime.now(timezone.utc).isoformat(),
              "datacontenttype": "application/json", "tenantid": tid, "partitionkey": tid, "data": _data()}
        resp = await clients["workflows"].post("/", json=ce, headers=flow_sender)
        if resp.status_code != 204:
            failures.append(f"workflow: {resp.status_code} {resp.text[:200]}")

    figures = {"raw_httpx": raw, "guard_post": guarded, "event_to_delivery": event, "workflow_step": step}
    for fn in figures.values():
        for _ in range(args.warmup):
            await fn()
    per_call: dict[str, list[float]] = {n: [] for n in figures}
    rates: dict[str, list[float]] = {n: [] for n in figures}
    for _ in range(args.rounds):
        for name, fn in figures.items():
            start = time.perf_counter()
            for _ in range(args.calls):
                t0 = time.perf_counter()
                await fn()
                per_call[name].append(time.perf_counter() - t0)
            rates[name].append(args.calls / (time.perf_counter() - start))
    await raw_client.aclose()
    for c in clients.values():
        await c.aclose()
    # every event's delivery succeeded, once
    from sqlalchemy import text

    from kopru.db import tenant_transaction

    async with tenant_transaction(uuid.UUID(tid), actor="bench") as tx:
        counts = dict((await tx.execute(text(
            "select status, count(*) from webhook_deliveries group by status"))).all())
    expected = args.calls * args.rounds + args.warmup
    if counts != {"succeeded": 2 * expected}:  # the webhooks function's and the workflow steps'
        failures.append(f"deliveries: {counts}, expected {2 * expected} succeeded")
    async with tenant_transaction(uuid.UUID(tid), actor="bench") as tx:
        runs = dict((await tx.execute(text("select status, count(*) from workflow_runs group by status"))).all())
    if runs != {"succeeded": expected}:
        failures.append(f"workflow runs: {runs}, expected {expected} succeeded")
    base_rate = statistics.median(rates["raw_httpx"])
    base_ms = statistics.median(per_call["raw_httpx"])
    out: dict[str, Any] = {}
    for name in figures:
        rate, med = statistics.median(rates[name]), statistics.median(per_call[name])
        out[name] = {"deliveries_per_s_median": round(rate, 1), "median_ms": round(med * 1000, 3),
                     "p90_ms": round(percentile(per_call[name], 0.9) * 1000, 3),
                     "rate_ratio_to_raw": round(rate / base_rate, 3), "added_ms": round((med - base_ms) * 1000, 3),
                     "n": len(per_call[name])}
    return {"figures": out, "failures": failures[:5], "failed": len(failures)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.webhooks", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--warmup", type=int, default=20)
    args = p.parse_args(argv)

    data_dir = bench_data_dir() / "webhooks"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["KOPRU_WEBHOOKS_ALLOW_PRIVATE"] = "1"  # the receiver is on loopback, as in kopru dev
    os.environ.setdefault("KOPRU_LOG_LEVEL", "WARNING")  # a log line per request would be measured too
    env, args.client_id, args.client_secret = prepare_services(data_dir, "bench-webhooks")
    port = free_port()
    rec = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], env=child_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.post(base + "/", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        from kopru.config import reset_settings

        reset_settings()
        res = asyncio.run(_run(args, base))
    finally:
        rec.terminate()
        rec.wait(timeout=10)
        stop_services()
    rows = [[n, f"{f['deliveries_per_s_median']:.0f}", f"{f['median_ms']:.2f}", f"{f['p90_ms']:.2f}",
             f"{f['rate_ratio_to_raw']:.2f}x", f"{f['added_ms']:+.2f}"] for n, f in res["figures"].items()]
    print(table(rows, ["figure (one delivery at a time)", "deliveries/s", "median ms", "p90 ms", "rate x raw",
                       "added ms"]))
    for msg in res["failures"]:
        print("failure:", msg, file=sys.stderr)
    f = res["figures"]
    write_results("webhooks", {
        "headline": {"text": "webhook deliveries/s, event -> signed delivery through kopru.work, against bare "
                             "signed httpx POSTs to the same local receiver: medians",
                     "raw_httpx_per_s": f["raw_httpx"]["deliveries_per_s_median"],
                     "guard_post_per_s": f["guard_post"]["deliveries_per_s_median"],
                     "event_to_delivery_per_s": f["event_to_delivery"]["deliveries_per_s_median"],
                     "rate_ratio_to_raw": f["event_to_delivery"]["rate_ratio_to_raw"],
                     "added_ms_median": f["event_to_delivery"]["added_ms"],
                     "workflow_steps_per_s": f["workflow_step"]["deliveries_per_s_median"],
                     "workflow_step_ratio_to_bare_outward_call": round(
                         f["workflow_step"]["deliveries_per_s_median"] / f["event_to_delivery"]["deliveries_per_s_median"],
                         3)},
        **res}, params=vars(args) | {"client_secret": "***"})
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
