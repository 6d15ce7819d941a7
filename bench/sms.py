"""SMS messages/s through `POST /sms` -> kopru.sms.requested.v1 -> the Netgsm simulator on
ONE sms-send worker, against baselines measured in the same run.

Set-up: the embedded PostgreSQL/Redis under <bench data dir>/sms; the Netgsm simulator
(kopru_tools.simulators.netgsm: NetgsmSimulator with one account, served by its
`serve()` helper, uvicorn) in its own process; a real Kafka broker (scripts/kafka, free
port, temporary data dir) unless --bus inprocess; the functions served exactly as their
images serve them (`functions-framework --asgi --source <main.py> --target handle`,
WORKERS=1: gunicorn + one uvicorn worker), sms-send and the baseline hello world on the
server core (`taskset -c`), everything else (PostgreSQL, Redis, Kafka, the simulator,
wrk, this process) on the other core. NETGSM_BASE_URL points the functions at the
simulator. T tenants (default 6, the partition count of kopru.sms, each on its own
partition: Kafka keys are tenant ids, and the dispatcher delivers one partition's
records one at a time) are onboarded through POST /tenants on tenant-onboarding
(enterprise plan), and their Netgsm settings saved with
PUT /tenants/{id}/integrations/netgsm (checked against the simulator). Requests rotate
over the tenants' bearer tokens (each tenant stays under its plan's 200 requests/s) and
go to distinct mobile numbers (the simulator, like Netgsm, refuses more than 20 jobs to
one number a minute).

1. End to end (the pipeline running): wrk POSTs /sms for --e2e-seconds while this
   process runs the outbox relay (KafkaPublisher) and `kopru dispatch`'s delivery
   (run_dispatcher, http_sender over one httpx.AsyncClient to the served sms-send's
   URL), as separate `kopru relay` / `kopru dispatch` processes would; the worker takes
   both the requests and the deliveries. Until the simulator holds every accepted
   message (accepted = every sms_messages row of the run: each answered 202, or was
   committed when wrk stopped). messages/s = accepted / (first accept, the row's
   created_at -> last simulator receipt); latency = receipt - created_at. Checked:
   the simulator holds exactly one message per accepted request (Netgsm takes no key of
   ours: each row's recorded jobid names its message, and any message whose jobid no row
   recorded is a second send), as many successful send calls as rows, every row `sent`.
   Baselines, same run, interleaved: --raw-messages sends posted straight to the
   simulator's send endpoint with httpx from this one process (--raw-concurrency
   tasks, one pooled client; and again with a new client per send, as sms-send's
   deliver does).
2. HTTP intake (pipeline stopped): wrk POST /sms for --duration s x --reps, every
   response must be 202; baseline: the functions-framework hello world
   (bench/hello/main.py), GET /, same wrk load, interleaved.
3. Where the time goes: CPU seconds per process for every run (the sms-send worker
   tree, this process, the simulator, PostgreSQL, Redis, Kafka, wrk) and each core's
   busy fraction; and --profile N: cProfile of N POST /sms and N event deliveries in
   process (direct ASGI calls into the functions-framework app, uvloop, server core).

The intake runs' requests are not delivered: their outbox rows are marked published
(this bench's own database only), as are rows left pending by an earlier run.
Medians over repetitions; a slow figure is reported, not gated (exit 0); exit 1 when
a figure could not be measured, a response was not 202, or a message was missing or
sent twice.

    scripts/bench sms
    .venv/bin/python -m bench.sms --duration 10 --reps 3 --e2e-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    Cpu,
    asgi_call as _asgi_call,
    fmt_summary as _fmt,
    percentile,
    rnd as _r,
    run_wrk_async as run_wrk,
    short_path as _short,
    WRK_REPORT_LUA,
    REPO_ROOT,
    Server,
    bench_data_dir,
    cpus_available,
    embedded_service_pids,
    free_port,
    functions_framework_cmd,
    pin_tree,
    pinned,
    prepare_services,
    ratio,
    stop_services,
    summarize,
    table,
    write_results,
)
from tests.kafkabroker import KafkaBroker

NAME = "sms"
HELLO_SOURCE = REPO_ROOT / "bench" / "hello" / "main.py"
USER, PASSWORD, HEADER = "8501234567", "bench-netgsm-parola", "KOPRU"
TEXT = "Siparişiniz yola çıktı."  # GSM 7-bit with the Turkish single-shift table, one segment
TOPIC = "kopru.sms"
REQUESTED = "kopru.sms.requested.v1"
WRK_INSTALL_HINT = "wrk is required: apt-get install -y wrk (Debian package `wrk`); scripts/bench installs it when run as root"


# -- the simulator process ---------------------------------------------------------------------

def simulator_worker(port: int) -> int:
    """`python -m bench.sms --simulator-worker --port N`: the Netgsm simulator with the
    bench account, served by the project's `serve()` (uvicorn), plus /_bench/ routes to
    count, dump and reset what it holds. Runs until SIGTERM."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from kopru_tools.simulators.netgsm import NetgsmSimulator, serve

    sim = NetgsmSimulator()
    sim.add_account(USER, PASSWORD, msgheaders=[HEADER, "ANADOLU"])

    async def count(request):
        return JSONResponse({"messages": sim.count()})

    async def dump(request):
        return JSONResponse({
            "messages": [[m.jobid, m.accepted_at, m.no] for m in sim.messages],
            "send_calls": [[c.http_status, c.code] for c in sim.calls if c.endpoint == "send"],
        })

    async def reset(request):
        sim.reset()
        return JSONResponse({"ok": True})

    bench_app = Starlette(routes=[Route("/_bench/count", count), Route("/_bench/dump", dump),
                                  Route("/_bench/reset", reset, methods=["POST"])])

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            await bench_app(scope, receive, send)
        else:
            await sim(scope, receive, send)

    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__("flag", True))
    with serve(app, port=port):
        while not stop["flag"]:
            time.sleep(0.2)
    return 0


# -- the Kafka broker ----------------------------------------------------------------------------

# -- wrk --------------------------------------------------------------------------------------------

LUA_COMMON = r"""
local threads = {}
local expect = @EXPECT@

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", (#threads - 1) * 1000000)
end

""" + WRK_REPORT_LUA

# POST /sms: the tenants' bearer tokens in turn, a distinct mobile number per request
LUA_SMS = r"""
local tokens = {@TOKENS@}
local text = [==[@TEXT@]==]
local base = @BASE@
local counter = 0

function request()
  counter = counter + 1
  local n = (base + offset + counter) % 10000000
  local body = '{"to":"0532' .. string.format("%07d", n) .. '","message":' .. text .. ',"kind":"transactional"}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/sms", headers, body)
end
"""

LUA_HELLO = r"""
wrk.method = "GET"
"""


def sms_script(tokens: list[str]) -> str:
    return (LUA_SMS.replace("@TOKENS@", ", ".join(json.dumps(t) for t in tokens))
            .replace("@TEXT@", json.dumps(TEXT, ensure_ascii=False))
            .replace("@BASE@", str(secrets.randbelow(10**7)))
            + LUA_COMMON.replace("@EXPECT@", json.dumps('"queued"')))


