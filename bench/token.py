"""Token throughput and access-token verification cost, against same-run baselines.

Goals: at least 10x Ory Hydra's tuned figure (457 grants/s, HYDRA_REFERENCE: 4,570
client_credentials grants/s) on ONE worker on one core, and access-token verification
under 100 microseconds (median).

1. Grants/s. The token function is served exactly as its image serves it,

       functions-framework --asgi --source functions/token/main.py --target handle

   which is gunicorn + ONE uvicorn worker (functions-framework's UvicornApplication
   takes `workers` from $WORKERS, default 1; the bench sets WORKERS=1 and checks the
   process tree has exactly one worker), the whole tree pinned to one core with
   `taskset -c <server cpu>`. A separate load generator, `wrk` pinned to the other
   core, POSTs /oauth2/token grant_type=client_credentials with HTTP Basic auth of
   a tenant's client (a tenant onboarded through POST /tenants on tenant-onboarding,
   enterprise plan) and of the platform operator client, at a few connection counts,
   a warm-up then several timed repetitions, interleaved with the baseline: the
   functions-framework ASGI hello world (bench/hello/main.py) served and hammered the
   same way (GET /). The embedded PostgreSQL and Redis are pinned to the load
   generator's core, so the worker's core runs the worker alone. Every response is
   counted by status in wrk's Lua script: any non-200 (or socket error) voids the
   figure. CPU seconds of the worker, PostgreSQL, Redis and wrk are recorded per run
   (worker CPU per request shows the cost of a grant on its core).

2. Verification, in process (uvloop, like the worker), pinned to the server core,
   each figure over >= 10,000 calls in batches; the figure is the median over
   batches of (batch time / calls), perf_counter_ns (per-call p50/p99 beside the
   headline ones):
     verify_access_token          distinct tokens (issued in process with the current
                                  key), each verified for the first time: signature +
                                  claims. The goal is judged on this one.
     verify_access_token_repeat   the same token every call (a client reuses its token;
                                  a verified-token cache in the library answers it)
     is_denied / check_rate       the Redis denylist EXISTS and the GCRA EVALSHA (the
                                  tenant's real plan limit), apart
     admit                        both in one round trip, when the library has it
     authenticate(_repeat)        the whole `authenticate("Bearer ...")`
   Before each Redis batch the tenant's rate-limit key is deleted (untimed) so no call
   is rate limited. Baselines in the same process: a bare pyjwt HS256 `jwt.decode`
   (same claims and checks) and the bare signature check of the key's algorithm (ES256 by default).

3. --profile N (optional): cProfile of N grants in process (direct ASGI calls into
   the functions-framework app, 8 concurrent), and a profiler-free breakdown: each
   piece of the grant path called alone, CPU and wall time per call.

Medians are quoted (min/max beside). A missed goal is reported, not gated: exit 0;
1 only when a figure could not be measured (or a run had non-200 answers).

    scripts/bench token
    .venv/bin/python -m bench.token --duration 10 --reps 3 --connections 8,32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench.common import (
    asgi_call,
    core_busy as _busy,
    fmt_summary,
    rnd as _r,
    run_wrk,
    short_path as _short,
    WRK_REPORT_LUA,
    REPO_ROOT,
    Server,
    bench_data_dir,
    cpu_delta,
    cpus_available,
    embedded_service_pids,
    free_port,
    functions_framework_cmd,
    http_request,
    pin_tree,
    pinned,
    prepare_services,
    ratio,
    stop_services,
    summarize,
    table,
    tree_cpu_times,
    write_results,
)

NAME = "token"
HELLO_SOURCE = REPO_ROOT / "bench" / "hello" / "main.py"
# Ory Hydra v2.3.0 on the same 2-core machine and pinning, PostgreSQL behind it (issue 21's
# measurement, kept as a published reference: the bench doesn't run Hydra)
HYDRA_REFERENCE = {
    "version": "v2.3.0",
    "grants_per_s": {"defaults": 174.0, "tuned_opaque_cheapest_hashing": 457.0, "jwt_access_tokens": 91.0},
    "note": "client_credentials grants/s, same machine and pinning as this bench, PostgreSQL behind Hydra; "
            "measured once for issue 21, not re-run by the bench",
}
GOAL_HYDRA_FACTOR = 10.0
GOAL_GRANTS_PER_S = GOAL_HYDRA_FACTOR * HYDRA_REFERENCE["grants_per_s"]["tuned_opaque_cheapest_hashing"]
GOAL_VERIFY_US = 100.0
TENANT_PLAN = "enterprise"
WRK_INSTALL_HINT = "wrk is required: apt-get install -y wrk (Debian package `wrk`); scripts/bench installs it when run as root"

# -- wrk ----------------------------------------------------------------------------------

LUA = r"""
wrk.method = "%(method)s"
%(body)s
%(headers)s
local expect = %(expect)s
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

