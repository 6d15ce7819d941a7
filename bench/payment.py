"""What Köprü adds to a payment initialisation: `POST /payments` (token check, validation,
the buyer's subject and encrypted record, the outward-call claim, the iyzico checkout-form
call, the record, the read-back) against a raw httpx call of the same checkout-form
initialise to the same iyzico simulator, in the same run.

Set-up: the embedded PostgreSQL/Redis under <bench data dir>/payment; the iyzico dev
simulator in its own process (`python -m kopru_tools.simulators.iyzico`, its dev buyer
never paying: IYZICO_SIM_PAY_AFTER=3600), pinned with this process to no core in
particular; a tenant onboarded and its iyzico keys saved through the real routes. The
figures, interleaved round by round (--rounds rounds of --calls calls each, after
--warmup untimed calls each), timed call by call (time.perf_counter):

  raw httpx     one pooled httpx.AsyncClient POSTing a prepared, IYZWSv2-signed
                checkout-form initialise (the least a caller can spend on it)
  client        kopru.connectors.iyzico.IyzicoClient.checkout_form_initialize, a client
                per call over the process's shared HTTP pool, as the payment function
                makes it (signing, the answer's signature verified)
  POST /payments  the payment function's ASGI app called in this process (no HTTP
                server in front), the whole request

Reported: median and p90 ms per call, each figure's ratio to the raw call and the
milliseconds it adds. Exit 1 when a call did not answer as expected.

    scripts/bench payment
    .venv/bin/python -m bench.payment --rounds 5 --calls 40
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
from typing import Any

from bench.common import bench_data_dir, child_env, free_port, inprocess_tenant, percentile, prepare_services, \
    stop_services, table, write_results

BUYER = {"name": "Ayşe", "surname": "Yılmaz", "identity_number": "10000000146", "email": "ayse@example.com.tr",
         "phone": "+905321234567", "address": "Barbaros Bulvarı 1, Beşiktaş", "city": "İstanbul",
         "ip": "85.34.78.112"}
BODY = {"amount": "150.00", "items": [
    {"id": "kitap-1", "name": "Kitap", "category": "Kitap", "price": "100.00"},
    {"id": "defter-2", "name": "Defter", "category": "Kırtasiye", "price": "50.00"}],
    "buyer": BUYER, "return_url": "https://magaza.example/odeme/sonuc"}


def _raw_request(callback: str) -> dict[str, Any]:
    b = BUYER
    addr = {"contactName": "Ayşe Yılmaz", "city": b["city"], "country": "Turkey", "address": b["address"]}
    return {"locale": "tr", "conversationId": str(uuid.uuid4()), "price": "150.00", "paidPrice": "150.00",
            "currency": "TRY", "basketId": str(uuid.uuid4()), "paymentGroup": "PRODUCT", "callbackUrl": callback,
            "buyer": {"id": str(uuid.uuid4()), "name": b["name"], "surname": b["surname"],
                      "identityNumber": b["identity_number"], "email": b["email"],
                      "registrationAddress": b["address"], "city": b["city"], "country": "Turkey", "ip": b["ip"]},
            "billingAddress": addr, "shippingAddress": addr,
            "basketItems": [{"id": i["id"], "name": i["name"], "category1": i["category"], "itemType": "PHYSICAL",
                             "price": i["price"]} for i in BODY["items"]]}


async def _run(args) -> dict[str, Any]:
    import httpx

    from kopru.connectors import iyzico
    from kopru.connectors.iyzico.client import PATHS
    from kopru_tools.simulators.iyzico import DEV_API_KEY, DEV_SECRET_KEY

    base = os.environ["IYZICO_BASE_URL"]
    clients, t, h = await inprocess_tenant(args.client_id, args.client_secret, "payment")
    onboard_c, pay_c = clients["tenant-onboarding"], clients["payment"]
    r = await onboard_c.put(f"/tenants/{t['tenant']['id']}/integrations/iyzico", headers=h,
                            json={"api_key": DEV_API_KEY, "secret_key": DEV_SECRET_KEY})
    if r.status_code != 200:
        raise SystemExit(f"iyzico settings: {r.status_code} {r.text[:300]}")

    path = PATHS["checkoutform.initialize"]
    raw_client = httpx.AsyncClient(timeout=15.0)
    failures: list[str] = []

    async def raw() -> None:
        body = json.dumps(_raw_request("https://bench.example/cb"), separators=(",", ":")).encode()
        rnd = iyzico.new_random_key()
        auth = iyzico.iyzws_v2_header(DEV_API_KEY, DEV_SECRET_KEY, rnd, path, body)
        resp = await raw_client.post(base + path, content=body, headers={
            "Authorization": auth, "x-iyzi-rnd": rnd, "Content-Type": "application/json", "Accept": "application/json"})
        if resp.status_code != 200 or resp.json().get("status") != "success":
            failures.append(f"raw: {resp.status_code} {resp.text[:200]}")

    async def client() -> None:
        from kopru.connectors.common import shared_http

        async with iyzico.IyzicoClient(DEV_API_KEY, DEV_SECRET_KEY, http=shared_http()) as c:
            await c.checkout_form_initialize(_raw_request("https://bench.example/cb"))

    async def endpoint() -> None:
        resp = await pay_c.post("/payments", json=BODY, headers=h)
        if resp.status_code != 201 or resp.json().get("status") != "pending":
            failures.append(f"POST /payments: {resp.status_code} {resp.text[:200]}")

    figures = {"raw_httpx": raw, "client": client, "post_payments": endpoint}
    for fn in figures.values():
        for _ in range(args.warmup):
            await fn()
    wall: dict[str, list[float]] = {n: [] for n in figures}
    for _ in range(args.rounds):
        for name, fn in figures.items():
            for _ in range(args.calls):
                t0 = time.perf_counter()
                await fn()
                wall[name].append(time.perf_counter() - t0)
    await raw_client.aclose()
    for c in clients.values():
        await c.aclose()
    base_med = statistics.median(wall["raw_httpx"])
    out: dict[str, Any] = {}
    for name, vals in wall.items():
        med = statistics.median(vals)
        out[name] = {"median_ms": round(med * 1000, 3), "p90_ms": round(percentile(vals, 0.9) * 1000, 3),
                     "ratio_to_raw": round(med / base_med, 2), "added_ms": round((med - base_med) * 1000, 3),
                     "n": len(vals)}
    return {"figures": out, "failures": failures[:5], "failed": len(failures)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.payment", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args(argv)

    data_dir = bench_data_dir() / "payment"
    data_dir.mkdir(parents=True, exist_ok=True)
    env, args.client_id, args.client_secret = prepare_services(data_dir, "bench-payment")
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "kopru_tools.simulators.iyzico", "--port", str(port)],
                           env=child_env({"IYZICO_SIM_PAY_AFTER": "3600"}), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(base + "/_simulator/calls", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        os.environ["IYZICO_BASE_URL"] = base
        from kopru.config import reset_settings

        reset_settings()
        res = asyncio.run(_run(args))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
        stop_services()
    rows = [[n, f"{f['median_ms']:.2f}", f"{f['p90_ms']:.2f}", f"{f['ratio_to_raw']:.2f}x", f"{f['added_ms']:+.2f}"]
            for n, f in res["figures"].items()]
    print(table(rows, ["figure (checkout-form initialise)", "median ms", "p90 ms", "x raw", "added ms"]))
    for msg in res["failures"]:
        print("failure:", msg, file=sys.stderr)
    f = res["figures"]
    write_results("payment", {
        "headline": {"text": "POST /payments over a raw httpx checkout-form initialise to the same simulator: medians",
                     "raw_httpx_ms_median": f["raw_httpx"]["median_ms"],
                     "post_payments_ms_median": f["post_payments"]["median_ms"],
                     "added_ms_median": f["post_payments"]["added_ms"],
                     "ratio_to_raw": f["post_payments"]["ratio_to_raw"]},
        **res}, params=vars(args) | {"client_secret": "***"})
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
