"""KVKK: the retention purge against a plain batched DELETE, and an export of a
subject with 10,000 rows, against baselines measured in the same run.

Set-up: the embedded PostgreSQL under <bench data dir>/kvkk (migrated), two tenants
made in SQL as the owner role, each with one data subject. For the purge: --rows
(default 1,000,000) SMS rows per tenant, all past their 90-day retention, each with one
status-history row (deleted with it, ON DELETE CASCADE), written with generate_series
and VACUUM ANALYZEd.

1. Purge throughput. Baseline: a plain batched DELETE, as a DBA would write it
   (`DELETE FROM sms_messages WHERE id IN (SELECT id … WHERE created_at < cutoff LIMIT n)`,
   one transaction a batch, as the application role in the tenant) over tenant A's rows;
   then `kopru.kvkk.purge.purge` (the register's rule, ctid batches with FOR UPDATE SKIP
   LOCKED, a destruction record per batch) over tenant B's. rows/s of each, the ratio
   (goal ≥ 0.8x), and the longest batch transaction of each (the longest any row lock
   is held; goal < 100 ms). With --reps > 1, further pairs at --rep-rows rows each, the
   order alternating, for a median ratio.
2. Export of one subject with --export-rows (default 10,000) SMS rows (bodies really
   encrypted under the subject key) and 5 consents: `collect` + the Turkish summary +
   JSON + the local store, timed --export-reps times; baseline: the bare
   `SELECT * FROM sms_messages WHERE subject_id = …` of the same rows in the same
   process (what any export must at least read).

    scripts/bench kvkk
    .venv/bin/python -m bench.kvkk --rows 200000 --reps 3 --rep-rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid

from bench.common import bench_data_dir, prepare_services, stop_services, summarize, table, write_results

BATCH = 2000


def _owner():
    import psycopg

    from kopru.db import database_urls

    _, owner = database_urls()
    return psycopg.connect(owner.replace("+psycopg", ""), autocommit=True)


def make_tenant(conn, label: str) -> tuple[uuid.UUID, uuid.UUID]:
    tid, sid = uuid.uuid4(), uuid.uuid4()
    sub = f"bench-{label}-{tid.hex[:8]}"
    conn.execute("select set_config('app.tenant_id', %s, false)", (str(tid),))
    conn.execute("insert into tenant_directory (subdomain, tenant_id) values (%s, %s)", (sub, tid))
    conn.execute("insert into tenants (id, name, tax_number, tax_number_kind, tax_office, subdomain, plan, language, "
                 "timezone, currency) values (%s, 'Bench A.Ş.', '1234567890', 'VKN', 'Kadıköy', %s, 'enterprise', "
                 "'tr', 'Europe/Istanbul', 'TRY')", (tid, sub))
    conn.execute("insert into data_subjects (id, tenant_id, wrapped_key) values (%s, %s, %s)", (sid, tid, b"\x00" * 61))
    return tid, sid


def fill(conn, tid: uuid.UUID, sid: uuid.UUID, n: int) -> float:
    t0 = time.perf_counter()
    conn.execute("select set_config('app.tenant_id', %s, false)", (str(tid),))
    conn.execute(
        "insert into sms_messages (id, tenant_id, subject_id, body_enc, kind, encoding, segments, characters, status, "
        "created_at, updated_at) select gen_random_uuid(), %s, %s, '\\x01'::bytea || convert_to(md5(random()::text) || md5(random()::text), 'UTF8'), "
        "'transactional', 'GSM7', 1, 42, 'delivered', now() - interval '100 days', now() - interval '100 days' "
        "from generate_series(1, %s)", (tid, sid, n))
    conn.execute("insert into sms_status_history (tenant_id, sms_id, status, at) "
                 "select tenant_id, id, 'delivered', created_at from sms_messages where tenant_id = %s", (tid,))
    conn.execute("vacuum analyze sms_messages")
    conn.execute("vacuum analyze sms_status_history")
    return time.perf_counter() - t0


async def plain_delete(tid: uuid.UUID, batch: int) -> dict:
    """The baseline: batched DELETE by id, one transaction a batch, app role, tenant set."""
    from sqlalchemy import text

    from kopru.db import tenant_transaction

    rows, longest, times, t0 = 0, 0.0, [], time.perf_counter()
    while True:
        s = time.perf_counter()
        async with tenant_transaction(tid, actor="bench") as tx:
            n = (await tx.execute(text(
                "delete from sms_messages where id in (select id from sms_messages "
                "where created_at < now() - interval '90 days' limit :n)"), {"n": batch})).rowcount
        took = (time.perf_counter() - s) * 1000
        longest = max(longest, took)
        times.append(took)
        rows += n
        if n < batch:
            break
    secs = time.perf_counter() - t0
    times.sort()
    return {"rows": rows, "seconds": secs, "rows_per_s": rows / secs, "longest_batch_ms": longest,
            "batches": len(times), "batch_ms_p50": times[len(times) // 2],
            "batch_ms_p99": times[min(len(times) - 1, int(0.99 * len(times)))]}


async def the_purge(tid: uuid.UUID, batch: int) -> dict:
    from kopru.kvkk.purge import purge

    t0 = time.perf_counter()
    rep = await purge(tenant_id=tid, batch=batch)
    secs = time.perf_counter() - t0
    rows = sum(o.rows for o in rep.outcomes if o.table == "sms_messages")
    return {"rows": rows, "seconds": secs, "rows_per_s": rows / secs, "longest_batch_ms": rep.longest_batch_ms,
            "longest_lock_ms_db": rep.longest_lock_ms, "longest_lock_at": rep.longest_lock_at,
            "batches": len(rep.batch_ms), "batch_ms_p50": rep.batch_percentile(0.5),
            "batch_ms_p99": rep.batch_percentile(0.99), "run_id": str(rep.run_id)}


async def export_bench(n_rows: int, reps: int) -> dict:
    import json as _json
    import secrets

    from sqlalchemy import select, text

    from kopru.db import tenant_transaction
    from kopru.db.schema import sms_messages
    from kopru.kvkk.applications import collect, summary_tr
    from kopru.kvkk.store import LocalStore
    from kopru.kvkk.subjects import encrypt_field, find_or_create_subject

    conn = _owner()
    tid, _ = make_tenant(conn, "export")
    conn.close()
    async with tenant_transaction(tid, actor="bench") as tx:
        ref = await find_or_create_subject(tx, {"phone": "+905321234567", "email": "ayse@example.com"})
        h = secrets.token_bytes(32)
        await tx.execute(text("insert into consent_texts (tenant_id, sha256, text) values (:t, :h, 'İzin metni')"),
                         {"t": tid, "h": h})
        for purpose in ("marketing", "transactional", "analytics", "profiling", "service_delivery"):
            await tx.execute(text(
                "insert into consents (id, tenant_id, subject_id, purpose, legal_basis, data_categories, channel, "
                "text_sha256, granted_at, retention_days, expires_at) values (gen_random_uuid(), :t, :s, :p, "
                "'explicit_consent', '{contact}', 'web', :h, now(), 365, now() + interval '365 days')"),
                {"t": tid, "s": ref.id, "p": purpose, "h": h})
        rows = [{"id": uuid.uuid4(), "tenant_id": tid, "subject_id": ref.id,
                 "body_enc": encrypt_field(ref.key, ref.id, "sms_body", f"Siparişiniz {i} yola çıktı, teşekkürler."),
                 "kind": "transactional", "encoding": "GSM7_TR", "segments": 1, "characters": 40, "status": "delivered",
                 "netgsm_jobid": str(1_000_000 + i), "attempts": 1} for i in range(n_rows)]
        for i in range(0, n_rows, 2000):
            await tx.execute(sms_messages.insert(), rows[i:i + 2000])
    store = LocalStore(bench_data_dir() / "kvkk" / "exports")
    full, base, size = [], [], 0
    for _ in range(reps):
        t0 = time.perf_counter()
        async with tenant_transaction(tid, actor="bench") as tx:
            got = (await tx.execute(select(sms_messages).where(sms_messages.c.subject_id == ref.id))).all()
        base.append(time.perf_counter() - t0)
        assert len(got) == n_rows
        t0 = time.perf_counter()
        async with tenant_transaction(tid, actor="bench") as tx:
            doc = await collect(tx, ref.id)
        doc["summary_tr"] = summary_tr(doc)
        raw = _json.dumps(doc, ensure_ascii=False, indent=1).encode()
        store.put(f"{tid}/bench.json", raw)
        full.append(time.perf_counter() - t0)
        size = len(raw)
        assert len(doc["records"]["sms_messages"]) == n_rows and doc["third_parties"][0]["records"] == n_rows
    return {"rows": n_rows, "bytes": size, "export_s": summarize(full), "baseline_select_s": summarize(base),
            "ratio": statistics.median(full) / statistics.median(base)}


async def run(args) -> dict:
    conn = _owner()
    out: dict = {"pairs": []}
    from kopru.db import platform_transaction

    async with platform_transaction() as c:  # the pool's first connection is not any run's cost
        await c.exec_driver_sql("select 1")
    sizes = [args.rows] + [args.rep_rows] * (args.reps - 1)
    for i, n in enumerate(sizes):
        a, sa = make_tenant(conn, "plain")
        b, sb = make_tenant(conn, "purge")
        fa, fb = fill(conn, a, sa, n), fill(conn, b, sb, n)
        print(f"# pair {i + 1}: {n:,} rows each (+1 history row each), filled in {fa:.0f}+{fb:.0f} s", file=sys.stderr)
        if i % 2 == 0:
            base = await plain_delete(a, args.batch)
            mine = await the_purge(b, args.batch)
        else:
            mine = await the_purge(b, args.batch)
            base = await plain_delete(a, args.batch)
        assert base["rows"] == n and mine["rows"] == n, (base, mine)
        out["pairs"].append({"rows": n, "plain_delete": base, "purge": mine,
                             "ratio": mine["rows_per_s"] / base["rows_per_s"]})
        print(f"#   plain DELETE {base['rows_per_s']:,.0f} rows/s (longest batch {base['longest_batch_ms']:.0f} ms), "
              f"purge {mine['rows_per_s']:,.0f} rows/s (longest {mine['longest_batch_ms']:.0f} ms): "
              f"{out['pairs'][-1]['ratio']:.2f}x", file=sys.stderr)
    conn.close()
    out["export"] = await export_bench(args.export_rows, args.export_reps)
    from kopru.db import dispose

    await dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.kvkk")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--reps", type=int, default=3, help="pairs: the first at --rows, the rest at --rep-rows")
    p.add_argument("--rep-rows", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--export-rows", type=int, default=10_000)
    p.add_argument("--export-reps", type=int, default=5)
    args = p.parse_args(argv)
    data = bench_data_dir() / "kvkk"
    prepare_services(data, client_name="bench-kvkk")
    try:
        res = asyncio.run(run(args))
    finally:
        stop_services()
    ratios = [x["ratio"] for x in res["pairs"]]
    longest = max(x["purge"]["longest_batch_ms"] for x in res["pairs"])
    summary = {
        "purge_ratio_vs_plain_delete": {"median": statistics.median(ratios), "each": ratios, "goal": 0.8},
        "purge_rows_per_s_1m": res["pairs"][0]["purge"]["rows_per_s"],
        "plain_delete_rows_per_s_1m": res["pairs"][0]["plain_delete"]["rows_per_s"],
        "purge_longest_batch_ms": {"max": longest, "goal": 100},
        "purge_batch_ms_p99_1m": res["pairs"][0]["purge"]["batch_ms_p99"],
        "purge_longest_lock_ms_db": max(x["purge"]["longest_lock_ms_db"] for x in res["pairs"]),
        "purge_batch_ms_p50_1m": res["pairs"][0]["purge"]["batch_ms_p50"],
        "plain_delete_longest_batch_ms": max(x["plain_delete"]["longest_batch_ms"] for x in res["pairs"]),
        "export_10k_rows_s": res["export"]["export_s"]["median"],
        "export_ratio_vs_select": res["export"]["ratio"],
    }
    write_results("kvkk", {"summary": summary, **res}, params=vars(args))
    rows = [[f"{x['rows']:,}", f"{x['plain_delete']['rows_per_s']:,.0f}", f"{x['purge']['rows_per_s']:,.0f}",
             f"{x['ratio']:.2f}x", f"{x['plain_delete']['longest_batch_ms']:.0f}", f"{x['purge']['longest_batch_ms']:.0f}"]
            for x in res["pairs"]]
    print(table(rows, ["rows", "DELETE rows/s", "purge rows/s", "ratio", "DELETE max ms", "purge max ms"]))
    e = res["export"]
    print(f"export of {e['rows']:,} rows ({e['bytes']:,} bytes): median {e['export_s']['median'] * 1000:.0f} ms; "
          f"bare SELECT {e['baseline_select_s']['median'] * 1000:.0f} ms ({e['ratio']:.1f}x)")
    p0 = res["pairs"][0]["purge"]
    print(f"purge/plain DELETE median {summary['purge_ratio_vs_plain_delete']['median']:.2f}x (goal >= 0.8x), "
          f"longest purge batch {longest:.0f} ms (goal < 100 ms); on {res['pairs'][0]['rows']:,} rows "
          f"{p0['batches']} batches, p50 {p0['batch_ms_p50']:.0f} ms, p99 {p0['batch_ms_p99']:.0f} ms; longest "
          f"lock measured in the database {summary['purge_longest_lock_ms_db']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