"""


def _lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for ASCII


def lua_script(method: str, body: str | None, headers: dict[str, str], expect: str | None) -> str:
    return LUA % {
        "method": method,
        "body": f"wrk.body = {_lua_str(body)}" if body is not None else "",
        "headers": "\n".join(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items()),
        "expect": _lua_str(expect) if expect else "nil",
    } + WRK_REPORT_LUA


@dataclass
class LoadTarget:
    name: str  # "hello", "grant-tenant", "grant-operator"
    server: str  # key of the running server
    path: str
    script: Path
    baseline: bool = False


# -- set-up ----------------------------------------------------------------------------------

def basic_auth(cid: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


def grant(port: int, auth: str) -> dict[str, Any]:
    r = http_request(port, "POST", "/oauth2/token", body=b"grant_type=client_credentials",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
    if r.status != 200:
        raise RuntimeError(f"client_credentials grant: HTTP {r.status}: {r.body[:300]!r}")
    return r.json()


def onboard_tenant(env: dict[str, str], source: Path, operator_token: str, log_dir: Path,
                   timeout: float) -> dict[str, Any]:
    """A tenant (enterprise plan) created through POST /tenants on tenant-onboarding;
    returns the response: tenant, client_id, client_secret."""
    payload = {
        "name": "Bench Token A.Ş.",
        "tax_number": "10000000146",
        "tax_office": "Kadıköy",
        "subdomain": "bench-tok-" + secrets.token_hex(4),
        "plan": TENANT_PLAN,
        "admin": {"email": "token@bench.com.tr", "password": "bench-password-123"},
    }
    port = free_port()
    with Server(functions_framework_cmd(source, port), port=port, env=env,
                log_path=log_dir / "tenant-onboarding.log") as srv:
        srv.wait_ready("/healthz", timeout=timeout)
        _, r = srv.request("POST", "/tenants", expect=201, timeout=timeout,
                           body=json.dumps(payload, ensure_ascii=False).encode(),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {operator_token}"})
    return r.json()


def worker_pids(srv: Server) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(srv.proc.pid).children(recursive=True)]


def process_affinity(pid: int) -> list[int] | None:
    import psutil

    try:
        return sorted(psutil.Process(pid).cpu_affinity())
    except Exception:
        return None


def server_impl() -> dict[str, str]:
    import importlib.util

    return {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }


# -- part 1: grants/s ---------------------------------------------------------------------------

def measure_http(args, env: dict[str, str], operator: tuple[str, str], sources: dict[str, Path],
                 data_dir: Path, log_dir: Path, server_cpu: str | None, client_cpu: str | None,
                 setup: dict[str, Any]) -> dict[str, Any]:
    import psutil

    wrk = shutil.which("wrk")
    assert wrk is not None
    env = {**env, "WORKERS": "1"}  # functions-framework's default, made explicit
    servers: dict[str, Server] = {}
    try:
        for key, source in (("token", sources["token"]), ("hello", HELLO_SOURCE)):
            port = free_port()
            srv = Server(pinned(functions_framework_cmd(source, port), server_cpu), port=port, env=env,
                         log_path=log_dir / f"server-{key}.log")
            servers[key] = srv
            srv.wait_ready("/healthz" if key != "hello" else "/", timeout=args.timeout)

        op_auth = basic_auth(*operator)
        op_token = grant(servers["token"].port, op_auth)["access_token"]
        print("  onboarding a tenant through POST /tenants ...", flush=True)
        onboarded = onboard_tenant(env, sources["tenant-onboarding"], op_token, log_dir, args.timeout)
        tenant_auth = basic_auth(onboarded["client_id"], onboarded["client_secret"])
        tenant_grant = grant(servers["token"].port, tenant_auth)
        setup["tenant"] = {"id": onboarded["tenant"]["id"], "plan": onboarded["tenant"]["plan"],
                           "client_id": onboarded["client_id"], "scope": tenant_grant.get("scope")}
        setup["tenant_token"] = tenant_grant["access_token"]  # for part 2 (not written to the JSON)
        setup["tenant_id"] = onboarded["tenant"]["id"]
        setup["_tenant_auth"] = tenant_auth  # for --profile (not written to the JSON)

        procs = {}
        for key, srv in servers.items():
            workers = worker_pids(srv)
            if len(workers) != 1:
                raise RuntimeError(f"{key}: expected exactly one worker under gunicorn, found {len(workers)}")
            procs[key] = {"master_pid": srv.proc.pid, "worker_pid": workers[0],
                          "worker_affinity": process_affinity(workers[0]),
                          "master_affinity": process_affinity(srv.proc.pid)}

        scripts_dir = log_dir / "lua"
        scripts_dir.mkdir(parents=True, exist_ok=True)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        specs = [
            ("hello", "hello", "GET", "/", None, {}, "ok", True),
            ("grant-tenant", "token", "POST", "/oauth2/token", "grant_type=client_credentials",
             {**form, "Authorization": tenant_auth}, '"access_token"', False),
            ("grant-operator", "token", "POST", "/oauth2/token", "grant_type=client_credentials",
             {**form, "Authorization": op_auth}, '"access_token"', False),
        ]
        targets = []
        for name, server, method, path, body, headers, expect, base in specs:
            script = scripts_dir / f"{name}.lua"
            script.write_text(lua_script(method, body, headers, expect))
            script.chmod(0o600)  # holds client secrets
            targets.append(LoadTarget(name, server, path, script, base))

        svc = embedded_service_pids(data_dir)
        runs: dict[str, dict[int, list[dict]]] = {t.name: {c: [] for c in args.connections} for t in targets}
        errors: list[str] = []
        warmed: set[tuple[str, int]] = set()
        for rep in range(args.reps):
            for conns in args.connections:
                for t in targets:
                    srv = servers[t.server]
                    url = f"http://127.0.0.1:{srv.port}{t.path}"
                    try:
                        if (t.name, conns) not in warmed:
                            run_wrk(wrk, url, t.script, connections=conns, duration=args.warmup,
                                    threads=args.wrk_threads, cpus=client_cpu, timeout_s=args.timeout)
                            warmed.add((t.name, conns))
                        cpu0 = {k: tree_cpu_times(pid) for k, pid in svc.items()}
                        srv0 = tree_cpu_times(srv.proc.pid)
                        core0 = psutil.cpu_times(percpu=True)
                        res = run_wrk(wrk, url, t.script, connections=conns, duration=args.duration,
                                      threads=args.wrk_threads, cpus=client_cpu, timeout_s=args.timeout)
                        core1 = psutil.cpu_times(percpu=True)
                        srv1 = tree_cpu_times(srv.proc.pid)
                        cpu1 = {k: tree_cpu_times(pid) for k, pid in svc.items()}
                    except Exception as exc:
                        errors.append(f"{t.name} c={conns} rep {rep + 1}: {exc}")
                        print(f"  {t.name} c={conns} rep {rep + 1} FAILED: {exc}", flush=True)
                        continue
                    dur = res["duration_us"] / 1e6
                    n = res["requests"]
                    non200 = sum(v for k, v in res["statuses"].items() if k != "200")
                    sock_err = sum(v for k, v in res["errors"].items() if k != "status")
                    server_cpu_s = cpu_delta(srv0, srv1)
                    run = {
                        "rps": n / dur if dur else 0.0,
                        "requests": n,
                        "duration_s": round(dur, 3),
                        "statuses": res["statuses"],
                        "non_200": non200,
                        "socket_errors": res["errors"],
                        "bad_body": res["bad_body"],
                        "valid": non200 == 0 and sock_err == 0 and res["bad_body"] == 0 and n > 0,
                        "latency_ms": {k: round(v / 1000, 3) for k, v in res["latency_us"].items()},
                        "server_cpu_util": round(server_cpu_s / dur, 3) if dur else None,
                        "server_cpu_us_per_request": round(server_cpu_s / n * 1e6, 1) if n else None,
                        "postgres_cpu_util": round(cpu_delta(cpu0.get("postgres", {}), cpu1.get("postgres", {})) / dur, 3)
                        if "postgres" in svc else None,
                        "redis_cpu_util": round(cpu_delta(cpu0.get("redis", {}), cpu1.get("redis", {})) / dur, 3)
                        if "redis" in svc else None,
                        "client_cpu_util": round(res["client_cpu_s"] / dur, 3) if dur else None,
                        # whole-core busy fractions: the server core's minus the worker's is foreign load
                        "core_busy": [round(_busy(a, b), 3) for a, b in zip(core0, core1)],
                    }
                    runs[t.name][conns].append(run)
                    flag = "" if run["valid"] else f"  INVALID (non-200: {non200}, socket errors: {sock_err}, bad bodies: {res['bad_body']})"
                    print(f"  rep {rep + 1} c={conns:<3} {t.name:<15} {run['rps']:9.1f} req/s  p50 {run['latency_ms']['p50']:.2f} ms"
                          f"  server CPU {run['server_cpu_util']:.2f}, {run['server_cpu_us_per_request']:.0f} us/req{flag}",
                          flush=True)
        return {"targets": targets, "runs": runs, "errors": errors, "processes": procs,
                "service_pids": svc}
    finally:
        for srv in servers.values():
            srv.stop()


def summarize_http(targets: list[LoadTarget], runs: dict, connections: list[int],
                   server_idx: int | None) -> tuple[dict, dict]:
    out: dict[str, Any] = {}
    for t in targets:
        per_c = {}
        for c in connections:
            rs = runs[t.name][c]
            valid = bool(rs) and all(r["valid"] for r in rs)
            per_c[str(c)] = {
                "rps": _round(summarize(r["rps"] for r in rs), 1),
                "valid": valid,
                "runs_ok": len(rs),
                "latency_p50_ms": _round(summarize(r["latency_ms"]["p50"] for r in rs), 3),
                "latency_p99_ms": _round(summarize(r["latency_ms"]["p99"] for r in rs), 3),
                "server_cpu_util": _round(summarize(r["server_cpu_util"] for r in rs), 3),
                "server_cpu_us_per_request": _round(summarize(r["server_cpu_us_per_request"] for r in rs), 1),
                "postgres_cpu_util": _round(summarize(r["postgres_cpu_util"] for r in rs), 3),
                "redis_cpu_util": _round(summarize(r["redis_cpu_util"] for r in rs), 3),
                "client_cpu_util": _round(summarize(r["client_cpu_util"] for r in rs), 3),
                "server_core_busy": _round(summarize(r["core_busy"][server_idx] for r in rs
                                                     if server_idx is not None and server_idx < len(r["core_busy"])), 3),
                "runs": rs,
            }
        out[t.name] = {"path": t.path, "baseline": t.baseline, "by_connections": per_c}
    # ratios against hello at the same connection count; goal on the grant figures
    goals: dict[str, Any] = {}
    for t in targets:
        if t.baseline:
            continue
        for c in connections:
            e = out[t.name]["by_connections"][str(c)]
            b = out["hello"]["by_connections"][str(c)]
            med = e["rps"]["median"] if e["rps"] else None
            e["ratio_to_hello"] = _r(ratio(med, b["rps"]["median"] if b["rps"] else None), 4)
            e["goal"] = {"min_rps": GOAL_GRANTS_PER_S,
                         "pass": None if med is None or not e["valid"] else med >= GOAL_GRANTS_PER_S}
        meds = {c: out[t.name]["by_connections"][str(c)] for c in connections}
        best_c = max(connections, key=lambda c: meds[c]["rps"]["median"] if meds[c]["rps"] else -1)
        best = meds[best_c]
        goals[t.name] = {
            "figure": "median grants/s at the best connection count",
            "connections": best_c,
            "rps": best["rps"]["median"] if best["rps"] else None,
            "min": GOAL_GRANTS_PER_S,
            "valid": all(meds[c]["valid"] for c in connections),
            "pass": (best["rps"] is not None and all(meds[c]["valid"] for c in connections)
                     and best["rps"]["median"] >= GOAL_GRANTS_PER_S),
        }
    return out, goals


# -- part 2: verification ---------------------------------------------------------------------------

def _batches_async(fn: Callable[[], Awaitable[Any]], batches: int, n: int,
                   before: Callable[[], Awaitable[Any]] | None = None) -> Callable[[], Awaitable[list[float]]]:
    async def run() -> list[float]:
        per_call = []
        for _ in range(batches):
            if before is not None:
                await before()
            t0 = time.perf_counter_ns()
            for _ in range(n):
                await fn()
            per_call.append((time.perf_counter_ns() - t0) / n / 1000)  # µs
        return per_call
    return run


def _batches_sync(fn: Callable[[], Any], batches: int, n: int) -> list[float]:
    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter_ns() - t0) / n / 1000)
    return per_call


async def _per_call_async(fn: Callable[[], Awaitable[Any]], n: int,
                          before: Callable[[], Awaitable[Any]] | None = None, chunk: int = 500) -> dict[str, float]:
    """Each call timed alone (includes ~0.1 µs of timer overhead): percentiles."""
    ts = []
    for i in range(n):
        if before is not None and i % chunk == 0:
            await before()
        t0 = time.perf_counter_ns()
        await fn()
        ts.append((time.perf_counter_ns() - t0) / 1000)
    ts.sort()
    pick = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]
    return {"p50": round(pick(0.50), 2), "p90": round(pick(0.90), 2), "p99": round(pick(0.99), 2),
            "max": round(ts[-1], 2), "n": n}


async def _issue_pool(tenant_token: str, count: int) -> list[str]:
    """`count` distinct access tokens like the tenant's (same claims but jti), signed
    in process with the current key: each is verified for the first time once."""
    import jwt

    from kopru.auth.tokens import issue_access_token
    from kopru.auth.principal import Principal  # noqa: F401  (import cost outside the clock)

    claims = jwt.decode(tenant_token, options={"verify_signature": False})
    import uuid

    tid = uuid.UUID(claims["tenant_id"]) if claims.get("tenant_id") else None
    scopes = claims["scope"].split()
    out = []
    for _ in range(count):
        tok, _, _ = await issue_access_token(claims["sub"], tid, scopes, client_id=claims.get("client_id") or claims["sub"],
                                             plan=claims.get("plan"))
        out.append(tok)
    return out


async def _verify_async(token: str, tenant_id: str, batches: int, n_cpu: int, n_redis: int) -> dict[str, Any]:
    import jwt

    from kopru.auth import authenticate, limits
    from kopru.auth import tokens as tokens_mod
    from kopru.auth.keys import CACHE, LEEWAY_SECONDS
    from kopru.auth.tokens import REQUIRED_CLAIMS, principal_from_claims, verify_access_token
    from kopru.config import settings
    from kopru.redis import client
    from kopru.tenancy.plans import PLANS

    s = settings()
    # warm-up: loads the key cache from PostgreSQL, opens the Redis connection, loads the scripts
    principal = await verify_access_token(token)
    await limits.is_denied(principal.token_id)
    plan = PLANS.get(principal.plan or "trial", PLANS["trial"])
    rl_key = f"kopru:rl:{tenant_id}"
    r = client()

    async def reset_rate() -> None:  # untimed, before each batch: no call is rate limited
        await r.delete(rl_key)

    await reset_rate()
    await authenticate(f"Bearer {token}")

    # distinct tokens, each verified for the first time once (a verified-token cache, when the
    # library has one, cannot answer them): the signature and claims checks every time
    pool = await _issue_pool(token, batches * n_cpu + batches * n_redis + 2 * n_cpu)
    first_sight = iter(pool)

    header = jwt.get_unverified_header(token)
    vk = await CACHE.verify_key(header["kid"])
    claims = jwt.decode(token, options={"verify_signature": False})
    signing_input, _, sig_b64 = token.rpartition(".")
    sig = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
    msg = signing_input.encode()
    bare_verify = _bare_verifier(vk, sig, msg)
    bare_verify()  # raises if the bare verification is wrong
    hs_secret = secrets.token_bytes(32)
    hs_token = jwt.encode(claims, hs_secret, algorithm="HS256", headers={"kid": header["kid"], "typ": "at+jwt"})
    decode_opts = dict(audience=s.audience, issuer=s.issuer, leeway=LEEWAY_SECONDS, options={"require": REQUIRED_CLAIMS})
    jwt.decode(hs_token, hs_secret, algorithms=["HS256"], **decode_opts)
    bearer = f"Bearer {token}"
    jti, tid, per_minute = principal.token_id, str(principal.tenant_id), plan.requests_per_minute

    out: dict[str, Any] = {}

    def record(name: str, per_call: list[float], n: int, **extra: Any) -> None:
        out[name] = {"us": _round(summarize(per_call), 3), "calls": batches * n, "batches": batches,
                     "calls_per_batch": n, **extra}

    cached = hasattr(tokens_mod, "_VERIFIED")
    # the goal figure: a token seen for the first time (signature + claims)
    record("verify_access_token", await _batches_async(lambda: verify_access_token(next(first_sight)), batches,
                                                       n_cpu)(), n_cpu,
           what="distinct tokens, each verified for the first time: signature + claims (+ cache insert)")
    # the same token again and again (a client reuses its token for its lifetime)
    record("verify_access_token_repeat", await _batches_async(lambda: verify_access_token(token), batches, n_cpu)(),
           n_cpu, what="the same token every call" + (": a verified-token cache hit" if cached else ""))
    # Redis: the denylist and the rate limit, apart and (when the library has it) in one script
    record("is_denied", await _batches_async(lambda: limits.is_denied(jti), batches, n_redis)(), n_redis)
    record("check_rate", await _batches_async(lambda: limits.check_rate(tid, per_minute), batches, n_redis,
                                              before=reset_rate)(), n_redis, per_minute=per_minute)
    if hasattr(limits, "admit"):
        record("admit", await _batches_async(lambda: limits.admit(jti, tid, per_minute), batches, n_redis,
                                             before=reset_rate)(), n_redis,
               what="denylist + rate limit in one Redis round trip (what authenticate calls)")
    # the whole call every function makes
    record("authenticate", await _batches_async(lambda: authenticate(f"Bearer {next(first_sight)}"), batches,
                                                n_redis, before=reset_rate)(), n_redis,
           what="a token seen for the first time each call")
    record("authenticate_repeat", await _batches_async(lambda: authenticate(bearer), batches, n_redis,
                                                       before=reset_rate)(), n_redis, what="the same token every call")
    # pieces and references
    record("part_key_cache_lookup", await _batches_async(lambda: CACHE.verify_key(header["kid"]), batches, n_cpu)(), n_cpu)
    record("part_principal_from_claims", _batches_sync(lambda: principal_from_claims(claims), batches, n_cpu), n_cpu)
    record("ref_pyjwt_decode",
           _batches_sync(lambda: jwt.decode(token, vk.key, algorithms=[vk.alg], **decode_opts), batches, n_cpu), n_cpu,
           what="pyjwt's full decode with the same checks (what verify_access_token calls)")
    # baselines
    record("baseline_pyjwt_hs256_decode",
           _batches_sync(lambda: jwt.decode(hs_token, hs_secret, algorithms=["HS256"], **decode_opts), batches, n_cpu),
           n_cpu)
    record("baseline_signature_verify", _batches_sync(bare_verify, batches, n_cpu), n_cpu,
           what=f"the bare {vk.alg} signature check with cryptography (OpenSSL), nothing else")
    # per-call percentiles of the headline figures
    out["verify_access_token"]["per_call_us"] = await _per_call_async(lambda: verify_access_token(next(first_sight)),
                                                                      n_cpu * 2)
    out["verify_access_token_repeat"]["per_call_us"] = await _per_call_async(lambda: verify_access_token(token), n_cpu * 2)
    out["authenticate_repeat"]["per_call_us"] = await _per_call_async(lambda: authenticate(bearer), n_redis * 2,
                                                                      before=reset_rate)
    await reset_rate()
    out["_info"] = {"alg": vk.alg, "key_type": type(vk.key).__name__, "token_bytes": len(token),
                    "plan": principal.plan, "requests_per_minute": per_minute,
                    "verified_token_cache": cached, "distinct_tokens_issued": len(pool),
                    "admit_single_round_trip": hasattr(limits, "admit")}
    return out


def measure_verify(token: str, tenant_id: str, batches: int, n_cpu: int, n_redis: int,
                   cpu: int | None) -> dict[str, Any]:
    prev = os.sched_getaffinity(0) if cpu is not None else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # this (main) thread, where the loop runs
    try:
        try:
            import uvloop

            factory = uvloop.new_event_loop
            loop_name = "uvloop"
        except ImportError:
            factory, loop_name = None, "asyncio"
        with asyncio.Runner(loop_factory=factory) as runner:
            try:
                res = runner.run(_verify_async(token, tenant_id, batches, n_cpu, n_redis))
            finally:
                from kopru.db import dispose

                runner.run(dispose())
        res["_info"]["loop"] = loop_name
        res["_info"]["cpu"] = cpu
        return res
    finally:
        if prev is not None:
            os.sched_setaffinity(0, prev)


def _bare_verifier(vk, sig: bytes, msg: bytes):
    """The key's bare signature check (JWS's raw ES256 r||s turned into the DER cryptography takes)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if vk.alg == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        return lambda: vk.key.verify(der, msg, ec.ECDSA(hashes.SHA256()))
    if vk.alg == "RS256":
        return lambda: vk.key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    return lambda: vk.key.verify(sig, msg)


