"""The retention purge: removes only what is due, in batches, with a destruction
record per batch; `kopru purge --dry-run` counts without changing anything; the
retention-purge function runs it on its schedule's tick; a consent that is still
proof cannot be deleted by anyone."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import uuid
from contextlib import redirect_stdout
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from kopru.db import tenant_transaction
from tests.conftest import REPO
from tests.helpers import sender_auth
from tests.kvkk.conftest import consent_body


def _sms(db, tenant_id, subject_id, days_old: int) -> str:
    sid = str(uuid.uuid4())
    db.execute("insert into sms_messages (id, tenant_id, subject_id, body_enc, kind, encoding, segments, characters, "
               "status, created_at) values (%s, %s, %s, %s, 'transactional', 'GSM7', 1, 10, 'delivered', "
               "now() - make_interval(days => %s))", (sid, str(tenant_id), subject_id, b"\x01cipher", days_old))
    db.execute("insert into sms_status_history (tenant_id, sms_id, status) values (%s, %s, 'delivered')",
               (str(tenant_id), sid))
    return sid


@pytest.fixture
async def aged(onboard, consents_api, db):
    """A tenant with SMS of several ages and consents ended long ago, lately, or not yet."""
    t = await onboard()
    ids = {}
    for name, purpose in (("ended", "marketing"), ("ancient", "analytics"), ("active", "transactional")):
        r = await consents_api.record(t["token"], consent_body(purpose=purpose, iys=None))
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    subject = r.json()["subject_id"]
    db.execute("update consents set expires_at = now() - interval '1 day' where id = %s", (ids["ended"],))
    db.execute("update consents set granted_at = now() - interval '4 years 1 day', "
               "expires_at = now() - interval '3 years 1 day' where id = %s", (ids["ancient"],))
    sms = {d: _sms(db, t["id"], subject, d) for d in (89, 91, 400)}
    return t, ids, sms


def _state(db, tid):
    return {
        "sms": {r[0] for r in db.execute("select id::text from sms_messages where tenant_id = %s", (str(tid),))},
        "history": db.execute("select count(*) from sms_status_history where tenant_id = %s", (str(tid),)).fetchone()[0],
        "consents": {r[0]: r[1] for r in db.execute("select id::text, ip_enc is not null from consents where tenant_id = %s",
                                                   (str(tid),))},
    }


async def test_purge_removes_only_what_is_due_with_a_record_per_batch(aged, onboard, consents_api, db):
    from kopru.kvkk.purge import purge

    t, ids, sms = aged
    other = await onboard()  # another tenant's young data stays
    assert (await consents_api.record(other["token"])).status_code == 201
    before_other = _state(db, other["id"])

    dry = await purge(dry_run=True, tenant_id=t["id"])
    due = {(o.table, o.action): o.rows for o in dry.outcomes}
    assert due[("sms_messages", "delete")] == 2
    assert due[("consents", "clear")] == 2 and due[("consents", "delete")] == 1
    assert _state(db, t["id"])["sms"] == set(sms.values())  # the dry run changed nothing
    assert _purged_events(db, t["id"]) == []  # and announced nothing

    rep = await purge(tenant_id=t["id"], batch=1, adaptive=False)
    assert rep.complete
    after = _state(db, t["id"])
    assert after["sms"] == {sms[89]} and after["history"] == 1  # the history went with its message
    assert after["consents"] == {ids["ended"]: False, ids["active"]: True}  # ancient: deleted
    records = db.execute("select rule, table_name, action, rows, keep_until - finished_at from destruction_records "
                         "where run_id = %s order by id", (str(rep.run_id),)).fetchall()
    # batch = 1: one record per row destroyed
    assert sorted((r[0], r[1], r[2], r[3]) for r in records) == sorted([
        ("sms_90_days", "sms_messages", "delete", 1), ("sms_90_days", "sms_messages", "delete", 1),
        ("consent_validity", "consents", "clear", 1), ("consent_validity", "consents", "clear", 1),
        ("consent_validity+commercial_message_consent_proof", "consents", "delete", 1),
    ])
    assert all(r[4].days >= 3 * 365 for r in records)
    assert _state(db, other["id"]) == before_other
    # one kopru.retention.purged.v1 for the run and tenant: counts per rule, nothing personal
    events = _purged_events(db, t["id"])
    assert len(events) == 1
    data, source, subject = events[0]
    assert (source, subject) == ("/kopru/retention-purge", str(rep.run_id))
    assert data["run_id"] == str(rep.run_id) and data["complete"] is True and data["rows"] == 5
    assert sorted((r["rule"], r["table"], r["action"], r["rows"], r["batches"]) for r in data["rules"]) == sorted([
        ("sms_90_days", "sms_messages", "delete", 2, 2), ("consent_validity", "consents", "clear", 2, 2),
        ("consent_validity+commercial_message_consent_proof", "consents", "delete", 1, 1)])
    assert set(data) == {"run_id", "purged_at", "complete", "rows", "rules"}
    assert all(set(r) == {"rule", "table", "action", "rows", "batches", "cutoff"} for r in data["rules"])
    assert _purged_events(db, other["id"]) == []
    # a second run finds nothing due, and announces nothing
    again = await purge(tenant_id=t["id"])
    assert sum(o.rows for o in again.outcomes) == 0
    assert len(_purged_events(db, t["id"])) == 1


def _purged_events(db, tid):
    return [(r[0], r[1], r[2]) for r in db.execute(
        "select data, source, subject from outbox where tenant_id = %s and type = 'kopru.retention.purged.v1' "
        "order by id", (str(tid),))]


async def test_a_purge_stopped_by_its_budget_announces_what_it_did(aged, db, monkeypatch):
    from kopru.kvkk import purge as purge_mod

    t, ids, sms = aged
    import time
    import types

    clock = iter(range(0, 10_000, 10))  # every look the purge takes at the clock is 10 s later
    # the purge's own view of the clock only (patching the time module would move every
    # clock in the process: the event loop's, the connection pool's)
    monkeypatch.setattr(purge_mod, "time", types.SimpleNamespace(monotonic=lambda: next(clock),
                                                                 perf_counter=time.perf_counter))
    try:
        rep = await purge_mod.purge(tenant_id=t["id"], batch=1, adaptive=False, budget_s=25)
    finally:
        monkeypatch.setattr(purge_mod, "time", time)
    assert rep.complete is False
    done = sum(o.rows for o in rep.outcomes)
    assert 1 <= done < 5
    [(data, _, _)] = _purged_events(db, t["id"])
    assert data["complete"] is False and data["rows"] == done


async def test_a_consent_that_is_still_proof_cannot_be_deleted(aged, services):
    t, ids, _ = aged
    from sqlalchemy import text

    with pytest.raises(Exception) as err:
        async with tenant_transaction(t["id"], actor="test") as tx:
            await tx.execute(text("delete from consents where id = :id"), {"id": ids["ended"]})
    assert "proof until 3 years" in str(err.value)


async def test_kopru_purge_dry_run_cli(aged):
    from kopru_tools.cli import main

    t, _, sms = aged
    import asyncio

    out = io.StringIO()
    with redirect_stdout(out):  # the command runs its own event loop, as from a shell
        assert await asyncio.to_thread(main, ["purge", "--dry-run", "--tenant", str(t["id"])]) == 0
    rep = json.loads(out.getvalue())
    assert rep["dry_run"] is True and rep["rows"] == 5
    assert {(o["table"], o["action"], o["rows"]) for o in rep["outcomes"] if o["rows"]} == {
        ("sms_messages", "delete", 2), ("consents", "clear", 2), ("consents", "delete", 1)}


async def test_the_function_purges_on_its_schedule_tick(aged, client, db):
    """A Knative PingSource tick (binary mode) wakes retention-purge; the OpenFaaS
    cron-connector's plain POST does the same."""
    t, ids, sms = aged
    r = await client("retention-purge").post("/", content=b"", headers={
        "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/apis/v1/namespaces/kopru/pingsources/x",
        "ce-type": "dev.knative.sources.ping", "content-type": "application/json", **sender_auth("retention-purge")})
    assert r.status_code == 200, r.text
    assert r.json()["complete"] is True and r.json()["rows"] >= 5
    # the tick then anchors every audit chain's head outside PostgreSQL
    assert r.json()["anchor"]["chains"] >= 1 and "error" not in r.json()["anchor"]
    assert _state(db, t["id"])["sms"] == {sms[89]}
    [(data, source, _)] = _purged_events(db, t["id"])
    assert source == "/kopru/retention-purge" and data["rows"] == 5
    r = await client("retention-purge").post("/", content=b"", headers={"X-Topic": "cron-function",
                                                                              **sender_auth("retention-purge")})
    assert r.status_code == 200 and r.json()["complete"] is True


