"""The personal-data register matches the database: a column that looks personal is
registered (or explained as not personal), and everything registered exists."""

import pytest

from kopru.kvkk.register import HOLDS, NOT_PERSONAL, REGISTER, is_registered, looks_personal, registered_columns
from kopru.kvkk.vocabulary import ALL_CATEGORIES


def _columns(db) -> dict[str, set[str]]:
    rows = db.execute("""
        select c.table_name, c.column_name
        from information_schema.columns c
        join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
        where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
    """).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


@pytest.mark.parametrize("name,personal", [
    ("phone", True), ("phone_e164", True), ("email_fold", True), ("tckn_bidx", True), ("first_name", True),
    ("ip", True), ("user_agent_enc", True), ("body", True), ("message_text", True), ("iban", True),
    ("anything_enc", True), ("recipient", True), ("password_hash", True),
    ("tenant_id", False), ("shipping", False), ("recipe", False), ("zip_code", False), ("created_at", False),
    ("tax_office", False), ("subdomain", False), ("purpose", False),
])
def test_the_heuristic(name, personal):
    assert looks_personal(name) is personal


def test_every_personal_looking_column_is_registered(db):
    missing = sorted(
        f"{table}.{column}"
        for table, columns in _columns(db).items()
        for column in columns
        if looks_personal(column) and not is_registered(table, column) and (table, column) not in NOT_PERSONAL
    )
    assert not missing, f"register these in kopru.kvkk.register (or explain them in NOT_PERSONAL): {missing}"


def test_everything_registered_exists(db):
    cols = _columns(db)
    for t, c in registered_columns():
        assert t.name in cols, f"registered table {t.name} does not exist"
        assert c.name in cols[t.name], f"registered column {t.name}.{c.name} does not exist"
    for t in REGISTER:
        link = t.subject.column or "id"
        assert link in cols[t.name], f"{t.name}: subject link column {link} does not exist"
    for (table, column) in NOT_PERSONAL:
        assert column in cols.get(table, ()), f"NOT_PERSONAL names {table}.{column}, which does not exist"


def test_what_erasure_clears_can_be_cleared(db):
    """Erasure and the purge set shredded, anonymised and deleted columns to NULL in place
    (kopru.kvkk.applications.erase_subject): a `not null` there makes the subject's erasure
    fail (webhook_deliveries.body did), so every such column is nullable."""
    nullable = {(t, c): n == "YES" for t, c, n in db.execute(
        "select table_name, column_name, is_nullable from information_schema.columns "
        "where table_schema = 'public'").fetchall()}
    cleared = [(t, c) for t, c in registered_columns() if c.erasure.action in ("shred", "anonymise", "delete")
               # a customer's erasure application, or the purge clearing rows in place
               and (t.subject.kind == "customer" or (t.retention.days is not None and t.retention.expire == "clear"))]
    assert any(t.name == "webhook_deliveries" for t, _ in cleared)
    stuck = sorted(f"{t.name}.{c.name}" for t, c in cleared if not nullable[(t.name, c.name)])
    assert not stuck, f"erasure clears these, but they are not null: {stuck}"


def test_register_entries_are_complete():
    names = [t.name for t in REGISTER]
    assert len(names) == len(set(names)), "a table is registered twice"
    for t, c in registered_columns():
        assert c.category in ALL_CATEGORIES
        if c.erasure.action == "keep":
            assert c.erasure.hold in HOLDS.values() and c.erasure.hold.years > 0
        if c.name.endswith("_enc"):
            assert c.erasure.action == "shred", f"{t.name}.{c.name} is ciphertext under the subject key"
    # what the brief names explicitly
    for table, column in [("users", "email"), ("users", "email_fold"), ("users", "password_hash"),
                          ("tenants", "tax_number"), ("data_subjects", "phone_enc"), ("consents", "ip_enc")]:
        assert is_registered(table, column), (table, column)
    tenants = next(t for t in REGISTER if t.name == "tenants")
    assert tenants.subject.kind == "tenant" and "TCKN" in tenants.subject.where
    assert next(t for t in REGISTER if t.name == "users").subject.kind == "user"


def test_a_new_unregistered_column_fails_the_check(db):
    """The check would catch a forgotten column (simulated on a throw-away table)."""
    db.execute("create temporary table kvkk_probe (id int, customer_phone text, note_enc bytea)")
    try:
        rows = db.execute("""
            select column_name from information_schema.columns
            where table_name = 'kvkk_probe' and table_schema like 'pg_temp%%'
        """).fetchall()
        flagged = sorted(c for (c,) in rows if looks_personal(c) and not is_registered("kvkk_probe", c))
        assert flagged == ["customer_phone", "note_enc"]
    finally:
        db.execute("drop table kvkk_probe")