def _bare_signer(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    if key.alg == "ES256":
        return lambda: key.key.sign(b"x" * 420, ec.ECDSA(hashes.SHA256()))
    if key.alg == "RS256":
        return lambda: key.key.sign(b"x" * 420, padding.PKCS1v15(), hashes.SHA256())
    return lambda: key.key.sign(b"x" * 420)


# -- optional: profile of the grant path ----------------------------------------------------------------

async def _profile_grants(source: Path, auth: str, n: int, concurrency: int, out_dir: Path) -> dict[str, Any]:
    import cProfile
    import io
    import pstats

    from functions_framework.aio import create_asgi_app

    app = create_asgi_app("handle", str(source))
    grant = asgi_call(app, "POST", "/oauth2/token",
                      [(b"content-type", b"application/x-www-form-urlencoded"), (b"authorization", auth.encode())],
                      b"grant_type=client_credentials")

    async def one() -> None:
        # the ASGI call uvicorn would make, without a client library in the profile
        status, _ = await grant()
        if status != 200:
            raise RuntimeError(f"profile grant: HTTP {status}")

    async def worker(k: int) -> None:
        for _ in range(k):
            await one()

    for _ in range(50):  # warm-up: pool, prepared statements, key cache
        await one()
    per = max(1, n // concurrency)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    prof.disable()
    wall = time.perf_counter() - t0
    done = per * concurrency
    prof.dump_stats(str(out_dir / "grant.prof"))
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(40)
    st.sort_stats("cumulative").print_stats(60)
    (out_dir / "grant-profile.txt").write_text(buf.getvalue())
    rows = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(file)}:{line}({func})", "calls_per_grant": round(nc / done, 2),
                     "self_us_per_grant": round(tt / done * 1e6, 1), "cum_us_per_grant": round(ct / done * 1e6, 1)})
    top_self = sorted(rows, key=lambda r: -r["self_us_per_grant"])[:25]
    return {"grants": done, "concurrency": concurrency, "wall_s": round(wall, 3),
            "wall_us_per_grant_profiled": round(wall / done * 1e6, 1),
            "note": "cProfile in process: direct ASGI calls into the functions-framework ASGI app (no uvicorn, "
                    "no HTTP parsing, no client library); profiler overhead inflates absolute times",
            "top_self": top_self, "stats_file": str(out_dir / "grant.prof"), "text": str(out_dir / "grant-profile.txt")}