TICK_IN_A_FRESH_PROCESS = textwrap.dedent('''
    import asyncio, json, sys, traceback

    first = []

    class Spy:  # where SQLAlchemy was first imported from, should it be
        def find_spec(self, name, path=None, target=None):
            if name == "sqlalchemy" and not first:
                first.append("".join(traceback.format_stack(limit=25)))
            return None

    sys.meta_path.insert(0, Spy())
    from kopru.runtime.registry import function_sources, load_module

    mod = load_module(function_sources()["retention-purge"])

    async def tick():
        from starlette.requests import Request

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        headers = [(k.lower().encode(), v.encode()) for k, v in json.loads(sys.argv[1]).items()]
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
        resp = await mod.handle(Request(scope, receive))
        return resp.status_code, json.loads(resp.body)

    status, body = asyncio.run(tick())
    print(json.dumps({"status": status, "body": body, "first_import": first[0] if first else None,
                      "sqlalchemy": sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy")[:5]}))
''')


async def test_the_tick_loads_no_sqlalchemy(aged, onboard, services, db, monkeypatch, tmp_path):
    """The function's first request, a tick in a fresh interpreter, purges, re-seals subject
    keys under a new key epoch and anchors the audit chains with plain SQL only: SQLAlchemy
    (~120 ms and ~10 MiB on a cold start) is never imported."""
    import asyncio
    import base64

    from kopru.auth.crypto import master_key
    from kopru.config import reset_settings
    from kopru.kvkk import epochs, find_or_create_subject

    t, ids, sms = aged
    # a key store of this test's own, whose only epoch ended an hour ago: the tick's rotation
    # starts the next one and has a subject key to re-seal under it
    keys_dir = tmp_path / "key-store"
    monkeypatch.setenv("KOPRU_KEY_STORE", str(keys_dir))
    reset_settings()
    epochs.reset()
    try:
        now = datetime.now(ZoneInfo("UTC"))
        old = epochs.key_store().create(now - timedelta(days=2), now - timedelta(hours=1))
        mine = await onboard()
        async with tenant_transaction(mine["id"], actor="test") as tx:
            sid = (await find_or_create_subject(tx, {"phone": "05327770002"})).id
    finally:
        monkeypatch.delenv("KOPRU_KEY_STORE")
        reset_settings()
        epochs.reset()
    env = dict(os.environ, DATABASE_URL=services["app_url"], KOPRU_MASTER_KEY=base64.b64encode(master_key()).decode(),
               KOPRU_KEY_STORE=str(keys_dir))
    headers = {"X-Topic": "cron-function", **sender_auth("retention-purge")}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", TICK_IN_A_FRESH_PROCESS, json.dumps(headers)],
                                  env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["status"] == 200, res
    body = res["body"]
    # it did the work: the purge, the rotation (under the new epoch), the anchor
    assert body["complete"] is True and body["rows"] >= 5
    assert _state(db, t["id"])["sms"] == {sms[89]}
    [(data, _, _)] = _purged_events(db, t["id"])
    assert data["rows"] == 5
    keys = body["keys"]
    assert keys["created"] is True and keys["current"]["id"] != old.id and keys["moved"] >= 1, keys
    assert db.execute("select key_epoch from data_subjects where id = %s", (str(sid),)).fetchone()[0] \
        == keys["current"]["id"]
    assert body["anchor"]["chains"] >= 1 and "error" not in body["anchor"]
    # ... and SQLAlchemy stayed out
    assert res["sqlalchemy"] == [], res["first_import"]


