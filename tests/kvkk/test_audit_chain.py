"""The audit log proves itself (kopru.kvkk.audit): entries written only by the database's
append function with its clock and the transaction's actor, MAC'd with a key outside the
database, seq bound to the chain by PostgreSQL, and chain heads anchored outside it.
Each tampering issue 22 names is refused by the database or found by `kopru audit verify`."""

import asyncio
import json

import psycopg
import pytest

from kopru.db import tenant_transaction
from kopru.db.auditlog import entry_mac
from kopru.kvkk.audit import verify, verify_rows
from kopru_tools.cli import main


@pytest.fixture
def anchors(tmp_path, monkeypatch):
    """A fresh anchor file for the test (the session's other tests anchor too)."""
    from kopru.kvkk.anchor import reset_anchor_store

    path = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("KOPRU_AUDIT_ANCHOR_STORE", str(path))
    reset_anchor_store()
    yield path
    monkeypatch.delenv("KOPRU_AUDIT_ANCHOR_STORE")
    reset_anchor_store()


async def _entries(tenant_id, n: int, actor: str = "test") -> None:
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        for i in range(n):
            await tx.audit("test.entry", target=f"t{i}", details={"i": i, "ünicode": "İğşç", "nested": {"b": [1, 2.5]}})


COLS = "id, seq, prev_seq, at, actor, action, target, details::text, prev_hash, hash, mac"


def _chain(db, tenant_id):
    return db.execute(f"select {COLS} from audit_log where tenant_id = %s order by seq", (str(tenant_id),)).fetchall()


async def _verify(tenant_id, anchors: bool = True):
    res = await asyncio.to_thread(verify, tenant_id, anchors=anchors)
    (rep,) = res.reports
    return res, rep


def _kinds(rep) -> list[tuple[str, int | None]]:
    return [(f.kind, f.seq) for f in rep.findings]


def _tamper(db, sql: str, params=(), *, replica: bool = False) -> None:
    """The database owner's powers: past the append-only trigger (and, with replica, past
    the foreign keys too)."""
    db.execute("alter table audit_log disable trigger audit_log_append_only")
    try:
        if replica:
            db.execute("set session_replication_role = replica")
        db.execute(sql, params)
    finally:
        db.execute("set session_replication_role = origin")
        db.execute("alter table audit_log enable trigger audit_log_append_only")


async def test_entries_are_keyed_and_chained_per_tenant(onboard, db):
    a, b = await onboard(), await onboard()
    before = db.execute("select clock_timestamp()").fetchone()[0]
    await _entries(a["id"], 3, actor="user:ayse")
    after = db.execute("select clock_timestamp()").fetchone()[0]
    await _entries(b["id"], 2)
    rows = _chain(db, a["id"])
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
    assert [r[2] for r in rows] == [None] + [r[1] for r in rows[:-1]]  # prev_seq
    assert rows[0][8] is None  # the first entry (onboarding) starts the chain
    for prev, cur in zip(rows, rows[1:]):
        assert bytes(cur[8]) == bytes(prev[10])  # linked to the previous MAC
    for r in rows:  # the database's fields, the application's MAC; no unkeyed hash
        assert r[9] is None and len(r[10]) == 32
        assert entry_mac(bytes(r[8]) if r[8] else None, r[1], a["id"], r[3], r[4], r[5], r[6], r[7]) == bytes(r[10])
    new = rows[-3:]
    assert all(r[4] == "user:ayse" and before <= r[3] <= after for r in new)  # the actor and clock of the transaction
    assert _chain(db, b["id"])[0][1] == 1  # each tenant has its own chain
    _, rep = await _verify(a["id"], anchors=False)
    assert rep.ok and rep.entries == rep.keyed == len(rows) and rep.head == bytes(rows[-1][10])


async def test_concurrent_writers_of_one_tenant_do_not_fork_the_chain(onboard):
    t = await onboard()
    await asyncio.gather(*(_entries(t["id"], 5) for _ in range(8)))
    _, rep = await _verify(t["id"], anchors=False)
    assert rep.ok and rep.entries == 1 + 40