async def _breakdown(source: Path, auth: str, op_auth: str, batches: int, n: int) -> dict[str, Any]:
    """Where a grant's time goes, without a profiler: each piece called sequentially
    in process, CPU time of this process (process_time_ns) and wall time per call,
    median over batches. CPU excludes PostgreSQL's own work (another process)."""
    import jwt
    from functions_framework.aio import create_asgi_app
    from sqlalchemy import text

    from kopru.auth import clients as clients_mod
    from kopru.auth.clients import authenticate_client
    from kopru.auth.keys import CACHE
    from kopru.auth.oauth import _basic_credentials
    from kopru.auth.tokens import issue_access_token
    from kopru.db import database_urls, platform_transaction

    load_client = getattr(clients_mod, "_load_client", None)  # present when the library caches clients
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    grant_body = b"grant_type=client_credentials"
    token_app = create_asgi_app("handle", str(source))
    hello_app = create_asgi_app("handle", str(HELLO_SOURCE))
    t_cid, t_secret = _basic_credentials(auth)
    o_cid, o_secret = _basic_credentials(op_auth)
    client = await authenticate_client(t_cid, t_secret)
    assert client is not None
    key = await CACHE.signing_key()
    claims = {"iss": "x", "sub": client.client_id, "aud": "kopru", "iat": 1, "nbf": 1, "exp": 2, "jti": "j" * 22,
              "scope": " ".join(sorted(client.scopes)), "client_id": client.client_id,
              "tenant_id": str(client.tenant_id), "plan": client.plan}
    one = text("select 1")

    async def bare_tx() -> None:
        async with platform_transaction() as conn:
            await conn.execute(one)

    app_url, _ = database_urls()
    import psycopg

    dsn = app_url.replace("postgresql+psycopg://", "postgresql://")
    raw = await psycopg.AsyncConnection.connect(dsn, autocommit=False)

    async def raw_psycopg_tx() -> None:  # the same look-ups straight on psycopg: the floor of the DB part
        async with raw.transaction():
            cur = await raw.execute("select tenant_id from client_directory where client_id = %s", (t_cid,))
            tid = (await cur.fetchone())[0]
            await raw.execute("select set_config('app.tenant_id', %s, true)", (str(tid),))
            cur = await raw.execute("select c.secret_hash, c.scopes, c.revoked_at, t.plan from api_clients c "
                                    "join tenants t on t.id = c.tenant_id where c.client_id = %s", (t_cid,))
            assert await cur.fetchone() is not None

    hello = asgi_call(hello_app, "GET", "/", [], b"")
    tenant_grant = asgi_call(token_app, "POST", "/oauth2/token", [*form, (b"authorization", auth.encode())], grant_body)
    op_grant = asgi_call(token_app, "POST", "/oauth2/token", [*form, (b"authorization", op_auth.encode())], grant_body)

    async def expect200(call) -> None:
        st, _ = await call()
        if st != 200:
            raise RuntimeError(f"breakdown: HTTP {st}")

    pieces: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("asgi_hello (baseline: functions-framework hello, no HTTP server)", lambda: expect200(hello)),
        ("asgi_grant_tenant (whole grant, no HTTP server)", lambda: expect200(tenant_grant)),
        ("asgi_grant_operator (whole grant, no HTTP server)", lambda: expect200(op_grant)),
        ("authenticate_client tenant" + (" (client cache: hits)" if load_client else " (1 transaction: 3 statements)"),
         lambda: authenticate_client(t_cid, t_secret)),
        ("authenticate_client operator" + (" (client cache: hits)" if load_client else " (1 transaction: 2 statements)"),
         lambda: authenticate_client(o_cid, o_secret)),
        *([("_load_client tenant (the transaction behind a cache miss: 3 statements)", lambda: load_client(t_cid)),
           ("_load_client operator (the transaction behind a cache miss: 2 statements)", lambda: load_client(o_cid))]
          if load_client else []),
        ("platform_transaction + select 1 (the data path floor)", bare_tx),
        ("same tenant look-ups on a raw psycopg AsyncConnection", raw_psycopg_tx),
        ("issue_access_token (cached key: claims + jwt.encode)", lambda: issue_access_token(
            client.client_id, client.tenant_id, sorted(client.scopes), client_id=client.client_id, plan=client.plan)),
    ]
    sync_pieces: list[tuple[str, Callable[[], Any]]] = [
        (f"jwt.encode {key.alg}", lambda: jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})),
        (f"{key.alg} sign alone (OpenSSL)", _bare_signer(key)),
    ]
    out: dict[str, Any] = {}
    try:
        for name, fn in pieces:
            for _ in range(20):
                await fn()
            cpu, wall = [], []
            for _ in range(batches):
                c0, w0 = time.process_time_ns(), time.perf_counter_ns()
                for _ in range(n):
                    await fn()
                cpu.append((time.process_time_ns() - c0) / n / 1000)
                wall.append((time.perf_counter_ns() - w0) / n / 1000)
            out[name] = {"cpu_us": _round(summarize(cpu), 1), "wall_us": _round(summarize(wall), 1), "calls": batches * n}
        for name, fn in sync_pieces:
            fn()
            cpu, wall = [], []
            for _ in range(batches):
                c0, w0 = time.process_time_ns(), time.perf_counter_ns()
                for _ in range(n):
                    fn()
                cpu.append((time.process_time_ns() - c0) / n / 1000)
                wall.append((time.perf_counter_ns() - w0) / n / 1000)
            out[name] = {"cpu_us": _round(summarize(cpu), 1), "wall_us": _round(summarize(wall), 1), "calls": batches * n}
    finally:
        await raw.close()
    return out


