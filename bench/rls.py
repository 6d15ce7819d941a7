"""A tenant-scoped read under row-level security against the same query without it, same
rows, same run.

Set-up: the embedded PostgreSQL under <bench data dir>/rls (migrated) and, made by the
superuser, a table `bench_rls` shaped like a tenant table (tenant_id, id, at, body; an
index on (tenant_id, at, id)) with the policy every tenant table has
(`kopru.db.rls.tenant_table`: RLS enabled and FORCEd, `tenant_id = kopru_current_tenant()`),
--tenants tenants x --rows rows each, ANALYZEd. The read is one tenant's newest --limit
rows (a list page).

Each figure is one whole transaction, called sequentially --calls times per batch,
batches interleaved across the figures; medians over --batches of (batch time / calls):

  api_rls      the request path: `kopru.db.tenant_transaction(tenant, actor=)` and
               `tx.execute` of the page query as the code writes it (no tenant filter: RLS
               supplies it), application role.                       <- judged
  psycopg_rls  the same by hand on one psycopg AsyncConnection, application role: BEGIN,
               set_config(tenant, actor) and the query in one round trip (pipeline mode),
               then COMMIT.
  psycopg_set  the same as the superuser (PostgreSQL skips RLS for it) with the tenant
               filter written out, set_config still sent: the policy's cost alone is
               psycopg_rls / psycopg_set.
  no_rls       the baseline: the superuser, BEGIN and the query with the tenant filter
               written out in one round trip, COMMIT (the read in a transaction with no
               RLS at all, sent as carefully as the others).
  no_rls_autocommit  for reference: the bare query, no transaction (one round trip).

Goal: api_rls <= 1.15x no_rls. Every figure's rows are checked to be the same tenant's
same page. It reports, it doesn't gate (exit 1 only when something could not be measured).

    scripts/bench rls
    .venv/bin/python -m bench.rls --calls 200 --batches 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench.common import bench_data_dir, prepare_services, stop_services, summarize, table, write_results

NAME = "rls"
GOAL_MAX_RATIO = 1.15
GOAL_TEXT = "a tenant read under RLS through the tenant-transaction API <= 1.15x the same query without RLS"
QUERY_RLS = "select id, at, body from bench_rls order by at desc, id desc limit %(n)s"
QUERY_PLAIN = "select id, at, body from bench_rls where tenant_id = %(t)s order by at desc, id desc limit %(n)s"


def set_up(su, tenants: int, rows: int) -> list[uuid.UUID]:
    """The table, its policy, the rows (as the superuser, synchronously)."""
    from kopru.db.rls import tenant_table

    class Op:  # what tenant_table needs of Alembic's op
        @staticmethod
        def execute(sql: str) -> None:
            su.execute(sql)

    su.execute("drop table if exists bench_rls")
    su.execute("create table bench_rls (tenant_id uuid not null, id bigint generated always as identity primary key, "
               "at timestamptz not null, body text not null)")
    su.execute("create index on bench_rls (tenant_id, at, id)")
    tenant_table(Op, "bench_rls")
    su.execute("grant select on bench_rls to kopru_app")
    ids = [uuid.uuid4() for _ in range(tenants)]
    su.execute("insert into bench_rls (tenant_id, at, body) "
               "select t, now() - make_interval(secs => g), repeat('x', 120) "
               "from unnest(%s::uuid[]) t, generate_series(1, %s) g", (ids, rows))
    su.execute("analyze bench_rls")
    return ids


async def measure(args: argparse.Namespace, app_url: str, su_url: str, tenants: list[uuid.UUID]) -> dict[str, Any]:
    import psycopg

    from kopru.db import dispose, tenant_transaction

    tid = tenants[len(tenants) // 2]
    params_rls = {"n": args.limit}
    params_plain = {"n": args.limit, "t": tid}
    app = await psycopg.AsyncConnection.connect(app_url, autocommit=True)
    su = await psycopg.AsyncConnection.connect(su_url, autocommit=True)
    su_auto = await psycopg.AsyncConnection.connect(su_url, autocommit=True)
    expected = [r[0] for r in await (await su.execute(QUERY_PLAIN, params_plain)).fetchall()]
    got: dict[str, list] = {}

    api_query: Any = QUERY_RLS  # plain SQL, as the hot paths write it

    async def api_rls() -> None:
        async with tenant_transaction(tid, actor="bench") as tx:
            got["api_rls"] = (await tx.execute(api_query, params_rls)).all()

    # by hand, each transaction as a careful hand-written path sends it: BEGIN, the scope and the
    # query in one round trip (pipeline mode), then COMMIT
    async def by_hand(conn, name: str, scope: bool, query: str, params: dict) -> None:
        async with conn.pipeline():
            await conn.execute("begin")
            if scope:
                await conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.actor', %s, true)",
                                   (str(tid), "bench"))
            cur = await conn.execute(query, params)
        got[name] = await cur.fetchall()
        await conn.execute("commit")

    async def psycopg_rls() -> None:
        await by_hand(app, "psycopg_rls", True, QUERY_RLS, params_rls)

    async def psycopg_set() -> None:
        await by_hand(su, "psycopg_set", True, QUERY_PLAIN, params_plain)

    async def no_rls() -> None:
        await by_hand(su, "no_rls", False, QUERY_PLAIN, params_plain)

    async def no_rls_autocommit() -> None:
        got["no_rls_autocommit"] = await (await su_auto.execute(QUERY_PLAIN, params_plain)).fetchall()

    figures: dict[str, Callable[[], Awaitable[None]]] = {
        "api_rls": api_rls, "psycopg_rls": psycopg_rls, "psycopg_set": psycopg_set, "no_rls": no_rls,
        "no_rls_autocommit": no_rls_autocommit}
    per: dict[str, list[float]] = {k: [] for k in figures}
    try:
        for f in figures.values():  # warm: connections, prepared statements, caches
            for _ in range(max(20, args.calls // 5)):
                await f()
        for name, rows in got.items():
            if [r[0] for r in rows] != expected:
                raise RuntimeError(f"{name} read other rows than the baseline")
        for _ in range(args.batches):
            for name, f in figures.items():
                t0 = time.perf_counter()
                for _ in range(args.calls):
                    await f()
                per[name].append((time.perf_counter() - t0) / args.calls * 1e6)
    finally:
        await app.close()
        await su.close()
        await su_auto.close()
        await dispose()
    out = {name: {"us": summarize(v), "batches_us": [round(x, 1) for x in v]} for name, v in per.items()}
    base = statistics.median(per["no_rls"])
    for name, v in out.items():
        v["ratio_to_no_rls"] = round(v["us"]["median"] / base, 3)
    out["_policy_alone_ratio"] = round(statistics.median(per["psycopg_rls"]) / statistics.median(per["psycopg_set"]), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.rls", description=__doc__.split("\n\n")[0])
    p.add_argument("--tenants", type=int, default=50, help="tenants in the table (default 50)")
    p.add_argument("--rows", type=int, default=2000, help="rows per tenant (default 2000)")
    p.add_argument("--limit", type=int, default=20, help="rows the read returns (default 20)")
    p.add_argument("--calls", type=int, default=1000, help="transactions per batch (default 1000)")
    p.add_argument("--batches", type=int, default=7, help="batches per figure, interleaved (default 7)")
    p.add_argument("--data-dir", type=Path, default=None, help="embedded services' data (default <bench data dir>/rls)")
    p.add_argument("--keep-running", action="store_true", help="leave the embedded PostgreSQL running")
    args = p.parse_args(argv)
    os.environ.setdefault("KOPRU_LOG_LEVEL", "WARNING")
    data_dir = (args.data_dir or bench_data_dir() / "rls").expanduser().resolve()
    print(f"rls: embedded services under {data_dir}", flush=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    error = None
    result: dict[str, Any] = {}
    try:
        import psycopg

        env, _, _ = prepare_services(data_dir, "bench-rls")
        from kopru.config import settings
        from kopru.db import embedded

        sock = embedded._socket_dir(embedded.postgres_superuser_uri(settings().data_dir))
        su_url = f"postgresql://postgres@/{embedded.DATABASE}?host={sock}"
        app_url = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(su_url, autocommit=True) as su:
            tenants = set_up(su, args.tenants, args.rows)
        result = asyncio.run(measure(args, app_url, su_url, tenants))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"rls: FAILED: {error}", file=sys.stderr, flush=True)
    finally:
        if not args.keep_running:
            stop_services()

    api = result.get("api_rls", {}).get("ratio_to_no_rls")
    goal = {"text": GOAL_TEXT, "ratio": api, "max": GOAL_MAX_RATIO,
            "pass": None if api is None else api <= GOAL_MAX_RATIO,
            "policy_alone_ratio": result.get("_policy_alone_ratio")}
    path = write_results(NAME, {"goal": goal, "figures": result, "error": error, "load_before": load_before,
                                "queries": {"rls": QUERY_RLS, "no_rls": QUERY_PLAIN}},
                         params={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})
    if result:
        rows = [[k, f"{v['us']['median']:.1f} ({v['us']['min']:.1f}-{v['us']['max']:.1f})", f"{v['ratio_to_no_rls']:.3f}x"]
                for k, v in result.items() if not k.startswith("_")]
        print(table(rows, ["one read transaction", "us median (min-max)", "/ no_rls"]))
        print(f"policy alone (psycopg_rls / psycopg_set): {result['_policy_alone_ratio']:.3f}x")
    state = "not measured" if goal["pass"] is None else ("ok" if goal["pass"] else "MISS")
    print(f"goal {GOAL_TEXT}: {'-' if api is None else f'{api:.3f}x'} {state}")
    print(f"results: {path}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