def hello_script() -> str:
    return LUA_HELLO + LUA_COMMON.replace("@EXPECT@", json.dumps("ok"))


def wrk_problems(res: dict[str, Any], ok: int) -> list[str]:
    """Why a wrk run's figure is void (empty: valid)."""
    out = []
    other = {k: v for k, v in res["statuses"].items() if k != str(ok)}
    if other:
        out.append(f"non-{ok} answers {other}")
    sock = {k: v for k, v in res["errors"].items() if k != "status" and v}
    if sock:
        out.append(f"socket errors {sock}")
    if res["bad_body"]:
        out.append(f"{res['bad_body']} unexpected bodies")
    if not res["requests"]:
        out.append("no requests")
    return out


# -- measurement helpers ---------------------------------------------------------------------------


def _rs(s: dict | None, nd: int) -> dict | None:
    return None if s is None else {k: (round(v, nd) if k != "n" else v) for k, v in s.items()}


def latency_ms(lat_s: list[float]) -> dict[str, float | None]:
    ms = [x * 1000 for x in lat_s]
    return {"p50": _r(percentile(ms, 0.5)), "p90": _r(percentile(ms, 0.9)), "p99": _r(percentile(ms, 0.99)),
            "max": _r(max(ms) if ms else None)}


def per_unit(cpu: dict[str, Any], n: int, unit_ms: bool = True) -> dict[str, float]:
    return {k: round(v / n * (1000 if unit_ms else 1e6), 3) for k, v in cpu["cpu_s"].items()} if n else {}