def breakdown(source: Path, auth: str, op_auth: str, batches: int, n: int, cpu: int | None) -> dict:
    prev = os.sched_getaffinity(0) if cpu is not None else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            try:
                return runner.run(_breakdown(source, auth, op_auth, batches, n))
            finally:
                from kopru.db import dispose

                runner.run(dispose())
    finally:
        if prev is not None:
            os.sched_setaffinity(0, prev)


def profile_grants(source: Path, auth: str, n: int, concurrency: int, out_dir: Path, cpu: int | None) -> dict:
    prev = os.sched_getaffinity(0) if cpu is not None else None
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            try:
                return runner.run(_profile_grants(source, auth, n, concurrency, out_dir))
            finally:
                from kopru.db import dispose

                runner.run(dispose())
    finally:
        if prev is not None:
            os.sched_setaffinity(0, prev)


# -- report ---------------------------------------------------------------------------------------------------


def _round(s: dict | None, nd: int) -> dict | None:
    return None if s is None else {k: (round(v, nd) if k != "n" else v) for k, v in s.items()}


def render_http(http: dict, connections: list[int]) -> str:
    rows = []
    for name, e in http.items():
        for c in connections:
            x = e["by_connections"][str(c)]
            g = x.get("goal")
            mark = "" if g is None else (" ok" if g["pass"] else " MISS")
            rows.append([
                name + ("" if x["valid"] else " (INVALID)"), str(c), fmt_summary(x["rps"], 0),
                "-" if x.get("ratio_to_hello") is None else f"{x['ratio_to_hello']:.3f}x",
                mark.strip() or "-",
                "-" if not x["latency_p50_ms"] else f"{x['latency_p50_ms']['median']:.2f}",
                "-" if not x["latency_p99_ms"] else f"{x['latency_p99_ms']['median']:.2f}",
                "-" if not x["server_cpu_util"] else f"{x['server_cpu_util']['median']:.2f}",
                "-" if not x.get("server_core_busy") else f"{x['server_core_busy']['median']:.2f}",
                "-" if not x["server_cpu_us_per_request"] else f"{x['server_cpu_us_per_request']['median']:.0f}",
                "-" if not x["postgres_cpu_util"] else f"{x['postgres_cpu_util']['median']:.2f}",
                "-" if not x["client_cpu_util"] else f"{x['client_cpu_util']['median']:.2f}",
            ])
    header = ["target", "conns", "req/s median (min-max)", "/hello", f">= {GOAL_GRANTS_PER_S:.0f}",
              "p50 ms", "p99 ms", "srv CPU", "core busy", "srv us/req", "pg CPU", "wrk CPU"]
    return table(rows, header)


