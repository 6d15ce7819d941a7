"""Data subjects: normalisation, merging by identifier, encryption at rest, blind
indexes, crypto-shredding."""

import uuid

import pytest

from kopru.db import tenant_transaction
from kopru.errors import KopruError
from kopru.kvkk import decrypt_subject, destroy_subject_key, find_or_create_subject, find_subject
from kopru.kvkk.identifiers import InvalidIdentifier, detect, mask, normalise_email, normalise_phone, normalise_tckn
from kopru.kvkk.subjects import tenant_keys
from tests.kvkk.conftest import PHONE, PHONE_FORMS, TCKN


@pytest.mark.parametrize("raw", PHONE_FORMS + (PHONE,))
def test_phone_forms_normalise_to_e164(raw):
    assert normalise_phone(raw) == PHONE


@pytest.mark.parametrize("raw", ["12345", "0532123456", "053212345678", "abc", "+90 532 123 45 6x", "", "0" * 40,
                                 "+90 999 123 45 67", "+90 532 123 45 678"])
def test_invalid_phones_are_refused_with_a_code(raw):
    with pytest.raises(InvalidIdentifier) as e:
        normalise_phone(raw)
    assert e.value.code == "subject.phone_invalid"
    assert raw not in str(e.value) or not raw


def test_email_and_tckn():
    assert normalise_email("  Ayse@Example.COM ") == "ayse@example.com"
    assert normalise_email("YONETICI@firma.com.tr") == "yonetici@firma.com.tr"  # not the Turkish fold
    for bad in ("ayse", "ayse@", "@example.com", "a b@example.com", "ayse@example"):
        with pytest.raises(InvalidIdentifier):
            normalise_email(bad)
    assert normalise_tckn(TCKN) == TCKN
    with pytest.raises(InvalidIdentifier):
        normalise_tckn("10000000147")


def test_detect_and_mask():
    assert detect("0532 123 45 67") == ("phone", PHONE)
    assert detect("Ayse@Example.com") == ("email", "ayse@example.com")
    assert detect(TCKN) == ("tckn", TCKN)
    with pytest.raises(InvalidIdentifier):
        detect("not an identifier")
    assert mask("phone", PHONE) == "+90532*****67"
    assert mask("email", "ayse@example.com") == "a***@e***.com"
    assert mask("tckn", TCKN) == "*********46"


async def test_one_person_in_many_forms_is_one_subject(onboard):
    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        first = await find_or_create_subject(tx, {"phone": PHONE_FORMS[0]})
        assert first.created
        for form in PHONE_FORMS[1:]:
            again = await find_or_create_subject(tx, {"phone": form})
            assert again.id == first.id and not again.created
        # the e-mail joins the same subject when given with the phone ...
        merged = await find_or_create_subject(tx, {"phone": "+90 532 123 45 67", "email": "Ayse@Example.com"})
        assert merged.id == first.id and merged.added == ("email",)
        # ... and then finds it alone, in any case
        assert (await find_or_create_subject(tx, {"email": "AYSE@example.com"})).id == first.id
        assert (await find_subject(tx, "phone", "00905321234567")).id == first.id
        assert (await find_subject(tx, "email", "ayse@EXAMPLE.com")).id == first.id
        assert await find_subject(tx, "phone", "05329999999") is None
        clear = await decrypt_subject(tx, first.id)
    assert clear == {"id": first.id, "phone": PHONE, "email": "ayse@example.com", "tckn": None}


async def test_identifiers_of_two_subjects_are_refused_not_guessed(onboard, db):
    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        a = await find_or_create_subject(tx, {"phone": "05321111111"})
        b = await find_or_create_subject(tx, {"email": "b@example.com"})
        assert a.id != b.id
    before = db.execute("select count(*) from data_subjects where tenant_id = %s", (str(t["id"]),)).fetchone()[0]
    # the phone is a's, the e-mail b's
    with pytest.raises(KopruError) as e:
        async with tenant_transaction(t["id"], actor="test") as tx:
            await find_or_create_subject(tx, {"phone": "05321111111", "email": "b@example.com"})
    assert e.value.code == "subject.identifiers_conflict"
    # b has no phone yet: a new phone with b's e-mail completes b
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await find_or_create_subject(tx, {"phone": "05322222222", "email": "b@example.com"})).id == b.id
    # now b has one: a different phone with b's e-mail is refused too
    with pytest.raises(KopruError) as e:
        async with tenant_transaction(t["id"], actor="test") as tx:
            await find_or_create_subject(tx, {"phone": "05323333333", "email": "b@example.com"})
    assert e.value.code == "subject.identifiers_conflict"
    after = db.execute("select count(*) from data_subjects where tenant_id = %s", (str(t["id"]),)).fetchone()[0]
    assert after == before
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, b.id))["phone"] == "+905322222222"
        assert await find_subject(tx, "phone", "05323333333") is None


async def test_missing_or_invalid_identifiers(onboard):
    t = await onboard()
    for ids, code in (({}, "subject.identifier_missing"), ({"phone": "12"}, "subject.phone_invalid"),
                      ({"email": "x"}, "subject.email_invalid"), ({"tckn": "12345678901"}, "subject.tckn_invalid")):
        with pytest.raises(KopruError) as e:
            async with tenant_transaction(t["id"], actor="test") as tx:
                await find_or_create_subject(tx, ids)
        assert e.value.code == code