# -- the bench ----------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, env: dict[str, str], su_url: str, urls: dict[str, str], ports: dict[str, int],
                 cpu_pids: dict[str, int], bootstrap: str | None, log_dir: Path, client_cpu: str | None):
        self.args, self.env, self.su_url, self.urls, self.ports = args, env, su_url, urls, ports
        self.cpu_pids, self.bootstrap, self.log_dir, self.client_cpu = cpu_pids, bootstrap, log_dir, client_cpu
        self.setup: dict[str, Any] = {}
        self.tenants: list[dict[str, Any]] = []
        self._db = None
        self._http = None
        self._pipeline: dict[str, Any] | None = None
        self.wrk = shutil.which("wrk")
        self.lua_dir = log_dir / "lua"
        self.lua_dir.mkdir(parents=True, exist_ok=True)

    # -- plumbing -------------------------------------------------------------------------------
    async def db(self):
        import psycopg

        if self._db is None:
            self._db = await psycopg.AsyncConnection.connect(self.su_url, autocommit=True)
        return self._db

    async def q(self, sql: str, params: Any = None) -> list[tuple]:
        return await (await (await self.db()).execute(sql, params)).fetchall()

    def http(self):
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=60)
        return self._http

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
        if self._http is not None:
            await self._http.aclose()

    async def sim(self, method: str, path: str) -> Any:
        r = await self.http().request(method, self.urls["simulator"] + path)
        r.raise_for_status()
        return r.json()

    async def discard_pending_outbox(self) -> int:
        """Mark every pending outbox row published (this bench's database only)."""
        cur = await (await self.db()).execute("update outbox set published_at = now() where published_at is null")
        return cur.rowcount

    # -- set-up ---------------------------------------------------------------------------------
    async def grant(self, cid: str, secret: str) -> dict[str, Any]:
        r = await self.http().post(self.urls["token"] + "/oauth2/token", data={"grant_type": "client_credentials"},
                                   auth=(cid, secret))
        if r.status_code != 200:
            raise RuntimeError(f"client_credentials grant: HTTP {r.status_code}: {r.text[:300]}")
        return r.json()

    async def onboard(self, operator: tuple[str, str]) -> None:
        """T enterprise tenants through POST /tenants, as even over kopru.sms's partitions
        as T allows (onboarding more and keeping those that land where one is needed),
        each with its Netgsm settings saved through PUT .../integrations/netgsm."""
        from aiokafka.partitioner import murmur2

        from kopru.events.catalog import load_catalog

        partitions = load_catalog().topics[TOPIC].partitions
        want = self.args.tenants
        per_part = math.ceil(want / partitions)
        counts = [0] * partitions
        op_token = (await self.grant(*operator))["access_token"]
        tried = 0
        while len(self.tenants) < want and tried < want * 12:
            tried += 1
            body = {"name": "Bench SMS A.Ş.", "tax_number": "10000000146", "tax_office": "Kadıköy",
                    "subdomain": "bench-sms-" + secrets.token_hex(4), "plan": "enterprise",
                    "admin": {"email": "sms@bench.com.tr", "password": "bench-password-123"}}
            r = await self.http().post(self.urls["tenant-onboarding"] + "/tenants", json=body,
                                       headers={"Authorization": f"Bearer {op_token}"})
            if r.status_code != 201:
                raise RuntimeError(f"POST /tenants: HTTP {r.status_code}: {r.text[:300]}")
            out = r.json()
            tid = out["tenant"]["id"]
            p = (murmur2(str(tid).encode()) & 0x7FFFFFFF) % partitions
            if counts[p] >= per_part:
                continue
            counts[p] += 1
            t = {"id": tid, "plan": out["tenant"]["plan"], "client_id": out["client_id"],
                 "secret": out["client_secret"], "partition": p}
            t["token"] = (await self.grant(t["client_id"], t["secret"]))["access_token"]
            r = await self.http().put(f"{self.urls['tenant-onboarding']}/tenants/{tid}/integrations/netgsm",
                                      headers={"Authorization": f"Bearer {t['token']}"},
                                      json={"usercode": USER, "password": PASSWORD, "msgheader": HEADER})
            if r.status_code != 200 or HEADER not in r.json().get("msgheaders", []):
                raise RuntimeError(f"PUT /tenants/{{id}}/integrations/netgsm: HTTP {r.status_code}: {r.text[:300]}")
            self.tenants.append(t)
        if len(self.tenants) < want:
            raise RuntimeError(f"could not spread {want} tenants over {partitions} partitions")
        self.setup["tenants"] = {"count": len(self.tenants), "onboarded": tried, "plan": self.tenants[0]["plan"],
                                 "partitions_of_kopru_sms": partitions, "per_partition": counts,
                                 "netgsm_settings": "PUT /tenants/{id}/integrations/netgsm: 200, checked "
                                                    "against the simulator's header list"}

    async def refresh_tokens(self) -> list[str]:
        for t in self.tenants:
            t["token"] = (await self.grant(t["client_id"], t["secret"]))["access_token"]
        return [t["token"] for t in self.tenants]

    # -- the pipeline ---------------------------------------------------------------------------
    async def start_pipeline(self) -> None:
        import httpx

        from kopru.events.dispatcher import http_sender, run_dispatcher
        from kopru.events.relay import KafkaPublisher, Relay

        stop = asyncio.Event()
        # as `kopru dispatch` builds it: one client, http_sender to the function's URL
        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0))
        url = self.urls["sms-send"] + "/"
        sender = http_sender(client, url, "sms-send")
        tasks = []
        if self.args.bus == "kafka":
            pub = KafkaPublisher(self.bootstrap)
            await pub.start()
            tasks.append(asyncio.create_task(run_dispatcher(self.bootstrap, {"sms-send": (sender, url)}, stop)))
        else:
            from kopru_tools.bus import InProcessBus

            pub = InProcessBus({"sms-send": sender})
        relay = Relay(pub)
        tasks.append(asyncio.create_task(relay.run(stop)))
        self._pipeline = {"stop": stop, "tasks": tasks, "relay": relay, "pub": pub, "client": client}

    async def stop_pipeline(self) -> None:
        p, self._pipeline = self._pipeline, None
        if p is None:
            return
        p["stop"].set()
        done, pending = await asyncio.wait(p["tasks"], timeout=30)
        for t in pending:
            t.cancel()
        await p["relay"].dispose()
        if hasattr(p["pub"], "stop"):
            await p["pub"].stop()
        await p["client"].aclose()
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()

    def _check_pipeline(self) -> None:
        if self._pipeline is not None:
            for t in self._pipeline["tasks"]:
                if t.done():
                    t.result()
                    raise RuntimeError("the relay or the dispatcher stopped")

    # -- end to end ------------------------------------------------------------------------------
    async def prime(self) -> dict[str, Any]:
        """One POST /sms per tenant, one at a time, then until the simulator holds them
        all: the worker's first requests (imports, pools) and the dispatcher's group join
        happen here, not in a timed run."""
        await self.sim("POST", "/_bench/reset")
        t0 = time.perf_counter()
        for k, t in enumerate(self.tenants):
            r = await self.http().post(self.urls["sms-send"] + "/sms", headers={"Authorization": f"Bearer {t['token']}"},
                                       json={"to": "0532%07d" % secrets.randbelow(10**7), "message": TEXT,
                                             "kind": "transactional"})
            if r.status_code != 202:
                raise RuntimeError(f"POST /sms: HTTP {r.status_code}: {r.text[:300]}")
        accepted = time.perf_counter()
        deadline = time.monotonic() + self.args.timeout
        while (await self.sim("GET", "/_bench/count"))["messages"] < len(self.tenants):
            self._check_pipeline()
            if time.monotonic() > deadline:
                raise TimeoutError(f"priming: the simulator did not get {len(self.tenants)} messages in "
                                   f"{self.args.timeout:.0f}s")
            await asyncio.sleep(0.1)
        return {"messages": len(self.tenants), "accept_s": round(accepted - t0, 2),
                "until_simulator_holds_all_s": round(time.perf_counter() - t0, 2)}

    async def measure_e2e(self, seconds: float) -> dict[str, Any]:
        """wrk POSTs /sms for `seconds` with the pipeline running; until the simulator
        holds every accepted message."""
        await self.sim("POST", "/_bench/reset")
        script = self.lua_dir / "e2e.lua"
        script.write_text(sms_script([t["token"] for t in self.tenants]), encoding="utf-8")
        script.chmod(0o600)
        t0 = (await self.q("select clock_timestamp()"))[0][0]
        cpu = Cpu({k: v for k, v in self.cpu_pids.items() if k != "hello"}, cores=True)
        cpu.start()
        res = await run_wrk(self.wrk, self.urls["sms-send"] + "/sms", script, connections=self.args.connections,
                            duration=seconds, threads=self.args.wrk_threads, cpus=self.client_cpu)
        wrk_end = time.perf_counter()
        deadline = time.monotonic() + self.args.timeout
        await asyncio.sleep(0.3)  # requests in flight when wrk stopped still commit
        count_sql = "select count(*) from sms_messages where created_at >= %s"
        n_db = (await self.q(count_sql, (t0,)))[0][0]
        while True:
            self._check_pipeline()
            n_sim = (await self.sim("GET", "/_bench/count"))["messages"]
            if n_sim >= n_db > 0:  # then the database's word (a late commit) and the simulator's jobids
                n_db = (await self.q(count_sql, (t0,)))[0][0]
                rows = await self.q("select id::text, extract(epoch from created_at)::float8, netgsm_jobid "
                                    "from sms_messages where created_at >= %s", (t0,))
                dump = await self.sim("GET", "/_bench/dump")
                got = {j for j, _, _ in dump["messages"]}
                if all(r[2] is not None and r[2] in got for r in rows):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulator holds {n_sim} of {n_db} accepted messages after "
                                   f"{self.args.timeout:.0f}s")
            await asyncio.sleep(0.1)
        drained = time.perf_counter()
        usage = cpu.stop()
        usage["cpu_s"]["wrk"] = round(res["client_cpu_s"], 3)
        accepted = {r[0]: r[1] for r in rows}
        jobid_of = {r[0]: r[2] for r in rows}
        n = len(accepted)
        at_of_job = {j: at for j, at, _ in dump["messages"]}
        sends_ok = sum(1 for status, code in dump["send_calls"] if status == 200 and code == "00")
        # every row ends `sent` (the status write follows the simulator's answer)
        statuses: dict[str, int] = {}
        for _ in range(50):
            statuses = dict(await self.q("select status, count(*) from sms_messages where created_at >= %s "
                                         "group by status", (t0,)))
            if statuses.get("sent", 0) >= n:
                break
            await asyncio.sleep(0.1)
        first_accept = min(accepted.values())
        last_accept = max(accepted.values())
        receipts = {k: at_of_job[jobid_of[k]] for k in accepted}
        last_receipt = max(receipts.values())
        span = last_receipt - first_accept
        ok_202 = res["statuses"].get("202", 0)
        return {
            "accepted": n,
            "wrk_202": ok_202,
            "committed_after_wrk_stopped": n - ok_202,
            "wrk_problems": wrk_problems(res, 202),
            "seconds": round(span, 3),
            "messages_per_s": round(n / span, 1),
            "intake_seconds": round(last_accept - first_accept, 3),
            "intake_per_s": round(n / (last_accept - first_accept), 1) if last_accept > first_accept else None,
            "drain_after_wrk_s": round(drained - wrk_end, 2),
            "latency_accept_to_receipt_ms": latency_ms([receipts[k] - accepted[k] for k in accepted]),
            "simulator_messages": len(dump["messages"]),
            "missing": sum(1 for k in accepted if jobid_of[k] not in at_of_job),
            # a message no row recorded is a second send of some SMS (Netgsm has no key to stop it)
            "duplicate_messages": len(set(at_of_job) - set(jobid_of.values())),
            "keys_sent_more_than_once": max(0, sends_ok - n),  # successful send calls beyond one per SMS
            "final_statuses": statuses,
            "wrk_latency_ms": {k: round(v / 1000, 2) for k, v in res["latency_us"].items()},
            **usage,
            "cpu_ms_per_message": per_unit(usage, n),
        }

    async def measure_raw(self, n: int, concurrency: int, new_client: bool) -> dict[str, Any]:
        """n sends straight to the simulator's send endpoint with httpx from this process,
        the body NetgsmClient.send posts, `concurrency` at a time."""
        import httpx

        await self.sim("POST", "/_bench/reset")
        base = self.urls["simulator"]
        auth = httpx.BasicAuth(USER, PASSWORD)
        hdrs = {"User-Agent": "kopru-netgsm/1", "Accept": "application/json"}
        start_no = secrets.randbelow(10**7)
        bodies = [{"msgheader": HEADER, "messages": [{"msg": TEXT, "no": "532%07d" % ((start_no + k) % 10**7)}],
                   "iysfilter": "0", "encoding": "TR"} for k in range(n)]
        keys = [str(uuid.uuid4()) for _ in range(n)]
        next_k = iter(range(n))
        bad: list[str] = []
        pooled = None if new_client else httpx.AsyncClient(base_url=base, timeout=30, headers=hdrs)

        async def post(c, k: int) -> None:
            r = await c.post("/sms/rest/v2/send", json=bodies[k], auth=auth, headers={"X-Idempotency-Key": keys[k]})
            if r.status_code != 200 or r.json().get("code") != "00" or not r.json().get("jobid"):
                bad.append(f"HTTP {r.status_code} {r.text[:100]}")

        async def worker() -> None:
            for k in next_k:
                if new_client:  # as kopru.sms.service.deliver does: a NetgsmClient (httpx client) per message
                    async with httpx.AsyncClient(base_url=base, timeout=30, headers=hdrs) as c:
                        await post(c, k)
                else:
                    await post(pooled, k)

        cpu = Cpu(self.cpu_pids, cores=True)
        cpu.start()
        t0 = time.perf_counter()
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            if pooled is not None:
                await pooled.aclose()
        span = time.perf_counter() - t0
        usage = cpu.stop()
        held = (await self.sim("GET", "/_bench/count"))["messages"]
        return {"messages": n, "concurrency": concurrency, "new_client_per_send": new_client,
                "seconds": round(span, 3), "messages_per_s": round(n / span, 1), "errors": len(bad),
                "error_sample": bad[:3], "simulator_messages": held, **usage, "cpu_ms_per_message": per_unit(usage, n)}

    # -- HTTP intake ------------------------------------------------------------------------------
    async def measure_intake(self) -> dict[str, Any]:
        tokens = await self.refresh_tokens()
        scripts = {"hello": self.lua_dir / "hello.lua", "sms": self.lua_dir / "intake.lua"}
        scripts["hello"].write_text(hello_script())
        scripts["sms"].write_text(sms_script(tokens), encoding="utf-8")
        scripts["sms"].chmod(0o600)
        targets = [("hello", self.urls["hello"] + "/", 200, "hello"), ("sms", self.urls["sms-send"] + "/sms", 202, "sms-send")]
        runs: dict[str, list[dict]] = {"hello": [], "sms": []}
        errors: list[str] = []
        for name, url, _, _ in targets:  # untimed warm-up
            await run_wrk(self.wrk, url, scripts[name], connections=self.args.connections, duration=self.args.warmup,
                          threads=self.args.wrk_threads, cpus=self.client_cpu)
        for rep in range(self.args.reps):
            for name, url, ok, server in targets:
                pids = {k: v for k, v in self.cpu_pids.items() if k not in ("sms-send", "hello")}
                pids["server"] = self.cpu_pids[server]
                cpu = Cpu(pids, cores=True)
                cpu.start()
                try:
                    res = await run_wrk(self.wrk, url, scripts[name], connections=self.args.connections,
                                        duration=self.args.duration, threads=self.args.wrk_threads, cpus=self.client_cpu)
                except Exception as exc:
                    errors.append(f"intake {name} rep {rep + 1}: {exc}")
                    print(f"sms: intake {name} rep {rep + 1} FAILED: {exc}", flush=True)
                    continue
                usage = cpu.stop()
                usage["cpu_s"]["wrk"] = round(res["client_cpu_s"], 3)
                dur = res["duration_us"] / 1e6
                n_ok = res["statuses"].get(str(ok), 0)
                probs = wrk_problems(res, ok)
                run = {"requests": res["requests"], "ok": n_ok, "duration_s": round(dur, 3),
                       "per_s": round(n_ok / dur, 1) if dur else 0.0, "statuses": res["statuses"],
                       "valid": not probs, "problems": probs,
                       "latency_ms": {k: round(v / 1000, 3) for k, v in res["latency_us"].items()},
                       **usage, "server_cpu_util": round(usage["cpu_s"]["server"] / dur, 3) if dur else None,
                       "cpu_us_per_request": per_unit(usage, n_ok, unit_ms=False)}
                if name == "sms":
                    run["per_tenant_per_s"] = round(run["per_s"] / len(self.tenants), 1)
                runs[name].append(run)
                if probs:
                    errors.append(f"intake {name} rep {rep + 1}: " + "; ".join(probs))
                print(f"sms: intake rep {rep + 1}/{self.args.reps} {name:6s} {run['per_s']:8.1f} /s  "
                      f"p50 {run['latency_ms']['p50']:.2f} ms  server CPU {run['server_cpu_util']:.2f}  "
                      f"{run['cpu_us_per_request']['server']:.0f} us/req" + ("" if run["valid"] else "  INVALID"),
                      flush=True)
                await asyncio.sleep(self.args.pause)
        return {"runs": runs, "errors": errors}