async def test_the_app_role_cannot_write_the_table_itself(onboard, services):
    """A back-dated entry in the operator's name, inserted by the application role: refused
    (no INSERT at all); nor may it change or delete an entry."""
    t = await onboard()
    with psycopg.connect(services["app_url"].replace("+psycopg", "")) as conn:
        for sql in ("insert into audit_log (tenant_id, at, actor, action, seq, prev_seq) "
                    "values (%(t)s, '2020-01-01T00:00Z', 'operator:root', 'consent.recorded', 1, null)",
                    "update audit_log set at = '2020-01-01T00:00Z'",
                    "delete from audit_log",
                    "select kopru_audit_hash(null, 1, %(t)s, now(), 'x', 'y', null, '{}')"):
            conn.execute("select set_config('app.tenant_id', %s, false)", (str(t["id"]),))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql, {"t": str(t["id"])})
            conn.rollback()


async def test_the_append_function_takes_time_and_actor_from_the_database(onboard, services, db):
    """Through the one function the role may call: `at` is the clock, the actor is the
    transaction's; an entry left unsealed cannot commit; one sealed without the key is found."""
    t = await onboard()
    url = services["app_url"].replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.actor', 'operator:root', true)",
                     (str(t["id"]),))
        conn.execute("select * from kopru_audit_append('consent.recorded', null, '{}')")
        with pytest.raises(psycopg.errors.CheckViolation, match="not sealed"):
            conn.commit()
    with psycopg.connect(url) as conn:  # no actor in the transaction: refused
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(t["id"]),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="no actor"):
            conn.execute("select * from kopru_audit_append('x', null, '{}')")
    with psycopg.connect(url) as conn:  # the role without the key: its MAC is wrong
        conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.actor', 'operator:root', true)",
                     (str(t["id"]),))
        (eid, seq, at, *_) = conn.execute("select * from kopru_audit_append('consent.recorded', null, '{}')").fetchone()
        assert abs((db.execute("select clock_timestamp()").fetchone()[0] - at).total_seconds()) < 30
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):  # a second seal of nothing
            conn.execute("select kopru_audit_seal(%s, %s)", (eid + 10_000, b"\0" * 32))
        conn.rollback()
        conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.actor', 'operator:root', true)",
                     (str(t["id"]),))
        (eid, seq, *_) = conn.execute("select * from kopru_audit_append('consent.recorded', null, '{}')").fetchone()
        conn.execute("select kopru_audit_seal(%s, %s)", (eid, b"\x01" * 32))
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):  # sealed once, never again
            conn.execute("select kopru_audit_seal(%s, %s)", (eid, b"\x02" * 32))
        conn.rollback()
        conn.execute("select set_config('app.tenant_id', %s, true), set_config('app.actor', 'operator:root', true)",
                     (str(t["id"]),))
        (eid, seq, *_) = conn.execute("select * from kopru_audit_append('consent.recorded', null, '{}')").fetchone()
        conn.execute("select kopru_audit_seal(%s, %s)", (eid, b"\x01" * 32))
        conn.commit()
    _, rep = await _verify(t["id"], anchors=False)
    assert _kinds(rep) == [("modified", seq)]


async def test_seq_is_bound_to_the_chain_by_the_database(onboard, db):
    """seq = 0, a duplicate, a gap, a wrong predecessor: refused even for the owner; an
    entry with no seq or seq <= 0 (from before the constraints) is reported, never skipped."""
    t = await onboard()
    await _entries(t["id"], 2)
    n = len(_chain(db, t["id"]))
    ins = ("insert into audit_log (tenant_id, actor, action, seq, prev_seq, mac) "
           "values (%s, 'x', 'forged', %s, %s, %s)")
    for seq, prev, err in ((0, None, psycopg.errors.CheckViolation), (-1, None, psycopg.errors.CheckViolation),
                           (n, n - 1, psycopg.errors.UniqueViolation), (n + 2, n + 1, psycopg.errors.ForeignKeyViolation),
                           (n + 1, n - 1, psycopg.errors.CheckViolation), (1, None, psycopg.errors.UniqueViolation)):
        with pytest.raises(err):
            db.execute(ins, (str(t["id"]), seq, prev, b"\0" * 32))
    # the owner cannot delete a middle entry either: the next one names it
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _tamper(db, "delete from audit_log where tenant_id = %s and seq = 2", (str(t["id"]),))

    # the verifier reads an entry outside the chain, were one to exist (as before 0014)
    rows = _chain(db, t["id"])

    class R:
        def __init__(self, r, **over):
            (self.id, self.seq, self.prev_seq, self.at, self.actor, self.action, self.target, self.details_text,
             self.prev_hash, self.hash, self.mac) = r
            self.__dict__.update(over)

    rep = verify_rows(t["id"], [R(rows[0], id=-1, seq=0, mac=b"x" * 32)] + [R(r) for r in rows])
    assert _kinds(rep) == [("outside_chain", 0)]


