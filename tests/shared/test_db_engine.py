"""The one data path (kopru.db.engine): plain SQL and SQLAlchemy constructs on psycopg's
async connections, the Result the code reads, pipeline-mode transactions, the pool."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from kopru.db import platform_transaction, tenant_transaction


async def test_plain_sql_rows_and_result_methods(services):
    async with platform_transaction() as c:
        r = await c.execute("select 1 as a, 'x' as b union all select 2, 'y' order by 1")
        rows = r.all()
        assert rows == [(1, "x"), (2, "y")]
        assert (rows[0].a, rows[0][1], rows[0]._mapping) == (1, "x", {"a": 1, "b": "x"})
        assert (await c.execute("select 1 as a")).scalar_one() == 1
        assert (await c.execute("select 1 where false")).scalar_one_or_none() is None
        assert (await c.execute("select 1 where false")).first() is None
        with pytest.raises(LookupError):
            (await c.execute("select 1 union all select 2")).one()
        with pytest.raises(LookupError):
            (await c.execute("select 1 where false")).one()
        assert (await c.execute("select g from generate_series(1, 3) g")).scalars().all() == [1, 2, 3]
        assert [m["g"] for m in (await c.execute("select g from generate_series(1, 2) g")).mappings()] == [1, 2]
        fetch = await c.execute("select g from generate_series(1, 3) g")
        assert fetch.fetchone() == (1,) and fetch.fetchall() == [(2,), (3,)] and fetch.fetchone() is None
        # a dict goes as jsonb, a list as an array, a UUID as uuid, bytes as bytea
        doc = {"a": [1, {"b": "ç"}]}
        got = (await c.execute("select %(d)s::jsonb as d, %(l)s::int[] as l, %(u)s::uuid as u, %(b)s::bytea as b",
                               {"d": doc, "l": [1, 2], "u": uuid.UUID(int=7), "b": b"\x00\x01"})).one()
        assert (got.d, got.l, got.u, bytes(got.b)) == (doc, [1, 2], uuid.UUID(int=7), b"\x00\x01")


async def test_sqlalchemy_constructs_are_compiled_once_per_shape_with_their_own_values(services, onboard):
    from sqlalchemy import bindparam, func, literal, select, text

    from kopru.db import engine
    from kopru.db.schema import tenants

    async with platform_transaction() as c:
        assert [(await c.execute(select(literal(v) + 10))).scalar() for v in (1, 2, 3)] == [11, 12, 13]
        n = len(engine._COMPILED)
        assert [(await c.execute(select(func.upper(v)))).scalar() for v in ("a", "b")] == ["A", "B"]
        assert len(engine._COMPILED) == n + 1  # one shape, two values
        st = text("select x from unnest(cast(:xs as int[])) as x where x in :ys").bindparams(
            bindparam("ys", expanding=True))
        assert (await c.execute(st, {"xs": [1, 2, 3], "ys": [2, 3]})).scalars().all() == [2, 3]
    t = await onboard()
    tid = uuid.UUID(str(t["tenant"]["id"]))
    async with tenant_transaction(tid, actor="test") as tx:
        row = (await tx.execute(select(tenants).where(tenants.c.id == tid))).one()
        assert row.id == tid and row._mapping["subdomain"] == t["tenant"]["subdomain"]
        res = await tx.execute(tenants.update().where(tenants.c.id == tid).values(verbis_no="V1"))
        assert res.rowcount == 1
        assert (await tx.execute("select verbis_no from tenants where id = %(id)s", {"id": tid})).scalar() == "V1"
        await tx.execute("update tenants set verbis_no = null where id = %(id)s", {"id": tid})


async def test_the_tenant_and_actor_are_set_per_transaction_and_forgotten_after(services):
    a, b = uuid.uuid4(), uuid.uuid4()
    for tid in (a, b, a):
        async with tenant_transaction(tid, actor=f"actor-{tid}") as tx:
            got = (await tx.execute("select current_setting('app.tenant_id'), current_setting('app.actor')")).one()
            assert tuple(got) == (str(tid), f"actor-{tid}")
    async with platform_transaction() as c:
        assert (await c.execute("select current_setting('app.tenant_id', true)")).scalar() in (None, "")


async def test_savepoint_rolls_back_alone_and_queued_errors_fail_the_commit(services):
    tid = uuid.uuid4()
    async with tenant_transaction(tid, actor="test") as tx:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with tx.conn.begin_nested():
                await tx.execute("select 1/0")
        assert (await tx.execute("select 2")).scalar() == 2  # the transaction goes on
        await tx.conn.queue("select 3")
        assert (await tx.execute("select 4")).scalar() == 4
    with pytest.raises(psycopg.errors.DivisionByZero):
        async with tenant_transaction(tid, actor="test") as tx:
            await tx.conn.queue("select 1/0")  # surfaces with the COMMIT: nothing is committed
    with pytest.raises(RuntimeError):
        async with tenant_transaction(tid, actor="test") as tx:
            await tx.execute("select 1")
            raise RuntimeError("the caller's own error rolls back")
    async with tenant_transaction(tid, actor="test") as tx:  # the pool's connections are fine after all that
        assert (await tx.execute("select 5")).scalar() == 5


async def test_a_rolled_back_transaction_leaves_nothing(services, onboard, superuser_url):
    t = await onboard()
    tid = uuid.UUID(str(t["tenant"]["id"]))
    with pytest.raises(RuntimeError):
        async with tenant_transaction(tid, actor="test") as tx:
            await tx.conn.queue("update tenants set verbis_no = 'X' where id = %(id)s", {"id": tid})
            raise RuntimeError
    async with await psycopg.AsyncConnection.connect(superuser_url) as su:
        assert (await (await su.execute("select verbis_no from tenants where id = %s", (tid,))).fetchone())[0] is None


async def test_cancelled_transactions_never_leak_a_connection(services):
    from kopru.db import engine

    async def slow():
        async with tenant_transaction(uuid.uuid4(), actor="test") as tx:
            await tx.execute("select pg_sleep(5)")

    tasks = [asyncio.create_task(slow()) for _ in range(engine.POOL_SIZE + engine.MAX_OVERFLOW)]
    await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    async with asyncio.timeout(10):  # every slot came back
        await asyncio.gather(*(asyncio.create_task(_one()) for _ in range(engine.POOL_SIZE + engine.MAX_OVERFLOW)))


async def _one():
    async with platform_transaction() as c:
        assert (await c.execute("select 1")).scalar() == 1