async def test_encrypted_at_rest_nothing_in_clear_anywhere(onboard, db):
    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        s = await find_or_create_subject(tx, {"phone": "0532 123 45 67", "email": "ayse@example.com", "tckn": TCKN})
    row = db.execute("select * from data_subjects where id = %s", (s.id,)).fetchone()
    blob = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row if v is not None)
    for clear in (b"5321234567", b"ayse@example.com", b"ayse", TCKN.encode()):
        assert clear not in blob
    # nor in any text-like column of any table of the database, except where a law makes the
    # controller keep it as it is (the register's legal holds: a sole trader's own TCKN, invoices)
    from kopru.kvkk.register import registered_columns

    held = {(t.name, c.name) for t, c in registered_columns() if c.erasure.action == "keep"}
    assert ("tenants", "tax_number") in held and ("einvoices", "customer_tax_number") in held
    for needle in ("5321234567", "ayse@example.com", TCKN):
        hits = _search_everywhere(db, needle, exclude=held)
        assert not hits, (needle, hits)
    # ciphertexts differ from each other and from another tenant's for the same person
    u = await onboard()
    async with tenant_transaction(u["id"], actor="test") as tx:
        s2 = await find_or_create_subject(tx, {"phone": "05321234567"})
    r2 = db.execute("select phone_bidx, phone_enc from data_subjects where id = %s", (s2.id,)).fetchone()
    r1 = db.execute("select phone_bidx, phone_enc from data_subjects where id = %s", (s.id,)).fetchone()
    assert bytes(r1[0]) != bytes(r2[0]), "blind indexes must not link one person across tenants"
    assert bytes(r1[1]) != bytes(r2[1])


def _search_everywhere(db, needle: str, exclude: set) -> list[str]:
    cols = db.execute("""
        select table_name, column_name, data_type from information_schema.columns
        where table_schema = 'public' and data_type in ('text', 'character varying', 'jsonb', 'bytea', 'ARRAY')
    """).fetchall()
    hits = []
    for table, column, dtype in cols:
        if (table, column) in exclude:
            continue
        expr = f"encode({column}, 'escape')" if dtype == "bytea" else f"{column}::text"
        n = db.execute(f"select count(*) from {table} where position(%s in {expr}) > 0", (needle,)).fetchone()[0]
        if n:
            hits.append(f"{table}.{column}")
    return hits


async def test_blind_index_is_keyed_per_tenant_and_deterministic(onboard):
    a, b = await onboard(), await onboard()
    async with tenant_transaction(a["id"], actor="test") as tx:
        ka1 = await tenant_keys(tx)
        ka2 = await tenant_keys(tx)
    async with tenant_transaction(b["id"], actor="test") as tx:
        kb = await tenant_keys(tx)
    assert ka1.bidx("phone", PHONE) == ka2.bidx("phone", PHONE)
    assert ka1.bidx("phone", PHONE) != kb.bidx("phone", PHONE)
    assert ka1.bidx("phone", PHONE) != ka1.bidx("email", PHONE)  # the kind is part of the input
    assert len(ka1.bidx("phone", PHONE)) == 32


async def test_tenant_key_is_sealed_by_the_master_key_and_bound_to_its_tenant(onboard, db):
    from kopru.auth.crypto import unseal

    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        k = await tenant_keys(tx)
    wrapped = bytes(db.execute("select wrapped_key from tenant_keys where tenant_id = %s", (str(t["id"]),)).fetchone()[0])
    assert k.key not in wrapped
    assert unseal(wrapped, str(t["id"]).encode()) == k.key
    with pytest.raises(Exception):
        unseal(wrapped, str(uuid.uuid4()).encode())


async def test_crypto_shredding(onboard, db):
    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        s = await find_or_create_subject(tx, {"phone": PHONE, "email": "ayse@example.com"})
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await destroy_subject_key(tx, s.id) is True
        assert await destroy_subject_key(tx, s.id) is False
        assert await decrypt_subject(tx, s.id) is None
        assert await find_subject(tx, "phone", PHONE) is None  # no identifier leads to it any more
    row = db.execute("select wrapped_key, key_destroyed_at, phone_bidx, email_bidx, phone_enc from data_subjects "
                     "where id = %s", (s.id,)).fetchone()
    assert row[0] is None and row[1] is not None and row[2] is None and row[3] is None
    assert row[4] is not None  # the ciphertext may stay anywhere: without the key it is noise
    actions = [r[0] for r in db.execute("select action from audit_log where tenant_id = %s and target = %s",
                                        (str(t["id"]), str(s.id))).fetchall()]
    assert actions == ["subject.key_destroyed"]
    # the key cannot come back, even for the database's own roles
    import psycopg
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("update data_subjects set wrapped_key = '\\x01', key_destroyed_at = null where id = %s", (s.id,))
    # the same person returning is a new subject
    async with tenant_transaction(t["id"], actor="test") as tx:
        again = await find_or_create_subject(tx, {"phone": "05321234567"})
    assert again.created and again.id != s.id