def render_verify(v: dict) -> str:
    order = ["verify_access_token", "verify_access_token_repeat", "is_denied", "check_rate", "admit",
             "authenticate", "authenticate_repeat", "part_key_cache_lookup", "part_principal_from_claims",
             "ref_pyjwt_decode", "baseline_pyjwt_hs256_decode", "baseline_signature_verify"]
    rows = []
    for k in order:
        e = v.get(k)
        if not e:
            continue
        extra = ""
        if k in ("verify_access_token", "verify_access_token_repeat"):
            ok = e["us"]["median"] < GOAL_VERIFY_US
            extra = f"goal < {GOAL_VERIFY_US:.0f}: " + ("ok" if ok else "MISS")
        pc = e.get("per_call_us")
        rows.append([k, fmt_summary(e["us"], 2), str(e["calls"]),
                     "-" if not pc else f"{pc['p50']:.1f}/{pc['p99']:.1f}",
                     "-" if e.get("ratio_to_hs256") is None else f"{e['ratio_to_hs256']:.2f}x",
                     "-" if e.get("ratio_to_signature") is None else f"{e['ratio_to_signature']:.2f}x", extra])
    sp = v["_sum_of_parts_us"]
    rows.append([f"sum verify + {sp['redis']} (first sight / repeat)", f"{sp['first_sight']:.2f} / {sp['repeat']:.2f}",
                 "", "", "", "", ""])
    return table(rows, ["figure", "us/call median (min-max over batches)", "calls", "per-call p50/p99",
                        "/HS256", "/bare sig", ""])