def test_app_role_cannot_touch_destruction_records(services, aged):
    with psycopg.connect(services["app_url"].replace("+psycopg", ""), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from destruction_records")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from breaches")


def test_batches_adapt_to_keep_locks_short():
    from kopru.kvkk.purge import MAX_BATCH, MIN_BATCH, next_batch

    assert next_batch(1000, 90.0, 40.0) == 500      # too long: halve
    assert next_batch(1000, 10.0, 40.0) == 1500     # well under: grow by half
    assert next_batch(1000, 30.0, 40.0) == 1000     # near the target: keep
    assert next_batch(MIN_BATCH, 500.0, 40.0) == MIN_BATCH
    assert next_batch(MAX_BATCH, 1.0, 40.0) == MAX_BATCH


@pytest.mark.parametrize("now", [
    datetime(2028, 2, 29, 3, 0, tzinfo=ZoneInfo("Europe/Istanbul")),     # a leap day: 3- and 10-year holds
    datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),       # in the spring-forward gap
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),  # the autumn hour twice
    datetime(2027, 11, 7, 1, 30, tzinfo=ZoneInfo("America/New_York")),   # a tenant's zone with DST
])
async def test_the_purge_completes_every_rule_on_leap_days_and_dst_nights(aged, now):
    """Every rule's cutoff is computed and run (a dry run: the consent-proof trigger uses the
    database's own clock) on the days the calendar is odd."""
    from kopru.kvkk.purge import purge, rules

    t, _, _ = aged
    rep = await purge(dry_run=True, tenant_id=t["id"], now=now)
    assert rep.complete and {o.rule for o in rep.outcomes} == {r.rule for r in rules()}
    for o, r in zip(rep.outcomes, rules()):
        assert o.cutoff <= now and (now - o.cutoff).days >= r.days + 365 * r.hold_years - r.hold_years // 4 - 1