async def test_an_edited_entry_is_found_and_rehashing_with_the_database_does_not_hide_it(onboard, db, capsys):
    t = await onboard()
    await _entries(t["id"], 5)
    rows = _chain(db, t["id"])
    victim = rows[3]
    _tamper(db, "update audit_log set details = details || '{\"i\": 42}' where id = %s", (victim[0],))
    _, rep = await _verify(t["id"], anchors=False)
    assert _kinds(rep) == [("modified", victim[1])]
    # the CLI says the same, in Turkish and English, and exits 1
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"]), "--no-anchors"]) == 1
    out = capsys.readouterr().out
    assert f"seq {victim[1]} [modified]" in out and "değiştirilmiş" in out and "it was changed" in out
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"]), "--json", "--no-anchors"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["chains"][0]["first_broken"]["id"] == victim[0]
    assert doc["chains"][0]["first_broken"]["tr"] and doc["chains"][0]["first_broken"]["en"]

    # the owner re-hashes the edited entry and every later one with the database's own
    # unkeyed function, as migration 0004's chain allowed: each is an unkeyed entry now
    tid = str(t["id"])
    for r in rows[3:]:
        _tamper(db, "update audit_log a set mac = null, prev_hash = p.link, hash = kopru_audit_hash("
                    "p.link, a.seq, a.tenant_id, a.at, a.actor, a.action, a.target, a.details) "
                    "from (select coalesce(mac, hash) as link from audit_log where tenant_id = %s and seq = %s) p "
                    "where a.id = %s", (tid, r[1] - 1, r[0]))
    _, rep = await _verify(t["id"], anchors=False)
    assert _kinds(rep) == [("unkeyed", r[1]) for r in rows[3:]]
    # or puts that hash where the MAC goes: it is not the MAC
    for r in rows[3:]:
        _tamper(db, "update audit_log set mac = hash, hash = null where id = %s", (r[0],))
    _, rep = await _verify(t["id"], anchors=False)
    assert _kinds(rep) == [("modified", r[1]) for r in rows[3:]]


async def test_a_deleted_entry_is_found(onboard, db):
    t = await onboard()
    await _entries(t["id"], 5)
    rows = _chain(db, t["id"])
    _tamper(db, "delete from audit_log where id = %s", (rows[2][0],), replica=True)
    _, rep = await _verify(t["id"], anchors=False)
    assert _kinds(rep) == [("deleted", rows[3][1])] and rep.findings[0].id == rows[3][0]
    assert "silinmiş" in rep.findings[0].tr and "deleted" in rep.findings[0].en