# -- main ---------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.token", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per timed wrk run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of untimed wrk warm-up per target and connection count")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per target and connection count (default 3)")
    p.add_argument("--connections", default="8,32", help="comma-separated wrk connection counts (default 8,32)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: the load generator has one core)")
    p.add_argument("--batches", type=int, default=20, help="batches per verification figure (default 20)")
    p.add_argument("--batch-size", type=int, default=1000, help="calls per batch, CPU-only figures (default 1000)")
    p.add_argument("--redis-batch-size", type=int, default=500,
                   help="calls per batch of the Redis figures (default 500: under the plan's burst)")
    p.add_argument("--server-cpu", type=int, default=None, help="core of the function worker (default: the last)")
    p.add_argument("--client-cpu", type=int, default=None,
                   help="core of wrk and the embedded services (default: the first)")
    p.add_argument("--no-pin", action="store_true", help="do not pin anything to a core")
    p.add_argument("--skip-grants", action="store_true", help="only the in-process verification figures (no wrk needed)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also profile N client_credentials grants in process (cProfile, direct ASGI calls)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a start or a request may take")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="embedded services' data (default <bench data dir>/token, see bench/common.py)")
    p.add_argument("--keep-running", action="store_true", help="leave the embedded PostgreSQL and Redis running")
    args = p.parse_args(argv)
    try:
        args.connections = [int(c) for c in str(args.connections).split(",") if c.strip()]
    except ValueError:
        p.error("--connections takes comma-separated integers")
    if args.reps < 1 or not args.connections or min(args.connections) < 1:
        p.error("--reps and every connection count must be at least 1")
    if args.batches * min(args.batch_size, args.redis_batch_size) < 10_000:
        print("token: note: fewer than 10,000 calls per verification figure", flush=True)

    if not args.skip_grants and shutil.which("wrk") is None:
        print(f"token: {WRK_INSTALL_HINT}\n       (or run with --skip-grants for the verification figures only)",
              file=sys.stderr)
        return 2

    cpus = cpus_available()
    pin = not args.no_pin and len(cpus) >= 2
    server_cpu = (args.server_cpu if args.server_cpu is not None else cpus[-1]) if pin else None
    client_cpu = (args.client_cpu if args.client_cpu is not None else cpus[0]) if pin else None
    if pin and server_cpu == client_cpu:
        p.error("--server-cpu and --client-cpu must differ")
    if not pin:
        print(f"token: NOT pinning (cpus {cpus}{', --no-pin' if args.no_pin else ''})", flush=True)

    data_dir = (args.data_dir or bench_data_dir() / "token").expanduser().resolve()
    if data_dir == (REPO_ROOT / ".kopru").resolve():
        p.error("the benchmarks never use the developer's ./.kopru")
    log_dir = data_dir / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)

    print(f"token: embedded services under {data_dir}", flush=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    env, op_cid, op_secret = prepare_services(data_dir, "bench-token")
    setup: dict[str, Any] = {}
    pinning: dict[str, Any] = {"pinned": pin, "server_cpu": server_cpu, "client_cpu": client_cpu,
                               "available_cpus": cpus}
    http_summary = goals_http = None
    http_raw: dict[str, Any] = {}
    verify: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    problems: list[str] = []
    try:
        from kopru.runtime.registry import function_sources

        sources = function_sources()
        if pin:
            svc = embedded_service_pids(data_dir)
            pinning["services_pinned_to_client_cpu"] = {k: len(pin_tree(pid, {client_cpu})) for k, pid in svc.items()}
        if not args.skip_grants:
            print(f"token: grants/s, {args.reps} x {args.duration:.0f} s per target and connection count "
                  f"{args.connections} (server core {server_cpu}, wrk core {client_cpu})", flush=True)
            http_raw = measure_http(args, env, (op_cid, op_secret), sources, data_dir, log_dir,
                                    None if server_cpu is None else str(server_cpu),
                                    None if client_cpu is None else str(client_cpu), setup)
            http_summary, goals_http = summarize_http(http_raw["targets"], http_raw["runs"], args.connections,
                                                     server_cpu)
            problems += http_raw["errors"]
            for name, g in goals_http.items():
                if not g["valid"]:
                    problems.append(f"{name}: non-200 answers or missing runs: figure void")
            tenant_token, tenant_id = setup.pop("tenant_token"), setup.pop("tenant_id")
        else:
            tenant_token, tenant_id = _token_without_http(env, (op_cid, op_secret), sources, log_dir, args.timeout, setup)

        print(f"token: verification in process ({args.batches} batches x {args.batch_size} / "
              f"{args.redis_batch_size} calls, core {server_cpu})", flush=True)
        verify = measure_verify(tenant_token, tenant_id, args.batches, args.batch_size, args.redis_batch_size,
                                server_cpu)
        if args.profile:
            print(f"token: profiling {args.profile} grants in process ...", flush=True)
            profile = profile_grants(sources["token"], setup["_tenant_auth"], args.profile, 8, log_dir, server_cpu)
            print("token: grant path breakdown in process ...", flush=True)
            profile["breakdown"] = breakdown(sources["token"], setup["_tenant_auth"], basic_auth(op_cid, op_secret),
                                             10, 200, server_cpu)
            profile["breakdown_note"] = ("each piece called sequentially in process on the server core (uvloop); "
                                         "cpu_us: this process's CPU per call (PostgreSQL's work is another process), "
                                         "wall_us: elapsed per call; median over 10 batches of 200")
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
        print(f"token: FAILED: {exc}", file=sys.stderr, flush=True)
    finally:
        if not args.keep_running:
            stop_services()
    setup.pop("_tenant_auth", None)

    # verification report
    if verify:
        hs = verify["baseline_pyjwt_hs256_decode"]["us"]["median"]
        ed = verify["baseline_signature_verify"]["us"]["median"]
        for k, e in verify.items():
            if k.startswith("_"):
                continue
            e["ratio_to_hs256"] = _r(ratio(e["us"]["median"], hs), 3)
            e["ratio_to_signature"] = _r(ratio(e["us"]["median"], ed), 3)
        med = verify["verify_access_token"]["us"]["median"]
        rep = verify["verify_access_token_repeat"]["us"]["median"]
        redis_part = (verify["admit"]["us"]["median"] if "admit" in verify
                      else verify["is_denied"]["us"]["median"] + verify["check_rate"]["us"]["median"])
        verify["_sum_of_parts_us"] = {
            "first_sight": round(med + redis_part, 2), "repeat": round(rep + redis_part, 2),
            "redis": "admit" if "admit" in verify else "is_denied + check_rate"}
        verify["_goal"] = {"figure": "verify_access_token median us/call, a token seen for the first time",
                           "us": med, "max": GOAL_VERIFY_US, "pass": med < GOAL_VERIFY_US,
                           "repeat_token_us": rep, "repeat_token_pass": rep < GOAL_VERIFY_US}

    goal_grants = (goals_http or {}).get("grant-tenant")
    goal = {
        "grants": {"text": f">= {GOAL_GRANTS_PER_S:.0f} client_credentials grants/s on one worker on one core "
                           f"(= {GOAL_HYDRA_FACTOR:.0f}x Ory Hydra's tuned {HYDRA_REFERENCE['grants_per_s']['tuned_opaque_cheapest_hashing']:.0f}/s; "
                           "tenant client; median at the best connection count)",
                   "x_hydra_tuned": _r(ratio((goal_grants or {}).get("rps"),
                                             HYDRA_REFERENCE["grants_per_s"]["tuned_opaque_cheapest_hashing"]), 2),
                   **(goal_grants or {"pass": None, "not_measured": True}),
                   "operator_client": (goals_http or {}).get("grant-operator")},
        "verification": {"text": f"verify_access_token < {GOAL_VERIFY_US:.0f} us median (judged on a token seen "
                                 "for the first time; the repeated-token figure beside it)",
                         **((verify or {}).get("_goal") or {"pass": None, "not_measured": True})},
    }
    goal["all_pass"] = bool(goal["grants"].get("pass")) and bool(goal["verification"].get("pass"))
    path = write_results(NAME, {
        "goal": goal,
        "hydra_reference": HYDRA_REFERENCE,
        "problems": problems,
        "method": {
            "server": "functions-framework --asgi --source <main.py> --target handle --host 127.0.0.1 --port <free>, "
                      "WORKERS=1 (functions-framework's UvicornApplication default: gunicorn master + 1 "
                      "uvicorn_worker.UvicornWorker), process tree under `taskset -c <server cpu>`",
            "server_impl": server_impl(),
            "load_generator": f"wrk -t{args.wrk_threads} -c<conns> -d{args.duration:.0f}s under `taskset -c <client cpu>`, "
                              "Lua script counting every response by status (any non-200 voids the figure)",
            "grant_request": "POST /oauth2/token, body grant_type=client_credentials, HTTP Basic client credentials",
            "baseline": "bench/hello/main.py (functions-framework ASGI hello world), GET /, served and loaded the same way",
            "order": "per repetition: each connection count, each target (interleaved); one untimed warm-up "
                     "per target and connection count before its first timed run",
            "services": "embedded PostgreSQL (unix socket) and Redis (unix socket) pinned to the client cpu",
            "cpu_accounting": "psutil cpu_times (user+system) of the server tree, PostgreSQL tree, Redis; wrk via RUSAGE_CHILDREN",
            "verification": "in process on the server cpu, uvloop; per figure: median over batches of "
                            "(perf_counter_ns of the batch / calls); per-call percentiles for the two headline figures; "
                            "Redis figures: the tenant's rate-limit key deleted (untimed) before each batch",
        },
        "pinning": pinning,
        "setup": setup,
        "loadavg_before": load_before,
        "grants": http_summary,
        "grant_processes": http_raw.get("processes"),
        "verification": verify,
        "profile": profile,
    }, params={"duration_s": args.duration, "warmup_s": args.warmup, "reps": args.reps,
               "connections": args.connections, "wrk_threads": args.wrk_threads, "batches": args.batches,
               "batch_size": args.batch_size, "redis_batch_size": args.redis_batch_size,
               "skip_grants": args.skip_grants, "profile": args.profile})

    print()
    if http_summary:
        print(render_http(http_summary, args.connections))
        print("req/s: median (min-max) over repetitions; /hello: ratio of medians at the same connection count; "
              "srv CPU: server tree CPU / wall; core busy: the server core as a whole (above srv CPU = foreign load); srv us/req: server CPU per request")
        print()
    if verify:
        print(render_verify(verify))
        print("us/call: median over batches of batch time / calls; ratios to the same-run baselines; "
              "verify_access_token / authenticate: a token seen for the first time; *_repeat: the same token again")
        print()
    if profile and profile.get("breakdown"):
        rows = [[k, fmt_summary(v["cpu_us"], 0), fmt_summary(v["wall_us"], 0)] for k, v in profile["breakdown"].items()]
        print(table(rows, ["grant path piece (in process, sequential)", "CPU us/call", "wall us/call"]))
        top = profile.get("top_self", [])[:12]
        print("cProfile, self time per grant (profiled, inflated):")
        for r in top:
            print(f"  {r['self_us_per_grant']:8.1f} us  {r['calls_per_grant']:6.2f} calls  {r['function']}")
        print()
    h = HYDRA_REFERENCE["grants_per_s"]
    print(f"Ory Hydra {HYDRA_REFERENCE['version']} (published reference, same machine): {h['defaults']:.0f}/s defaults, "
          f"{h['tuned_opaque_cheapest_hashing']:.0f}/s tuned (opaque tokens, cheapest hashing), "
          f"{h['jwt_access_tokens']:.0f}/s issuing JWTs")
    for name, g in (("grants", goal["grants"]), ("verification", goal["verification"])):
        state = "not measured" if g.get("pass") is None else ("ok" if g["pass"] else "MISS")
        extra = f" ({g['x_hydra_tuned']}x Hydra tuned)" if name == "grants" and g.get("x_hydra_tuned") else ""
        print(f"goal {name} ({g['text']}): {state}{extra}")
    if problems:
        print("PROBLEMS:\n" + "\n".join("  " + x for x in problems))
    print(f"results: {path.relative_to(REPO_ROOT)}")
    measured = verify is not None and (args.skip_grants or (goal_grants is not None and goal_grants["valid"]))
    return 0 if measured and not problems else 1


def _token_without_http(env, operator, sources, log_dir, timeout, setup) -> tuple[str, str]:
    """--skip-grants: a tenant token still comes from the real functions (unpinned)."""
    port = free_port()
    with Server(functions_framework_cmd(sources["token"], port), port=port, env=env,
                log_path=log_dir / "server-token.log") as srv:
        srv.wait_ready("/healthz", timeout=timeout)
        op_token = grant(port, basic_auth(*operator))["access_token"]
        onboarded = onboard_tenant(env, sources["tenant-onboarding"], op_token, log_dir, timeout)
        auth = basic_auth(onboarded["client_id"], onboarded["client_secret"])
        g = grant(port, auth)
    setup["tenant"] = {"id": onboarded["tenant"]["id"], "plan": onboarded["tenant"]["plan"],
                       "client_id": onboarded["client_id"], "scope": g.get("scope")}
    setup["_tenant_auth"] = auth
    return g["access_token"], onboarded["tenant"]["id"]


if __name__ == "__main__":
    sys.exit(main())