# -- profile (in process) ---------------------------------------------------------------------------------


def _digest(prof, n: int, top: int = 15) -> dict[str, Any]:
    import io
    import pstats

    st = pstats.Stats(prof, stream=io.StringIO())
    raw = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    by_pkg: dict[str, float] = {}
    for (f, _, _), v in raw.items():
        s = _short(f)
        pkg = "builtins" if f == "~" else ("kopru" if s.startswith("kopru/") else s.split("/")[0])
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + v[2]
    return {
        "profiled_us_per_message": round(total / n * 1e6, 1),
        "by_package_us_per_message": {k: round(v / n * 1e6, 1)
                                      for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:12]},
        "top_own_time": [{"function": f"{_short(k[0])}:{k[1]}({k[2]})", "calls_per_message": round(v[1] / n, 2),
                          "us_per_message": round(v[2] / n * 1e6, 1)} for k, v in rows],
    }


async def _profile(source: Path, tenants: list[dict[str, Any]], n: int, sim_url: str, out_dir: Path) -> dict[str, Any]:
    import cProfile

    import httpx
    from functions_framework.aio import create_asgi_app

    from kopru.events.ingress import bearer

    app = create_asgi_app("handle", str(source))
    start_no = secrets.randbelow(10**7)
    counter = [0]

    def intake_call(k: int):
        counter[0] += 1
        t = tenants[k % len(tenants)]
        body = json.dumps({"to": "0533%07d" % ((start_no + counter[0]) % 10**7), "message": TEXT,
                           "kind": "transactional"}, ensure_ascii=False).encode()
        return _asgi_call(app, "POST", "/sms", [(b"content-type", b"application/json"),
                                                (b"authorization", f"Bearer {t['token']}".encode())], body), t["id"]

    async def intake(m: int, conc: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        it = iter(range(m))

        async def worker():
            for k in it:
                call, tid = intake_call(k)
                status, body = await call()
                if status != 202:
                    raise RuntimeError(f"profile POST /sms: HTTP {status} {body[:200]!r}")
                out.append((json.loads(body)["id"], tid))

        await asyncio.gather(*(worker() for _ in range(conc)))
        return out

    async def deliver(ids: list[tuple[str, str]], conc: int) -> None:
        it = iter(ids)

        async def worker():
            for sms_id, tid in it:
                headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/kopru/sms-send",
                           "ce-type": REQUESTED, "ce-tenantid": str(tid), "ce-partitionkey": str(tid),
                           "content-type": "application/json", "authorization": bearer("sms-send", "bus")}
                call = _asgi_call(app, "POST", "/", [(k.encode(), v.encode()) for k, v in headers.items()],
                                  json.dumps({"sms_id": sms_id}).encode())
                status, body = await call()
                if not 200 <= status < 300:
                    raise RuntimeError(f"profile delivery: HTTP {status} {body[:200]!r}")

        await asyncio.gather(*(worker() for _ in range(conc)))

    async with httpx.AsyncClient(timeout=30) as h:
        await h.post(sim_url + "/_bench/reset")
        await deliver(await intake(30, 4), 4)  # warm-up: pools, caches, imports
        out: dict[str, Any] = {"messages": n, "intake_concurrency": 8, "delivery_concurrency": 6}
        # unprofiled: this process's CPU per message (PostgreSQL and the simulator work in theirs)
        c0, w0 = time.process_time(), time.perf_counter()
        ids = await intake(n, 8)
        c1, w1 = time.process_time(), time.perf_counter()
        await deliver(ids, 6)
        c2, w2 = time.process_time(), time.perf_counter()
        out["unprofiled"] = {
            "intake_cpu_us_per_message": round((c1 - c0) / n * 1e6, 1),
            "intake_wall_us_per_message": round((w1 - w0) / n * 1e6, 1),
            "delivery_cpu_us_per_message": round((c2 - c1) / n * 1e6, 1),
            "delivery_wall_us_per_message": round((w2 - w1) / n * 1e6, 1),
        }
        prof_in, prof_out = cProfile.Profile(), cProfile.Profile()
        prof_in.enable()
        ids = await intake(n, 8)
        prof_in.disable()
        prof_out.enable()
        await deliver(ids, 6)
        prof_out.disable()
        held = (await h.get(sim_url + "/_bench/count")).json()["messages"]
    if held != 2 * n + 30:
        raise RuntimeError(f"profile: the simulator holds {held} messages, expected {2 * n + 30}")
    prof_in.dump_stats(str(out_dir / "sms-intake.prof"))
    prof_out.dump_stats(str(out_dir / "sms-delivery.prof"))
    out["intake"] = _digest(prof_in, n)
    out["delivery"] = _digest(prof_out, n)
    out["stats_files"] = [str(out_dir / "sms-intake.prof"), str(out_dir / "sms-delivery.prof")]
    out["note"] = ("in process on the server core, uvloop: direct ASGI calls into the functions-framework app "
                   "(no uvicorn, no HTTP parsing on the function's side); deliveries are CloudEvents posted to / as "
                   "the dispatcher does; cProfile's overhead inflates absolute times")
    return out