async def test_a_truncated_tail_is_found_against_the_last_anchor(onboard, db, anchors, capsys):
    t = await onboard()
    await _entries(t["id"], 4)
    rows = _chain(db, t["id"])
    assert await asyncio.to_thread(main, ["audit", "anchor", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["chains"] >= 1 and not written["problems"]
    line = json.loads(anchors.read_text().splitlines()[-1])
    assert line["heads"][str(t["id"])] == {"seq": rows[-1][1], "link": bytes(rows[-1][10]).hex()}
    res, rep = await _verify(t["id"])
    assert rep.ok and rep.anchored_seq == rows[-1][1] and res.anchor["name"].endswith(":1")

    # later entries are fine: the anchored head is still in the chain
    await _entries(t["id"], 2)
    res, rep = await _verify(t["id"])
    assert res.ok

    # the owner removes the newest entries: the chain alone still verifies, the anchor does not
    _tamper(db, "delete from audit_log where tenant_id = %s and seq > %s", (str(t["id"]), rows[-2][1]))
    _, rep = await _verify(t["id"], anchors=False)
    assert rep.ok
    res, rep = await _verify(t["id"])
    assert _kinds(rep) == [("truncated", rows[-1][1])] and not res.ok
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"])]) == 1
    assert "[truncated]" in capsys.readouterr().out

    # the next anchor run notices it, says so, and keeps the old head: still found afterwards
    assert await asyncio.to_thread(main, ["audit", "anchor"]) == 1
    assert "truncated" in capsys.readouterr().out
    assert json.loads(anchors.read_text().splitlines()[-1])["heads"][str(t["id"])]["seq"] == rows[-1][1]
    _, rep = await _verify(t["id"])
    assert _kinds(rep) == [("truncated", rows[-1][1])]

    # writing new entries over the removed ones (valid MACs, another history) is found too
    await _entries(t["id"], 3)
    _, rep = await _verify(t["id"])
    assert _kinds(rep) == [("anchor_mismatch", rows[-1][1])]


async def test_a_forged_anchor_is_not_trusted(onboard, anchors):
    t = await onboard()
    await asyncio.to_thread(main, ["audit", "anchor"])
    doc = json.loads(anchors.read_text().splitlines()[-1])
    doc["heads"][str(t["id"])]["link"] = "00" * 32  # a head the table does not have, MAC unchanged
    with anchors.open("a") as f:
        f.write(json.dumps(doc) + "\n")
    res, rep = await _verify(t["id"])
    assert [f.kind for f in res.findings] == ["anchor_invalid"] and not res.ok


async def test_anchors_in_s3_under_object_lock(onboard, db, monkeypatch):
    """S3 on a moto server: each anchor is its own object, written under Object Lock
    (COMPLIANCE, the configured retention), and verify reads the newest."""
    import socket
    from datetime import datetime, timedelta, timezone

    import boto3
    from botocore.exceptions import ClientError
    from moto.server import ThreadedMotoServer

    from kopru.kvkk.anchor import reset_anchor_store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for k, v in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                     "AWS_DEFAULT_REGION": "eu-central-1", "KOPRU_AUDIT_ANCHOR_STORE": "s3://kopru-audit/prod",
                     "KOPRU_AUDIT_ANCHOR_RETENTION_DAYS": "30"}.items():
            monkeypatch.setenv(k, v)
        reset_anchor_store()
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1")
        s3.create_bucket(Bucket="kopru-audit", ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        t = await onboard()
        await _entries(t["id"], 2)
        assert await asyncio.to_thread(main, ["audit", "anchor"]) == 0
        await _entries(t["id"], 1)
        assert await asyncio.to_thread(main, ["audit", "anchor"]) == 0
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="kopru-audit")["Contents"])
        assert len(keys) == 2 and all(k.startswith("prod/anchors/") for k in keys)
        head = s3.head_object(Bucket="kopru-audit", Key=keys[-1])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert timedelta(days=29) < until - datetime.now(timezone.utc) <= timedelta(days=30)
        with pytest.raises(ClientError):  # locked: not even the bucket's owner deletes it
            s3.delete_object(Bucket="kopru-audit", Key=keys[-1], VersionId=head["VersionId"])
        second = json.loads(s3.get_object(Bucket="kopru-audit", Key=keys[-1])["Body"].read())
        first = s3.get_object(Bucket="kopru-audit", Key=keys[0])["Body"].read()
        import hashlib

        assert second["prev"] == hashlib.sha256(first).hexdigest()
        rows = _chain(db, t["id"])
        res, rep = await _verify(t["id"])
        assert res.ok and rep.anchored_seq == rows[-1][1] and res.anchor["name"] == f"s3://kopru-audit/{keys[-1]}"
        _tamper(db, "delete from audit_log where tenant_id = %s and seq = %s", (str(t["id"]), rows[-1][1]))
        _, rep = await _verify(t["id"])
        assert _kinds(rep) == [("truncated", rows[-1][1])]
    finally:
        monkeypatch.delenv("KOPRU_AUDIT_ANCHOR_STORE")
        reset_anchor_store()
        server.stop()


async def test_cli_verifies_healthy_chains_and_refuses_a_bad_id(onboard, anchors, capsys):
    t = await onboard()
    await _entries(t["id"], 2)
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", str(t["id"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (chain,) = doc["chains"]
    assert doc["ok"] is True and doc["anchor"] is None and chain["ok"] and chain["entries"] == 3
    assert chain["keyed"] == 3 and len(chain["head"]) == 64
    assert await asyncio.to_thread(main, ["audit", "verify", "--tenant", "nope"]) == 2
    # with no --tenant, every tenant of the directory is verified (others' tampered chains included)
    res = await asyncio.to_thread(verify)
    reports = {r.tenant_id: r for r in res.reports}
    assert reports[t["id"]].ok and reports[t["id"]].entries == 3
