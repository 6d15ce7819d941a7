"""Migration 0004 on a database that already has audit entries: they join the chain."""

import secrets
import uuid

import psycopg

from kopru.kvkk.audit import verify_rows


def _alembic(url: str, target: str) -> None:
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import kopru.db.engine as engine

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(engine.__file__).parent / "migrations"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, target)


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
        _alembic(owner, "head")
        with psycopg.connect(su, autocommit=True) as conn:
            for tid in tenants:
                rows = conn.execute(
                    "select id, seq, at, actor, action, target, details::text as details_text, prev_hash, hash "
                    "from audit_log where tenant_id = %s order by seq", (tid,),
                    ).fetchall()

                class R:
                    def __init__(self, r):
                        (self.id, self.seq, self.at, self.actor, self.action, self.target, self.details_text,
                         self.prev_hash, self.hash) = r

                rep = verify_rows(tid, [R(r) for r in rows])
                assert rep.ok and rep.entries == 3, rep.as_dict()
            # and a new entry continues the migrated chain
            conn.execute("insert into audit_log (tenant_id, actor, action) values (%s, 'new', 'n')", (tenants[0],))
            seqs = [r[0] for r in conn.execute("select seq from audit_log where tenant_id = %s order by seq",
                                               (tenants[0],)).fetchall()]
            assert seqs == [1, 2, 3, 4]
    finally:
        db.execute(f"drop database {name} with (force)")