def run_profile(source: Path, tenants, n: int, sim_url: str, out_dir: Path, cpu: int | None) -> dict[str, Any]:
    prev = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    # the function logs JSON lines to stderr, as in its container: to a file here
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(out_dir / "profile-function.log", "ab") as logf:
        for fd in saved:
            os.dup2(logf.fileno(), fd)
    try:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            factory = None
        with asyncio.Runner(loop_factory=factory) as runner:
            try:
                return runner.run(_profile(source, tenants, n, sim_url, out_dir))
            finally:
                from kopru.db import dispose

                runner.run(dispose())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, dup in saved.items():
            os.dup2(dup, fd)
            os.close(dup)
        os.sched_setaffinity(0, prev)


# -- the run --------------------------------------------------------------------------------------------------

async def run_async(b: Bench, operator: tuple[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"e2e": [], "intake": None, "errors": []}
    errors = out["errors"]
    try:
        print(f"sms: onboarding {b.args.tenants} tenants (enterprise) and saving their Netgsm settings ...", flush=True)
        await b.onboard(operator)
        b.setup["stale_outbox_rows_discarded"] = await b.discard_pending_outbox()
        if b.args.bus == "kafka":
            from kopru.events.topics import apply

            b.setup["topics_created"] = await apply(b.bootstrap)
    except Exception as exc:
        errors.insert(0, f"set-up: {type(exc).__name__}: {exc}")
        print(f"sms: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        await b.close()
        from kopru.db import dispose

        await dispose()
        return out
    try:
        await b.start_pipeline()
        try:
            print(f"sms: end to end: priming (first requests, dispatcher group join) and warm-up ({b.args.bus}) ...",
                  flush=True)
            b.setup["e2e_prime"] = await b.prime()
            w = await b.measure_e2e(2.0)
            b.setup["e2e_warm_up"] = {"accepted": w["accepted"], "seconds": w["seconds"],
                                      "messages_per_s": w["messages_per_s"]}
            for rep in range(b.args.reps):
                entry: dict[str, Any] = {"rep": rep + 1}
                steps = [("raw", lambda: b.measure_raw(b.args.raw_messages, b.args.raw_concurrency, False)),
                         ("raw_new_client", lambda: b.measure_raw(b.args.raw_new_client_messages, b.args.raw_concurrency,
                                                                  True)),
                         ("kopru", lambda: b.measure_e2e(b.args.e2e_seconds))]
                for name, fn in steps:
                    await asyncio.sleep(b.args.pause)
                    try:
                        e = entry[name] = await fn()
                    except Exception as exc:
                        errors.append(f"e2e rep {rep + 1} {name}: {type(exc).__name__}: {exc}")
                        print(f"sms: e2e rep {rep + 1} {name} FAILED: {exc}", flush=True)
                        if name == "kopru":
                            await b.stop_pipeline()
                            await b.start_pipeline()
                        continue
                    msg = f"sms: e2e rep {rep + 1}/{b.args.reps} {name:14s} {e['messages_per_s']:8.1f} messages/s"
                    if name == "kopru":
                        msg += (f"  ({e['accepted']} accepted, intake {e['intake_per_s']}/s, p50 "
                                f"{e['latency_accept_to_receipt_ms']['p50']:.0f} ms, duplicates "
                                f"{e['duplicate_messages']}, missing {e['missing']}, sms-send CPU "
                                f"{e['cpu_ms_per_message'].get('sms-send', 0):.2f} ms/msg, cores {e['core_busy']})")
                        for k in ("missing", "duplicate_messages", "keys_sent_more_than_once"):
                            if e[k]:
                                errors.append(f"e2e rep {rep + 1}: {k} = {e[k]}")
                        if e["wrk_problems"]:
                            errors.append(f"e2e rep {rep + 1}: " + "; ".join(e["wrk_problems"]))
                        if e["final_statuses"].get("sent", 0) != e["accepted"]:
                            errors.append(f"e2e rep {rep + 1}: final statuses {e['final_statuses']}")
                    elif e["errors"] or e["simulator_messages"] != e["messages"]:
                        errors.append(f"e2e rep {rep + 1} {name}: {e['errors']} errors, simulator holds "
                                      f"{e['simulator_messages']} of {e['messages']}")
                    print(msg, flush=True)
                out["e2e"].append(entry)
        finally:
            await b.stop_pipeline()
    except Exception as exc:
        errors.insert(0, f"end to end: {type(exc).__name__}: {exc}")
        print(f"sms: end to end FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    try:
        if not b.args.skip_intake:
            print(f"sms: HTTP intake, pipeline stopped: {b.args.reps} x {b.args.duration:.0f} s per target, "
                  f"c={b.args.connections}", flush=True)
            out["intake"] = await b.measure_intake()
            errors += out["intake"]["errors"]
        b.setup["intake_outbox_rows_discarded"] = await b.discard_pending_outbox()
        await b.refresh_tokens()  # for the profile
    except Exception as exc:
        errors.insert(0, f"intake: {type(exc).__name__}: {exc}")
        print(f"sms: intake FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        await b.close()
        from kopru.db import dispose

        await dispose()
    return out


def summarize_e2e(entries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("raw", "raw_new_client", "kopru"):
        rs = [e[name] for e in entries if name in e]
        keys = sorted({k for r in rs for k in r["cpu_ms_per_message"]})
        out[name] = {
            "messages_per_s": _rs(summarize(r["messages_per_s"] for r in rs), 1),
            "cpu_ms_per_message": {k: _rs(summarize(r["cpu_ms_per_message"].get(k) for r in rs), 3) for k in keys},
            "core_busy": [_rs(summarize(r["core_busy"][i] for r in rs), 3) for i in range(len(rs[0]["core_busy"]))]
            if rs else [],
        }
        if name == "kopru" and rs:
            out[name].update({
                "accepted": _rs(summarize(r["accepted"] for r in rs), 0),
                "intake_per_s": _rs(summarize(r["intake_per_s"] for r in rs), 1),
                "latency_p50_ms": _rs(summarize(r["latency_accept_to_receipt_ms"]["p50"] for r in rs), 1),
                "latency_p99_ms": _rs(summarize(r["latency_accept_to_receipt_ms"]["p99"] for r in rs), 1),
                "duplicates_total": sum(r["duplicate_messages"] for r in rs),
                "keys_sent_more_than_once_total": sum(r["keys_sent_more_than_once"] for r in rs),
                "missing_total": sum(r["missing"] for r in rs),
            })
    k = (out["kopru"]["messages_per_s"] or {}).get("median")
    out["ratio_to_raw"] = _r(ratio(k, (out["raw"]["messages_per_s"] or {}).get("median")), 4)
    out["ratio_to_raw_new_client"] = _r(ratio(k, (out["raw_new_client"]["messages_per_s"] or {}).get("median")), 4)
    both = [e for e in entries if "kopru" in e and "raw" in e]
    out["ratio_to_raw_per_rep"] = [round(e["kopru"]["messages_per_s"] / e["raw"]["messages_per_s"], 4) for e in both]
    return out


def summarize_intake(intake: dict[str, Any] | None) -> dict[str, Any] | None:
    if not intake:
        return None
    out: dict[str, Any] = {}
    for name, rs in intake["runs"].items():
        keys = sorted({k for r in rs for k in r["cpu_us_per_request"]})
        out[name] = {
            "per_s": _rs(summarize(r["per_s"] for r in rs), 1),
            "valid": bool(rs) and all(r["valid"] for r in rs),
            "latency_p50_ms": _rs(summarize(r["latency_ms"]["p50"] for r in rs), 3),
            "latency_p99_ms": _rs(summarize(r["latency_ms"]["p99"] for r in rs), 3),
            "server_cpu_util": _rs(summarize(r["server_cpu_util"] for r in rs), 3),
            "cpu_us_per_request": {k: _rs(summarize(r["cpu_us_per_request"].get(k) for r in rs), 1) for k in keys},
            "core_busy": [_rs(summarize(r["core_busy"][i] for r in rs), 3) for i in range(len(rs[0]["core_busy"]))]
            if rs else [],
        }
    s, h = out.get("sms", {}).get("per_s"), out.get("hello", {}).get("per_s")
    out["ratio_sms_to_hello"] = _r(ratio(s["median"] if s else None, h["median"] if h else None), 4)
    return out


def render(e2e: dict[str, Any], intake: dict[str, Any] | None, bus: str, cpus: dict[str, Any]) -> str:
    rows = []
    if intake:
        h, s = intake["hello"], intake["sms"]
        rows.append(["hello world GET / (baseline), req/s", _fmt(h["per_s"]), "", _fmt(h["latency_p50_ms"], 2),
                     "-" if not h["cpu_us_per_request"].get("server") else f"{h['cpu_us_per_request']['server']['median']:.0f}"])
        rows.append(["POST /sms intake, 202/s" + ("" if s["valid"] else " (INVALID)"), _fmt(s["per_s"]),
                     "-" if intake["ratio_sms_to_hello"] is None else f"{intake['ratio_sms_to_hello']:.3f}x hello",
                     _fmt(s["latency_p50_ms"], 2),
                     "-" if not s["cpu_us_per_request"].get("server") else f"{s['cpu_us_per_request']['server']['median']:.0f}"])
    r, rn, k = e2e["raw"], e2e["raw_new_client"], e2e["kopru"]
    rows.append(["httpx -> simulator, pooled client (baseline), msg/s", _fmt(r["messages_per_s"]), "", "", ""])
    rows.append(["httpx -> simulator, new client per send, msg/s", _fmt(rn["messages_per_s"]), "", "", ""])
    srv = (k["cpu_ms_per_message"].get("sms-send") or {}).get("median")
    rows.append([f"POST /sms -> {bus} -> sms-send -> simulator, msg/s", _fmt(k["messages_per_s"]),
                 "-" if e2e["ratio_to_raw"] is None else f"{e2e['ratio_to_raw']:.3f}x raw",
                 "-" if not k.get("latency_p50_ms") else f"{k['latency_p50_ms']['median']:.0f}",
                 "-" if srv is None else f"{srv * 1000:.0f}"])
    return table(rows, ["", "median (min-max) over reps", "ratio", "p50 ms", "worker us/msg"])


def render_cpu(e2e: dict[str, Any], intake: dict[str, Any] | None) -> str:
    procs = ["sms-send", "bench", "simulator", "postgres", "redis", "kafka", "wrk"]
    rows = []
    for name, label in (("kopru", "end to end (ms/message)"), ("raw", "raw pooled (ms/message)"),
                        ("raw_new_client", "raw new client (ms/message)")):
        c = e2e[name]["cpu_ms_per_message"]
        rows.append([label, *[("-" if not c.get(p) else f"{c[p]['median']:.3f}") for p in procs],
                     " / ".join(f"{x['median']:.2f}" for x in e2e[name]["core_busy"] if x)])
    if intake:
        c = intake["sms"]["cpu_us_per_request"]
        rows.append(["intake POST /sms (ms/request)",
                     *[("-" if not c.get("server" if p == "sms-send" else p) else
                        f"{c['server' if p == 'sms-send' else p]['median'] / 1000:.3f}") for p in procs],
                     " / ".join(f"{x['median']:.2f}" for x in intake["sms"]["core_busy"] if x)])
    return table(rows, ["CPU per message, median", *procs, "core busy"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--simulator-worker"]:
        return simulator_worker(int(argv[argv.index("--port") + 1]))
    p = argparse.ArgumentParser(prog="bench.sms", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per timed intake wrk run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of untimed intake warm-up per target (default 2)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every figure (default 3)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--e2e-seconds", type=float, default=5.0,
                   help="seconds wrk POSTs /sms in each end-to-end run (default 5)")
    p.add_argument("--raw-messages", type=int, default=2000, help="sends per raw simulator baseline run (default 2000)")
    p.add_argument("--raw-new-client-messages", type=int, default=300,
                   help="sends per raw baseline run with a new httpx client per send (default 300: it is slow)")
    p.add_argument("--raw-concurrency", type=int, default=6,
                   help="concurrent sends of the raw baseline (default 6: the dispatcher's most, one per partition)")
    p.add_argument("--tenants", type=int, default=6, help="tenants the requests rotate over (default 6)")
    p.add_argument("--bus", choices=("kafka", "inprocess"), default="kafka",
                   help="kafka: relay -> Kafka (scripts/kafka) -> run_dispatcher (default); inprocess: the relay "
                        "delivers through kopru_tools.bus.InProcessBus (one at a time)")
    p.add_argument("--profile", type=int, default=200, metavar="N",
                   help="cProfile N POST /sms and N deliveries in process (default 200; 0: skip)")
    p.add_argument("--skip-intake", action="store_true", help="only the end-to-end figures")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between two runs (default 1)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a run may take to drain (default 120)")
    p.add_argument("--server-cpu", type=int, default=None, help="core of the function workers (default: the last)")
    p.add_argument("--client-cpu", type=int, default=None, help="core of everything else (default: the first)")
    p.add_argument("--no-pin", action="store_true", help="do not pin anything to a core")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="embedded services' data (default <bench data dir>/sms, see bench/common.py)")
    p.add_argument("--keep-running", action="store_true", help="leave the embedded PostgreSQL and Redis running")
    args = p.parse_args(argv)
    if min(args.reps, args.tenants, args.connections, args.raw_messages, args.raw_new_client_messages) < 1:
        p.error("--reps, --tenants, --connections and --raw-*messages must be at least 1")
    wrk = shutil.which("wrk")
    if wrk is None:
        print(f"sms: {WRK_INSTALL_HINT}", file=sys.stderr)
        return 2

    cpus = cpus_available()
    pin = not args.no_pin and len(cpus) >= 2
    server_cpu = (args.server_cpu if args.server_cpu is not None else cpus[-1]) if pin else None
    client_cpu = (args.client_cpu if args.client_cpu is not None else cpus[0]) if pin else None
    if pin and server_cpu == client_cpu:
        p.error("--server-cpu and --client-cpu must differ")
    if not pin:
        print(f"sms: NOT pinning (cpus {cpus}{', --no-pin' if args.no_pin else ''})", flush=True)
    data_dir = (args.data_dir or bench_data_dir() / "sms").expanduser().resolve()
    if data_dir == (REPO_ROOT / ".kopru").resolve():
        p.error("the benchmarks never use the developer's ./.kopru")
    log_dir = data_dir / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)

    print(f"sms: embedded services under {data_dir}", flush=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    env, op_cid, op_secret = prepare_services(data_dir, "bench-sms")
    pinning: dict[str, Any] = {"pinned": pin, "server_cpu": server_cpu, "client_cpu": client_cpu, "available_cpus": cpus}
    setup: dict[str, Any] = {}
    servers: dict[str, Server] = {}
    broker: KafkaBroker | None = None
    kafka_dir: Path | None = None
    result: dict[str, Any] = {"e2e": [], "intake": None, "errors": []}
    profile: dict[str, Any] | None = None
    fatal: str | None = None
    sc = None if server_cpu is None else str(server_cpu)
    cc = None if client_cpu is None else str(client_cpu)
    try:
        from kopru.config import settings
        from kopru.db import embedded
        from kopru.runtime.registry import function_sources

        sources = function_sources()
        if pin:
            # the worker's core runs the worker alone: everything else on the other core, this process too
            svc = embedded_service_pids(data_dir)
            pinning["services_pinned_to_client_cpu"] = {k: len(pin_tree(pid, {client_cpu})) for k, pid in svc.items()}
            os.sched_setaffinity(0, {client_cpu})
        sim_port = free_port()
        servers["simulator"] = Server(pinned([sys.executable, "-m", "bench.sms", "--simulator-worker", "--port",
                                              str(sim_port)], cc), port=sim_port, env=env,
                                      log_path=log_dir / "simulator.log")
        servers["simulator"].wait_ready("/_bench/count", timeout=60)
        sim_url = f"http://127.0.0.1:{sim_port}"
        os.environ["NETGSM_BASE_URL"] = sim_url  # for the in-process profile
        from kopru.config import reset_settings

        reset_settings()
        fenv = {**env, "NETGSM_BASE_URL": sim_url, "WORKERS": "1"}
        bootstrap = None
        if args.bus == "kafka":
            kafka_dir = Path(tempfile.mkdtemp(prefix="kopru-bench-kafka-"))
            broker = KafkaBroker(kafka_dir, free_port(), log_dir / "kafka.stderr")
            print(f"sms: starting Kafka (scripts/kafka) on {broker.bootstrap} ...", flush=True)
            t0 = time.perf_counter()
            broker.start()
            setup["kafka_start_s"] = round(time.perf_counter() - t0, 1)
            bootstrap = broker.bootstrap
        for key, source, cpu_, ready in (("token", sources["token"], cc, "/healthz"),
                                         ("tenant-onboarding", sources["tenant-onboarding"], cc, "/healthz"),
                                         ("sms-send", sources["sms-send"], sc, "/healthz"),
                                         ("hello", HELLO_SOURCE, sc, "/")):
            port = free_port()
            servers[key] = Server(pinned(functions_framework_cmd(source, port), cpu_), port=port, env=fenv,
                                  log_path=log_dir / f"server-{key}.log")
        for key in ("token", "tenant-onboarding", "sms-send", "hello"):
            servers[key].wait_ready("/" if key == "hello" else "/healthz", timeout=120)
        import psutil

        processes = {}
        for key in ("sms-send", "hello"):
            kids = [c.pid for c in psutil.Process(servers[key].proc.pid).children(recursive=True)]
            if len(kids) != 1:
                raise RuntimeError(f"{key}: expected exactly one worker under gunicorn, found {len(kids)}")
            processes[key] = {"master_pid": servers[key].proc.pid, "worker_pid": kids[0],
                              "worker_affinity": sorted(psutil.Process(kids[0]).cpu_affinity())}
        setup["processes"] = processes
        sock = embedded._socket_dir(embedded.postgres_superuser_uri(settings().data_dir))
        su_url = f"postgresql://postgres@/{embedded.DATABASE}?host={sock}"
        svc = embedded_service_pids(data_dir)
        cpu_pids = {"sms-send": servers["sms-send"].proc.pid, "hello": servers["hello"].proc.pid,
                    "bench": os.getpid(), "simulator": servers["simulator"].proc.pid, **svc}
        if broker is not None:
            cpu_pids["kafka"] = broker.proc.pid
        urls = {k: f"http://127.0.0.1:{s.port}" for k, s in servers.items()}
        b = Bench(args, fenv, su_url, urls, {k: s.port for k, s in servers.items()}, cpu_pids, bootstrap, log_dir, cc)
        result = asyncio.run(run_async(b, (op_cid, op_secret)))
        setup.update(b.setup)
        if broker is not None:
            broker.stop()
        for key in ("token", "tenant-onboarding", "sms-send", "hello"):
            servers[key].stop()
        if args.profile > 0 and b.tenants:
            print(f"sms: cProfile of {args.profile} POST /sms and {args.profile} deliveries in process ...", flush=True)
            try:
                profile = run_profile(sources["sms-send"], b.tenants, args.profile, sim_url, log_dir, server_cpu)
                # the profile's own requests were delivered directly: their outbox rows are not for a relay
                async def tidy() -> int:
                    import psycopg

                    async with await psycopg.AsyncConnection.connect(su_url, autocommit=True) as c:
                        return (await c.execute("update outbox set published_at = now() "
                                                "where published_at is null")).rowcount

                setup["profile_outbox_rows_discarded"] = asyncio.run(tidy())
            except Exception as exc:
                result["errors"].append(f"profile: {type(exc).__name__}: {exc}")
                print(f"sms: profile FAILED: {exc}", flush=True)
    except Exception as exc:
        fatal = f"{type(exc).__name__}: {exc}"
        print(f"sms: FAILED: {fatal}", file=sys.stderr, flush=True)
    finally:
        if broker is not None:
            broker.stop()
        if kafka_dir is not None:
            shutil.rmtree(kafka_dir, ignore_errors=True)
        for srv in servers.values():
            srv.stop()
        if not args.keep_running:
            stop_services()

    errors = list(result["errors"])
    if fatal:
        errors.insert(0, fatal)
    e2e = summarize_e2e(result["e2e"])
    intake = summarize_intake(result["intake"])
    k_med = (e2e["kopru"]["messages_per_s"] or {}).get("median")
    headline = {
        "text": "messages/s through POST /sms -> kopru.sms.requested.v1 -> sms-send -> the Netgsm simulator, "
                "on ONE sms-send worker (functions-framework, WORKERS=1, one pinned core)",
        "messages_per_s_median": k_med,
        "bus": args.bus,
        "ratio_to_raw_httpx_to_simulator": e2e["ratio_to_raw"],
        "intake_202_per_s_median": ((intake or {}).get("sms", {}).get("per_s") or {}).get("median"),
        "intake_ratio_to_hello": (intake or {}).get("ratio_sms_to_hello"),
        "duplicates": e2e["kopru"].get("duplicates_total"),
        "keys_sent_more_than_once": e2e["kopru"].get("keys_sent_more_than_once_total"),
        "missing": e2e["kopru"].get("missing_total"),
    }
    method = {
        "servers": "functions-framework --asgi --source <main.py> --target handle, WORKERS=1 (gunicorn + one uvicorn "
                   "worker); sms-send and hello under `taskset -c <server cpu>`; token and tenant-onboarding on the "
                   "client cpu (set-up only)",
        "simulator": "kopru_tools.simulators.netgsm.NetgsmSimulator (one account) served by its serve() "
                     "(uvicorn, in a thread) in its own process on the client cpu; /_bench/ routes count/dump/reset; "
                     "NETGSM_BASE_URL points sms-send and tenant-onboarding at it",
        "tenants": "onboarded through POST /tenants (enterprise plan), one per partition of kopru.sms; Netgsm settings "
                   "through PUT /tenants/{id}/integrations/netgsm; requests rotate over their bearer tokens",
        "requests": f"POST /sms {{to: 0532xxxxxxx (a distinct mobile number per request), message: {TEXT!r}, "
                    "kind: transactional}, wrk Lua request() per request",
        "e2e": ("relay (kopru.events.relay.Relay + KafkaPublisher) and run_dispatcher (kopru dispatch's delivery: "
                "http_sender over one httpx.AsyncClient to the served sms-send) in this process, real Kafka 4.1 from "
                "scripts/kafka" if args.bus == "kafka" else
                "relay (kopru.events.relay.Relay) publishing into kopru_tools.bus.InProcessBus whose sender is "
                "http_sender over httpx to the served sms-send (one delivery at a time)")
               + f"; wrk POSTs /sms for {args.e2e_seconds:g} s at the same time; messages/s = accepted rows / "
                 "(first created_at -> last simulator receipt); receipt = SimMessage.accepted_at",
        "raw_baseline": f"POSTs to /sms/rest/v2/send (NetgsmClient.send's body, Basic auth, X-Idempotency-Key) with "
                        f"httpx from this process, {args.raw_concurrency} at a time: {args.raw_messages} through one "
                        f"pooled AsyncClient, and {args.raw_new_client_messages} with a new AsyncClient per send (as "
                        "deliver opens a NetgsmClient per message)",
        "intake": f"pipeline stopped; wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration:g}s, interleaved "
                  "with the hello world (GET /) per repetition, a warm-up each first; any non-202 voids the figure",
        "cpu": "psutil cpu_times (user+system) per process tree: sms-send (gunicorn + worker), bench (this process: "
               "relay + dispatcher, or the raw client), simulator, postgres (postmaster + backends), redis, kafka "
               "(scripts/kafka + JVM); wrk via RUSAGE_CHILDREN; core busy from psutil per-cpu times",
    }
    path = write_results(NAME, {
        "headline": headline,
        "problems": errors,
        "method": method,
        "pinning": pinning,
        "setup": {**setup, "load_before": load_before},
        "e2e": e2e,
        "intake": intake,
        "e2e_runs": result["e2e"],
        "intake_runs": (result["intake"] or {}).get("runs"),
        "profile": profile,
    }, params={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})

    print()
    print(render(e2e, intake, args.bus, pinning))
    print()
    print(render_cpu(e2e, intake))
    if profile:
        u = profile["unprofiled"]
        print(f"\nin process (server core): intake {u['intake_cpu_us_per_message']:.0f} us CPU/message, delivery "
              f"{u['delivery_cpu_us_per_message']:.0f} us CPU/message (this process only)")
        for phase in ("intake", "delivery"):
            d = profile[phase]
            print(f"cProfile {phase}: {d['profiled_us_per_message']:.0f} us/message profiled; by package: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in list(d["by_package_us_per_message"].items())[:7]))
            for t in d["top_own_time"][:8]:
                print(f"  {t['us_per_message']:7.1f} us  {t['calls_per_message']:6.2f} calls  {t['function'][:100]}")
    if errors:
        print("\nPROBLEMS:\n" + "\n".join("  " + e for e in errors))
    print(f"\nresults: {path.relative_to(REPO_ROOT)}")
    measured = k_med is not None and (e2e["raw"]["messages_per_s"] is not None) and (
        args.skip_intake or (intake is not None and intake["sms"]["per_s"] is not None
                             and intake["hello"]["per_s"] is not None))
    return 0 if measured and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