def test_years_before_is_total_and_keeps_the_calendar_day():
    """Property: for any instant in any zone and any number of years, the same wall-clock
    day (28 February for a leap day in a common year), never raising."""
    import calendar

    from hypothesis import given, settings as hsettings, strategies as st

    from kopru.text import years_before

    zones = st.sampled_from(["Europe/Istanbul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                             "Asia/Kathmandu", "Pacific/Chatham", "UTC"])

    @hsettings(max_examples=400, deadline=None)
    @given(st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 12, 31)), zones,
           st.integers(min_value=0, max_value=40))
    def check(naive, zone, n):
        dt = naive.replace(tzinfo=ZoneInfo(zone))
        got = years_before(dt, n)
        assert got.year == dt.year - n and got.month == dt.month and got.tzinfo is dt.tzinfo
        leap_day_lost = dt.month == 2 and dt.day == 29 and not calendar.isleap(dt.year - n)
        assert got.day == (28 if leap_day_lost else dt.day)
        assert (got.hour, got.minute, got.second) == (dt.hour, dt.minute, dt.second)
        assert got <= dt + timedelta(hours=3)  # never later than now (a DST offset at most)

    check()


def test_every_rule_has_a_cutoff_on_any_day_in_any_zone():
    """Property: each purge rule's cutoff, for any instant (leap days and DST nights
    included: Hypothesis is pointed at them) in any zone a tenant may pick, is computed
    without raising, lies before `now` by at least the rule's days and hold years (a leap
    day short at most), and is aware."""
    from hypothesis import example, given, settings as hsettings, strategies as st

    from kopru.kvkk.purge import rules

    zones = st.sampled_from(["Europe/Istanbul", "Europe/Berlin", "America/New_York", "America/Sao_Paulo",
                             "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham", "Africa/Casablanca", "UTC"])

    @hsettings(max_examples=300, deadline=None)
    @given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31)), zones, st.booleans())
    @example(datetime(2028, 2, 29, 3, 0), "Europe/Istanbul", False)
    @example(datetime(2028, 2, 29, 23, 59, 59), "Pacific/Chatham", False)
    @example(datetime(2026, 3, 29, 2, 30), "Europe/Berlin", False)  # in the spring-forward gap
    @example(datetime(2026, 10, 25, 2, 30), "Europe/Berlin", True)  # the autumn hour, second time
    @example(datetime(2027, 3, 14, 2, 30), "America/New_York", False)
    def check(naive, zone, fold):
        now = naive.replace(tzinfo=ZoneInfo(zone), fold=int(fold))
        for r in rules():
            cut = r.cutoff(now)
            assert cut.tzinfo is now.tzinfo
            # the instant is earlier (a DST hour at most aside) ...
            assert cut.astimezone(ZoneInfo("UTC")) <= now.astimezone(ZoneInfo("UTC")) + timedelta(hours=1)
            # ... by the rule's calendar: days exactly, and whole years with their leap days
            # (same zone: Python subtracts wall-clock times)
            span = now - cut
            base = r.days + 365 * r.hold_years
            if r.hold_years == 0:
                assert span == timedelta(days=r.days)
            else:
                assert timedelta(days=base + r.hold_years // 4 - 1) <= span <= timedelta(days=base + r.hold_years // 4 + 1)

    check()
