"""Migrations 0004 and 0014 on a database that already has audit entries: they join the
chain, and the keyed chain (0014) continues from their head."""

import secrets
import uuid

import psycopg
from psycopg.rows import namedtuple_row

from kopru.db.auditlog import entry_mac
from kopru.kvkk.audit import _COLUMNS, verify_rows


def _alembic(url: str, target: str) -> None:
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import kopru.db.engine as engine

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, target)


def _alembic_down(url: str, target: str) -> None:
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import kopru.db.engine as engine

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    cfg.attributes["url"] = url
    command.downgrade(cfg, target)


def test_existing_entries_are_chained_by_the_migration(services, superuser_url, db):
    name = "kopru_mig_" + secrets.token_hex(4)
    db.execute(f"create database {name} owner kopru_owner")
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
        from sqlalchemy.engine import make_url

        owner = make_url(services["owner_url"]).set(database=name).render_as_string(hide_password=False)
        su = make_conninfo(superuser_url, dbname=name)
        assert make_url(owner).database == name and conninfo_to_dict(su)["dbname"] == name
        _alembic(owner, "0003")
        tenants = [uuid.uuid4(), uuid.uuid4()]
        with psycopg.connect(su, autocommit=True) as conn:
            for i in range(6):
                conn.execute("insert into audit_log (tenant_id, actor, action, target, details) values (%s, 'old', %s, %s, %s)",
                             (tenants[i % 2], f"a{i}", None if i == 3 else f"t{i}", psycopg.types.json.Jsonb({"i": i})))
        _alembic(owner, "0013")  # 0004's unkeyed chain, its trigger still writing
        with psycopg.connect(su, autocommit=True) as conn:
            conn.execute("insert into audit_log (tenant_id, actor, action) values (%s, 'old', 'o')", (tenants[0],))
        _alembic(owner, "head")
        _alembic_down(owner, "0013")  # and back, and up again
        _alembic(owner, "head")
        with psycopg.connect(su, autocommit=True, row_factory=namedtuple_row) as conn:
            def chain(tid):
                return conn.execute(f"select {_COLUMNS} from audit_log where tenant_id = %s order by seq", (tid,)).fetchall()

            for tid, n in zip(tenants, (4, 3)):
                rep = verify_rows(tid, chain(tid))
                assert rep.ok and rep.entries == n and rep.keyed == 0, rep.as_dict()
                assert [r.prev_seq for r in chain(tid)] == [None] + list(range(1, n))
            # a new entry continues the old chain, keyed: its MAC covers the old head
            with conn.transaction():
                conn.execute("select set_config('app.tenant_id', %s, true) as t, set_config('app.actor', 'new', true) as a",
                             (str(tenants[0]),))
                r = conn.execute("select * from kopru_audit_append('n', null, '{}')").fetchone()
                assert r.entry_seq == 5 and r.entry_prev == chain(tenants[0])[3].hash
                conn.execute("select kopru_audit_seal(%s, %s)", (r.entry_id, entry_mac(
                    r.entry_prev, r.entry_seq, tenants[0], r.entry_at, r.entry_actor, "n", None, r.entry_details)))
            rep = verify_rows(tenants[0], chain(tenants[0]))
            assert rep.ok and rep.entries == 5 and rep.keyed == 1, rep.as_dict()
            # an old entry changed afterwards: found (the keyed entry fixed the old head)
            conn.execute("alter table audit_log disable trigger audit_log_append_only")
            conn.execute("update audit_log set actor = 'someone' where tenant_id = %s and seq = 2", (tenants[0],))
            conn.execute("alter table audit_log enable trigger audit_log_append_only")
            assert [f.kind for f in verify_rows(tenants[0], chain(tenants[0])).findings] == ["legacy_modified"]
    finally:
        db.execute(f"drop database {name} with (force)")
