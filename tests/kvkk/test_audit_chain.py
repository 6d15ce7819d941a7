"""The audit log's per-tenant hash chain: written by a trigger, verified by
`kopru audit verify`, which finds a changed entry and a deleted one."""

import asyncio
import json

import pytest

from kopru.db import tenant_transaction
from kopru.kvkk.audit import entry_hash, verify
from kopru_tools.cli import main


async def _entries(tenant_id, n: int) -> None:
    async with tenant_transaction(tenant_id, actor="test") as tx:
        for i in range(n):
            await tx.audit("test.entry", target=f"t{i}", details={"i": i, "ünicode": "İğşç", "nested": {"b": [1, 2.5]}})


def _chain(db, tenant_id):
    return db.execute("select id, seq, prev_hash, hash, at, actor, action, target, details::text from audit_log "
                      "where tenant_id = %s order by seq", (str(tenant_id),)).fetchall()


async def _verify(tenant_id):
    (rep,) = await asyncio.to_thread(verify, tenant_id)
    return rep


async def test_entries_are_chained_per_tenant(onboard, db):
    a, b = await onboard(), await onboard()
    await _entries(a["id"], 3)
    await _entries(b["id"], 2)
    rows = _chain(db, a["id"])
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0][2] is None  # the first entry (onboarding) starts the chain
    for prev, cur in zip(rows, rows[1:]):
        assert bytes(cur[2]) == bytes(prev[3])
    for r in rows:  # the trigger and the verifier agree on the canonical form
        assert entry_hash(bytes(r[2]) if r[2] else None, r[1], a["id"], r[4], r[5], r[6], r[7], r[8]) == bytes(r[3])
    assert _chain(db, b["id"])[0][1] == 1  # each tenant has its own chain
    rep = await _verify(a["id"])
    assert rep.ok and rep.entries == len(rows) and rep.head == bytes(rows[-1][3])


async def test_a_forged_hash_in_an_insert_is_overwritten(onboard, db):
    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        from kopru.db.schema import audit_log

        await tx.execute(audit_log.insert().values(tenant_id=t["id"], actor="x", action="forged", details={},
                                                   seq=999, prev_hash=b"x", hash=b"y"))
    assert (await _verify(t["id"])).ok


async def test_concurrent_writers_of_one_tenant_do_not_fork_the_chain(onboard):
    t = await onboard()
    await asyncio.gather(*(_entries(t["id"], 5) for _ in range(8)))
    rep = await _verify(t["id"])
    assert rep.ok and rep.entries == 1 + 40


def _tamper(db, sql: str, params) -> None:
    db.execute("alter table audit_log disable trigger audit_log_append_only")
    try:
        db.execute(sql, params)
    finally:
        db.execute("alter table audit_log enable trigger audit_log_append_only")


async def test_verify_finds_a_modified_entry(onboard, db, capsys):
    t = await onboard()
    await _entries(t["id"], 5)
    rows = _chain(db, t["id"])
    victim = rows[3]
    _tamper(db, "update audit_log set details = details || '{\"i\": 42}' where id = %s", (victim[0],))
    rep = await _verify(t["id"])
    assert not rep.ok and rep.problem.kind == "modified" and rep.problem.id == victim[0]
    # the CLI says the same and exits 1
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"])]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and out["first_broken"]["id"] == victim[0] and out["first_broken"]["kind"] == "modified"
    # a forger who also recomputes the entry's own hash breaks the next link
    _tamper(db, "update audit_log set hash = kopru_audit_hash(prev_hash, seq, tenant_id, at, actor, action, target, "
                "details) where id = %s", (victim[0],))
    rep = await _verify(t["id"])
    assert rep.problem.kind == "relinked" and rep.problem.id == rows[4][0]


async def test_verify_finds_a_deleted_entry(onboard, db):
    t = await onboard()
    await _entries(t["id"], 5)
    rows = _chain(db, t["id"])
    _tamper(db, "delete from audit_log where id = %s", (rows[2][0],))
    rep = await _verify(t["id"])
    assert not rep.ok and rep.problem.kind == "deleted"
    assert rep.problem.id == rows[3][0] and rep.problem.seq == rows[3][1]
    # the first entry, too
    u = await onboard()
    await _entries(u["id"], 2)
    _tamper(db, "delete from audit_log where id = %s", (_chain(db, u["id"])[0][0],))
    assert (await _verify(u["id"])).problem.kind == "deleted"


async def test_the_app_role_still_cannot_change_or_delete(onboard):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    t = await onboard()
    for sql in ("update audit_log set action = 'x'", "delete from audit_log"):
        with pytest.raises(DBAPIError):
            async with tenant_transaction(t["id"], actor="test") as tx:
                await tx.execute(text(sql))


async def test_cli_verifies_a_healthy_tenant_and_refuses_a_bad_id(onboard, capsys):
    t = await onboard()
    await _entries(t["id"], 2)
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"])]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out == {"tenant_id": str(t["id"]), "ok": True, "entries": 3, "head": out["head"]} and len(out["head"]) == 64
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", "nope"]) == 2
    # with no --tenant, every tenant of the directory is verified (others' tampered chains included)
    reports = {r.tenant_id: r for r in await asyncio.to_thread(verify)}
    assert reports[t["id"]].ok and reports[t["id"]].entries == 3
