"""Calls through Bulutfon end to end, in process with the Bulutfon simulator over
loopback: a hangup webhook becomes one kopru.call.ended.v1 (delivered twice, or twice at
once: still one); only a verified webhook is taken (the tenant's signed URL and its HTTP
Basic credentials); the CDR sync run twice (and after the webhooks, and resumed after a
429) makes no duplicate record; an erasure of the caller clears the numbers and the
recording link; the purge deletes a call past its retention; a click-to-call is placed
once, and one whose answer was lost is found among the CDRs, never placed again."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.calls.conftest import HOOK_PASSWORD, HOOK_USER, LINE
from tests.helpers import bearer, drain

CALLER = "905321112233"


def events(db, tenant_id, type_: str) -> list[dict]:
    rows = db.execute("select data from outbox where tenant_id = %s and type = %s order by id",
                      (str(tenant_id), type_)).fetchall()
    return [r[0] for r in rows]


def records(db, tenant_id) -> list[tuple]:
    return db.execute("select bulutfon_uuid, caller_enc, callee_enc, recording_url_enc, subject_id, call_flow "
                      "from call_records where tenant_id = %s order by created_at", (str(tenant_id),)).fetchall()


async def test_a_hangup_webhook_becomes_one_ended_event_however_often_it_comes(pbx, db):
    uid = pbx.call_in(CALLER, answered=True)
    assert await pbx.push() == 2  # call_init, call_hangup
    tid = pbx.tenant["id"]
    [started] = events(db, tid, "kopru.call.started.v1")
    [ended] = events(db, tid, "kopru.call.ended.v1")
    assert ended["bulutfon_uuid"] == uid and ended["call_id"] == started["call_id"] and ended["direction"] == "IN"
    assert ended["hangup_cause"] == "NORMAL_CLEARING" and ended["subject_id"]
    assert events(db, tid, "kopru.call.missed.v1") == []
    # the events carry ids only: the caller's number stays in the record, sealed
    assert CALLER not in json.dumps(started) + json.dumps(ended)
    [(_, caller_enc, _, _, subject_id, _)] = records(db, tid)
    assert caller_enc is not None and CALLER.encode() not in bytes(caller_enc)

    # Bulutfon delivers the hangup again, and twice at the same moment: one event still
    hangup = next(b for b in pbx.sim.delivered if b["uuid"] == uid and b["event_type"] == "call_hangup")
    auth = (HOOK_USER, HOOK_PASSWORD)
    r = await pbx.client("calls").post(pbx.path, json=hangup, auth=auth)
    assert r.status_code == 200 and r.json()["repeated"] is True, r.text
    both = await asyncio.gather(*(pbx.client("calls").post(pbx.path, json=hangup, auth=auth) for _ in range(2)))
    assert [x.status_code for x in both] == [200, 200]
    assert len(events(db, tid, "kopru.call.ended.v1")) == 1 and len(records(db, tid)) == 1

    # a new call's hangup delivered twice at once, before anything of it was seen: one record, one event
    other = pbx.call_in("905324445566", answered=True)
    pbx.sim.reset()
    first = {**hangup, "uuid": other, "caller": 905324445566}
    both = await asyncio.gather(*(pbx.client("calls").post(pbx.path, json=first, auth=auth) for _ in range(2)))
    assert sorted(x.json()["repeated"] for x in both) == [False, True], [x.text for x in both]
    assert len([e for e in events(db, tid, "kopru.call.ended.v1") if e["bulutfon_uuid"] == other]) == 1
    r = await pbx.client("calls").get(f"/calls/{ended['call_id']}", headers=bearer(pbx.tenant["token"]))
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["caller"], got["callee"], got["direction"]) == (CALLER, LINE, "IN")


async def test_only_a_verified_webhook_is_taken(pbx, onboard, client, db):
    tid = pbx.tenant["id"]
    body = {"event_type": "call_hangup", "caller": 905321112233, "callee": int(LINE), "uuid": str(uuid.uuid4()),
            "direction": "IN", "timestamp": 1_800_000_000_000_000, "hangup_cause": "NORMAL_CLEARING"}
    good = (HOOK_USER, HOOK_PASSWORD)
    calls = pbx.client("calls")
    before = db.execute("select count(*) from outbox where tenant_id = %s", (str(tid),)).fetchone()[0]
    # no signature, a wrong one, another tenant's signature with this tenant's credentials: 403
    other = await onboard()
    from kopru.calls.service import webhook_signature

    for q in ("", f"?tenant={tid}", f"?tenant={tid}&sig=AAAA", f"?tenant={tid}&sig=%C3%BC%F0%9F%94%91", f"?tenant={tid}&sig={webhook_signature(other['id'])}",
              f"?tenant={other['id']}&sig={webhook_signature(other['id'])}"):  # signed, but no Bulutfon settings
        r = await calls.post("/calls/webhooks/bulutfon" + q, json=body, auth=good)
        assert (r.status_code, r.json()["code"]) == (403, "calls.webhook_forbidden"), (q, r.text)
    # the tenant's URL without its HTTP Basic credentials, or with wrong ones: 401
    for auth in (None, (HOOK_USER, "yanlis-parola-0123456789"), ("baska", HOOK_PASSWORD)):
        r = await calls.post(pbx.path, json=body, auth=auth)
        assert (r.status_code, r.json()["code"]) == (401, "calls.webhook_unauthorized"), (auth, r.text)
        assert r.headers["www-authenticate"].startswith("Basic")
    r = await calls.post(pbx.path, json=body, headers={"Authorization": "Basic !!!"})
    assert r.status_code == 401
    # bad bodies: a clear 4xx, nothing written, nothing echoed
    for raw, ctype, code in ((b"{", "application/json", "request.malformed_json"),
                             (b"[1]", "application/json", "calls.webhook_invalid"),
                             (json.dumps({**body, "uuid": "x y"}).encode(), "application/json", "calls.webhook_invalid"),
                             (json.dumps({**body, "caller": "ABC-secret"}).encode(), "application/json",
                              "calls.webhook_invalid"),
                             (json.dumps({**body, "hangup_cause": "A\u0000secret"}).encode(), "application/json",
                              "request.control_characters"),
                             (b"event_type=call_hangup&uuid=u1&hangup_cause=A%00secret",
                              "application/x-www-form-urlencoded", "request.control_characters"),
                             (b"[" * 5000, "application/json", "request.too_deep")):
        r = await calls.post(pbx.path, content=raw, headers={"Content-Type": ctype}, auth=good)
        assert r.status_code in (400, 422) and r.json()["code"] == code, (raw, r.text)
        assert "secret" not in r.text
    assert db.execute("select count(*) from outbox where tenant_id = %s", (str(tid),)).fetchone()[0] == before
    assert records(db, tid) == []
    # Bulutfon's other webhooks (a fax, a call reaching an extension) are answered and left alone
    r = await calls.post(pbx.path, json={**body, "event_type": "fax_init"}, auth=good)
    assert r.status_code == 200 and r.json()["accepted"] is False
    # form fields, as Bulutfon sends with x-www-form-urlencoded chosen: taken
    r = await calls.post(pbx.path, data={k: str(v) for k, v in body.items()}, auth=good)
    assert r.status_code == 200 and r.json()["event"] == "kopru.call.ended.v1", r.text
    assert len(records(db, tid)) == 1


def written(db, tenant_id) -> tuple[int, int, int]:
    """What a webhook writes: call records, subjects, events."""
    return tuple(db.execute(f"select count(*) from {t} where tenant_id = %s", (str(tenant_id),)).fetchone()[0]
                 for t in ("call_records", "data_subjects", "outbox"))


async def test_the_sender_is_verified_before_the_body_is_read(pbx, db):
    """An unverified webhook is refused by who sent it, whatever its body: one too large, not
    JSON, not UTF-8 or with a repeated key gets the 403/401, never a parse error (the body
    is not read before the URL and the HTTP Basic credentials are checked)."""
    tid = pbx.tenant["id"]
    calls = pbx.client("calls")
    good, bad = (HOOK_USER, HOOK_PASSWORD), (HOOK_USER, "yanlis-parola-0123456789")
    before = written(db, tid)
    form = "application/x-www-form-urlencoded"
    bodies = ((b"{", "application/json"), (b"\xff\xfe", "application/json"), (b"[" * 5000, "application/json"),
              (b"x" * (64 * 1024 + 1), "application/json"), (b"uuid=a&uuid=b&event_type=call_init", form),
              (b"uuid=a%FF", form), (b"y" * (64 * 1024 + 1), form))
    unsigned = f"/calls/webhooks/bulutfon?tenant={tid}"
    for raw, ctype in bodies:
        for url, auth, want in ((unsigned, good, (403, "calls.webhook_forbidden")),
                                (pbx.path, bad, (401, "calls.webhook_unauthorized")),
                                (pbx.path, None, (401, "calls.webhook_unauthorized"))):
            r = await calls.post(url, content=raw, headers={"Content-Type": ctype}, auth=auth)
            assert (r.status_code, r.json()["code"]) == want, (raw[:20], ctype, url, r.text)
    assert written(db, tid) == before
    # verified, the same bodies are what they are
    for raw, ctype, want in ((b"{", "application/json", (400, "request.malformed_json")),
                             (b"x" * (64 * 1024 + 1), "application/json", (413, "request.too_large")),
                             (b"y" * (64 * 1024 + 1), form, (413, "request.too_large"))):
        r = await calls.post(pbx.path, content=raw, headers={"Content-Type": ctype}, auth=good)
        assert (r.status_code, r.json()["code"]) == want, (raw[:20], r.text)
    assert written(db, tid) == before


async def test_a_form_webhook_with_a_repeated_key_is_refused_not_read_as_its_last_value(pbx, db):
    tid = pbx.tenant["id"]
    calls = pbx.client("calls")
    good = (HOOK_USER, HOOK_PASSWORD)
    before = written(db, tid)
    uid = str(uuid.uuid4())
    fields = [("event_type", "call_hangup"), ("caller", "905321112233"), ("callee", LINE), ("uuid", uid),
              ("direction", "IN"), ("timestamp", "1800000000000000"), ("hangup_cause", "NORMAL_CLEARING")]
    from urllib.parse import urlencode

    for extra in (("caller", "905329998877"), ("uuid", str(uuid.uuid4())), ("event_type", "missing_call")):
        raw = urlencode([*fields, extra]).encode()
        r = await calls.post(pbx.path, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"},
                             auth=good)
        assert (r.status_code, r.json()["code"]) == (422, "request.validation_failed"), (extra[0], r.text)
        assert "repeated" in r.json()["detail"] and "905329998877" not in r.text and uid not in r.text
    assert written(db, tid) == before
    # the same fields once each: taken
    r = await calls.post(pbx.path, content=urlencode(fields).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=good)
    assert r.status_code == 200 and r.json()["event"] == "kopru.call.ended.v1", r.text
    [(got_uuid, *_)] = records(db, tid)
    assert got_uuid == uid


async def test_cdr_sync_twice_makes_no_duplicate_and_meets_the_webhooks(pbx, db, monkeypatch):
    from kopru.calls import service

    tid = pbx.tenant["id"]
    heard = pbx.call_in(CALLER, answered=True, recording=True)
    await pbx.push()  # this one is known from its webhooks first
    uids = [heard] + [pbx.call_in(f"90532111{i:04d}", answered=i % 2 == 0) for i in range(6)]
    monkeypatch.setattr(service, "PAGE_LIMIT", 2)
    monkeypatch.setattr(service, "PAGES_PER_RUN", 2)
    # the first run reads two pages of two, and keeps where it stopped
    counts = await service.sync_tenant(tid)
    assert (counts["pages"], counts["records"], counts["new"]) == (2, 4, 3), counts
    cur = db.execute("select next_page, pass_started, since from call_sync_cursors where tenant_id = %s",
                     (str(tid),)).fetchone()
    assert cur[0] == 3 and cur[1] is not None
    # Bulutfon's limit stops the next run at once; the cursor stays
    pbx.sim.fail_next(429, endpoint="cdr.list")
    counts = await service.sync_tenant(tid)
    assert counts["pages"] == 0 and counts["stopped"] == 1
    assert db.execute("select next_page, last_code from call_sync_cursors where tenant_id = %s",
                      (str(tid),)).fetchone() == (3, "bulutfon.rate_limited")
    # resumed: the rest, then the pass is done; details (the call flow) read for each
    counts = await service.sync_tenant(tid)
    assert counts["records"] == 3 and counts["new"] == 3, counts
    assert db.execute("select next_page, pass_started from call_sync_cursors where tenant_id = %s",
                      (str(tid),)).fetchone() == (1, None)
    rows = records(db, tid)
    assert sorted(r[0] for r in rows) == sorted(uids)
    # and again, twice: nothing new, still one row per call
    for _ in range(2):
        counts = await service.sync_tenant(tid)
        assert counts["new"] == 0, counts
    monkeypatch.setattr(service, "DETAILS_PER_RUN", 100)
    await service.sync_tenant(tid)
    rows = records(db, tid)
    assert len(rows) == len(uids) == len({r[0] for r in rows})
    assert db.execute("select count(*) from call_records where tenant_id = %s and detail_synced_at is null",
                      (str(tid),)).fetchone()[0] == 0
    flows = [r[5] for r in rows]
    assert all(flows) and LINE not in json.dumps(flows) and CALLER not in json.dumps(flows)
    assert {s["redirection"] for f in flows for s in f} >= {"REDIRECTED_TO_EXTENSION"}
    # the call heard by webhook got its recording link from the sync; missed ones are marked
    r = await pbx.client("calls").get(f"/calls/{events(db, tid, 'kopru.call.ended.v1')[0]['call_id']}",
                                      headers=bearer(pbx.tenant["token"]))
    got = r.json()
    assert got["recording_url"].endswith(f"{heard}.mp3") and got["synced"] is True and got["caller"] == CALLER
    assert db.execute("select count(*) from call_records where tenant_id = %s and missed", (str(tid),)).fetchone()[0] == 3
    # the sync announces nothing (a first sync of history must not start workflows)
    assert len(events(db, tid, "kopru.call.ended.v1")) == 1
    # the schedule's own entry point walks every tenant the same way
    out = await service.sync_cdrs()
    assert out["sweep_errors"] == 0 and out["sweep_tenants"] >= 1
    # two syncs at the same moment (two ticks overlapping) over calls nobody has seen: one row each
    fresh = [pbx.call_in(f"90533222{i:04d}", answered=True) for i in range(4)]
    db.execute("update call_sync_cursors set next_page = 1, pass_started = null where tenant_id = %s", (str(tid),))
    monkeypatch.setattr(service, "PAGE_LIMIT", 100)
    both = await asyncio.gather(service.sync_tenant(tid), service.sync_tenant(tid))
    assert sum(c["new"] for c in both) == len(fresh), both
    rows = records(db, tid)
    assert len(rows) == len(uids) + len(fresh) == len({r[0] for r in rows})
    assert db.execute("select count(*) from data_subjects where tenant_id = %s", (str(tid),)).fetchone()[0] == \
        len(uids) + len(fresh)


async def test_an_erasure_of_the_caller_clears_the_numbers_and_the_recording_link(pbx, client, apps, db):
    from kopru.calls import service

    tid = pbx.tenant["id"]
    uid = pbx.call_in(CALLER, answered=False, recording=True)
    keep = pbx.call_in("905329998877", answered=True, recording=True)  # someone else: untouched
    await pbx.push()
    await service.sync_tenant(tid)
    [missed] = events(db, tid, "kopru.call.missed.v1")
    assert missed["bulutfon_uuid"] == uid
    r = await client("data-erasure").post("/erasures", json={"subject": {"phone": "+" + CALLER}},
                                          headers=bearer(pbx.tenant["token"]))
    assert r.status_code == 202, r.text
    erasure = r.json()["id"]
    await drain(apps, only=("data-erasure",))
    r = await client("data-erasure").get(f"/erasures/{erasure}", headers=bearer(pbx.tenant["token"]))
    rep = r.json()["report"]
    assert r.json()["status"] == "completed", r.text
    cleared = {c["table"]: c for c in rep["cleared"]}
    assert cleared["call_records"]["rows"] == 1 and cleared["call_records"]["action"] == "shredded"
    assert set(cleared["call_records"]["columns"]) == {"caller_enc", "callee_enc", "recording_url_enc"}
    assert any(tp["recipient"].startswith("Bulutfon") for tp in rep["third_parties"])
    row = db.execute("select caller_enc, callee_enc, recording_url_enc, hangup_time from call_records "
                     "where tenant_id = %s and bulutfon_uuid = %s", (str(tid), uid)).fetchone()
    assert row[:3] == (None, None, None) and row[3] is not None  # the call stays, whose it was does not
    r = await client("calls").get(f"/calls/{missed['call_id']}", headers=bearer(pbx.tenant["token"]))
    got = r.json()
    assert (got["caller"], got["callee"], got["recording_url"]) == (None, None, None)
    other = db.execute("select caller_enc, recording_url_enc from call_records where bulutfon_uuid = %s",
                       (keep,)).fetchone()
    assert None not in other
    # the call events never held the number or the link
    stored = json.dumps([r[0] for r in db.execute("select data from outbox where tenant_id = %s",
                                                  (str(tid),)).fetchall()])
    assert CALLER not in stored and ".mp3" not in stored
    # a webhook of that call arriving late, or the sync seeing it again, brings nothing back
    late = next(b for b in pbx.sim.delivered if b["uuid"] == uid and b["event_type"] == "call_hangup")
    r = await client("calls").post(pbx.path, json=late, auth=(HOOK_USER, HOOK_PASSWORD))
    assert r.status_code == 200
    db.execute("update call_sync_cursors set since = current_date - 1 where tenant_id = %s", (str(tid),))
    await service.sync_tenant(tid)
    assert db.execute("select caller_enc, recording_url_enc from call_records where bulutfon_uuid = %s",
                      (uid,)).fetchone() == (None, None)
    # sms.send to_call_caller now has nobody to text
    from kopru.auth.principal import TenantContext

    ctx = TenantContext(tid, "test", None)
    try:
        await service.caller_phone(ctx, uuid.UUID(missed["call_id"]))
        raise AssertionError("an erased caller has no number")
    except Exception as err:
        assert getattr(err, "code", None) == "kvkk.subject_erased"


async def test_the_purge_deletes_a_call_past_its_retention(pbx, db):
    from kopru.kvkk.purge import purge

    tid = pbx.tenant["id"]
    old, new = pbx.call_in(CALLER, answered=True), pbx.call_in("905320001122", answered=True)
    await pbx.push()
    db.execute("update call_records set call_time = now() - interval '181 days' where bulutfon_uuid = %s", (old,))
    report = await purge(tenant_id=tid)
    mine = [o for o in report.outcomes if o.table == "call_records"]
    assert sum(o.rows for o in mine) == 1 and mine[0].rule == "calls_180_days"
    assert [r[0] for r in records(db, tid)] == [new]


async def test_click_to_call_is_placed_once(pbx, db):
    tok = pbx.tenant["token"]
    calls = pbx.client("calls")
    body = {"callee": "0532 111 22 33", "destination": "1001"}
    r = await calls.post("/calls/bridges", json=body, headers={**bearer(tok), "Idempotency-Key": "ara-1"})
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "placed" and r.headers["location"] == f"/calls/bridges/{out['id']}"
    placed = [c for c in pbx.sim.calls if c.api_key == pbx.api_key and c.direction == "OUT"]
    assert len(placed) == 1 and placed[0].callee == CALLER and placed[0].caller == LINE
    # the same request again, and twice at once: the stored answer, no second call
    again = await asyncio.gather(*(calls.post("/calls/bridges", json=body,
                                              headers={**bearer(tok), "Idempotency-Key": "ara-1"}) for _ in range(2)))
    assert all(x.status_code == 202 and x.json()["id"] == out["id"] for x in again), [x.text for x in again]
    # a replay: the first answer again, said in Idempotent-Replayed (not in the body), with its Location
    assert "idempotent-replayed" not in r.headers and "replayed" not in out
    assert all(x.headers["idempotent-replayed"] == "true" and "replayed" not in x.json()
               and x.headers["location"] == r.headers["location"] for x in again)
    assert len([c for c in pbx.sim.calls if c.api_key == pbx.api_key and c.direction == "OUT"]) == 1
    r = await calls.get(f"/calls/bridges/{out['id']}", headers=bearer(tok))
    assert r.json()["status"] == "placed"
    # refused by Bulutfon (not one of the PBX's extensions): failed with its code, nothing placed
    r = await calls.post("/calls/bridges", json={**body, "destination": "9999"}, headers=bearer(tok))
    assert r.status_code == 202 and r.json()["status"] == "failed" and r.json()["error_code"] == "bulutfon.rejected"
    # bad input: a clear 422
    for bad, code in (({**body, "callee": "12"}, "request.validation_failed"),
                      ({**body, "callee": "not a number"}, "calls.invalid_number"),
                      ({**body, "destination": "1"}, "calls.destination_invalid")):
        r = await calls.post("/calls/bridges", json=bad, headers=bearer(tok))
        assert r.status_code == 422 and r.json()["code"] == code, (bad, r.text)


async def test_a_click_to_call_whose_answer_was_lost_is_found_not_placed_again(pbx, db, work_settings, monkeypatch):
    from kopru.calls.service import CallBridge
    from kopru.work import perform

    tid, tok = pbx.tenant["id"], pbx.tenant["token"]
    calls = pbx.client("calls")
    mine = lambda: [c for c in pbx.sim.calls if c.api_key == pbx.api_key and c.direction == "OUT"]  # noqa: E731
    # Bulutfon placed the call, the answer came back a 502: in doubt (`placing`), left for a retry
    pbx.sim.fail_next(502, endpoint="call-and-bridge", process=True)
    r = await calls.post("/calls/bridges", json={"callee": "+905321112233", "destination": "1001"}, headers=bearer(tok))
    assert r.status_code == 202 and r.json()["status"] == "placing", r.text
    bid = uuid.UUID(r.json()["id"])
    assert len(mine()) == 1
    # taken up again (a retry, the sweep): the call is found among the CDRs and recorded; no second call
    assert await perform(tid, CallBridge(tid, bid), actor="test") == "succeeded"
    assert len(mine()) == 1
    got = (await calls.get(f"/calls/bridges/{bid}", headers=bearer(tok))).json()
    assert got["status"] == "placed" and got["bulutfon_uuid"] == mine()[0].uuid
    assert db.execute("select code from outward_calls where ref = %s", (str(bid),)).fetchone()[0] == "reconciled"

    # a 500 before Bulutfon took it: nothing among the CDRs. Asked again later, then parked, never re-placed
    pbx.sim.fail_next(500, endpoint="call-and-bridge")
    r = await calls.post("/calls/bridges", json={"callee": "+905324445566", "destination": "1002"}, headers=bearer(tok))
    lost = uuid.UUID(r.json()["id"])
    assert r.json()["status"] == "placing" and len(mine()) == 1
    from kopru.errors import KopruError

    try:
        await perform(tid, CallBridge(tid, lost), actor="test")
        raise AssertionError("reconciling must wait")
    except KopruError as err:
        assert err.code == "bulutfon.unavailable"
    monkeypatch.setenv("KOPRU_BULUTFON_ABSENT_AFTER_SECONDS", "0")
    work_settings()
    assert await perform(tid, CallBridge(tid, lost), actor="test") == "unknown"
    assert await perform(tid, CallBridge(tid, lost), actor="test") == "done"
    assert len(mine()) == 1
    assert (await calls.get(f"/calls/bridges/{lost}", headers=bearer(tok))).json()["status"] == "unknown"
    [parked] = events(db, tid, "kopru.work.outcome_unknown.v1")
    assert parked["ref"] == str(lost) and parked["provider"] == "bulutfon"


async def test_the_connector_reads_bulutfons_answers(bulutfon):
    from datetime import date

    from kopru.connectors import bulutfon as bf

    key = "bf-conn-" + uuid.uuid4().hex
    bulutfon.add_account(key, [LINE])
    bulutfon.incoming_call(LINE, CALLER, api_key=key, recording=True)
    async with bf.BulutfonClient() as c:
        page = await c.cdrs(key, page=1, limit=5, start_date=date(2020, 1, 1), end_date=date(2100, 1, 1))
        assert page.total_pages == 1 and not page.has_next and len(page.cdrs) == 1
        cdr = page.cdrs[0]
        assert (cdr.caller, cdr.callee, cdr.direction) == (CALLER, LINE, "IN") and cdr.recording_url
        assert CALLER not in repr(cdr)
        detail = await c.cdr(key, cdr.uuid, cdr.call_time)
        assert detail.call_flow and detail.uuid == cdr.uuid
        for fn, code, kind in ((lambda: c.cdrs("wrong-key"), "credentials_invalid", bf.PermanentError),
                               (lambda: c.cdr(key, str(uuid.uuid4()), cdr.call_time), "not_found", bf.PermanentError)):
            try:
                await fn()
                raise AssertionError(code)
            except kind as err:
                assert err.code == code and key not in str(err)
        bulutfon.fail_next(429, endpoint="cdr.list")
        try:
            await c.cdrs(key)
            raise AssertionError("429")
        except bf.TransientError as err:
            assert err.code == "rate_limited" and not err.ambiguous
        bulutfon.fail_next(503, endpoint="call-and-bridge")
        try:
            await c.call_and_bridge(key, caller=LINE, callee=CALLER, destination="1001")
            raise AssertionError("503")
        except bf.TransientError as err:
            assert err.code == "server_error" and err.ambiguous


async def test_a_missed_call_workflow_texts_the_caller_once(pbx, client, apps, netgsm, db):
    """"On a missed call, sms.send to the caller": the missing_call webhook (delivered twice)
    makes one run and one SMS, to the caller's number, which the event never carried."""
    from tests.helpers import NETGSM_PASSWORD, NETGSM_USER

    t = pbx.tenant
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/netgsm", headers=bearer(t["token"]),
                                              json={"usercode": NETGSM_USER, "password": NETGSM_PASSWORD,
                                                    "msgheader": "KOPRU"})
    assert r.status_code == 200, r.text
    mark = "Sizi kaçırdık " + uuid.uuid4().hex[:6]
    flow = {"name": "Kaçan çağrıya SMS", "trigger": {"type": "kopru.call.missed.v1"},
            "steps": [{"action": "sms.send", "input": {
                "to_call_caller": "data.call_id", "message": {"const": mark + ", sizi hemen arayacağız."},
                "kind": {"const": "transactional"}}}]}
    r = await client("workflows").post("/workflows", json=flow, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    caller = "905327776655"
    uid = pbx.call_in(caller, answered=False)
    await pbx.push()
    pbx.sim.reset()
    missing = {"event_type": "missing_call", "caller": int(caller), "callee": int(LINE), "uuid": uid,
               "direction": "IN", "timestamp": 1_800_000_000_000_000}
    r = await client("calls").post(pbx.path, json=missing, auth=(HOOK_USER, HOOK_PASSWORD))
    assert r.status_code == 200 and r.json()["repeated"] is True  # Bulutfon's second delivery
    await drain(apps, only=("workflows", "sms-send"))
    sent = [m for m in netgsm.messages if mark in m.msg]
    assert len(sent) == 1 and sent[0].no == caller[2:], [m.no for m in sent]
    runs = (await client("workflows").get(f"/workflows/{wid}/runs", headers=bearer(t["token"]))).json()["runs"]
    assert [(x["status"], x["event_type"]) for x in runs] == [("succeeded", "kopru.call.missed.v1")]
    assert caller not in json.dumps(runs)
    # delivered again to the workflows function: still one run, one SMS
    await drain(apps, only=("workflows", "sms-send"))
    assert len([m for m in netgsm.messages if mark in m.msg]) == 1
    # the missed call names a person: its data goes only to a webhook endpoint registered for personal data
    from kopru.workflows.actions import _personal_triggers

    assert "kopru.call.missed.v1" in _personal_triggers()


async def test_a_missed_call_workflow_calls_the_customer_back_once(pbx, client, apps, db):
    """call.bridge from a workflow: the missed caller is called back once and bridged to
    an extension, however often the trigger is delivered."""
    t = pbx.tenant
    flow = {"name": "Kaçan çağrıyı geri ara", "trigger": {"type": "kopru.call.missed.v1"},
            "steps": [{"action": "call.bridge", "input": {"to_call_caller": "data.call_id",
                                                          "destination": {"const": "1002"}}}]}
    r = await client("workflows").post("/workflows", json=flow, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    caller = "905326667788"
    pbx.call_in(caller, answered=False)
    await pbx.push()
    for _ in range(2):
        await drain(apps, only=("workflows",))
    back = [c for c in pbx.sim.calls if c.api_key == pbx.api_key and c.direction == "OUT" and c.callee == caller]
    assert len(back) == 1 and back[0].destination == "1002"
    [run] = (await client("workflows").get(f"/workflows/{r.json()['id']}/runs",
                                           headers=bearer(t["token"]))).json()["runs"]
    assert run["status"] == "succeeded" and run["results"][0]["bridge_id"]


async def test_kopru_devs_simulator_finishes_a_call_on_its_own():
    """The dev simulator's lifecycle with nobody driving it: a customer calls (its control
    route), the call ends by itself, its webhooks reach the URL set in the "panel" with
    the HTTP Basic credentials, and its CDR is listed."""
    import base64
    import time

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from kopru_tools.simulators.bulutfon import DEV_API_KEY, dev_simulator, serve

    got: list[tuple[dict, str]] = []

    async def hook(request):
        got.append((await request.json(), request.headers.get("authorization", "")))
        return JSONResponse({"ok": True})

    sim = dev_simulator()
    sim.call_duration = 1.0
    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as rec, serve(sim) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as c:
            r = await c.post("/_simulator/webhooks", json={"apikey": DEV_API_KEY, "number": "908508850000",
                                                           "url": rec + "/hook", "username": "u", "password": "p"})
            assert r.status_code == 200, r.text
            r = await c.post("/_simulator/incoming-call", json={"number": "908508850000", "caller": CALLER,
                                                                "answered": False})
            uid = r.json()["uuid"]
            deadline = time.monotonic() + 10
            while len(got) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert sorted(b["event_type"] for b, _ in got) == ["call_hangup", "call_init", "missing_call"]
            assert {a for _, a in got} == {"Basic " + base64.b64encode(b"u:p").decode()}
            listed = (await c.get("/v2/cdr/list", params={"apikey": DEV_API_KEY})).json()["data"]
            assert [x["uuid"] for x in listed] == [uid] and listed[0]["missing_call"] is True
            seen = (await c.get("/_simulator/calls")).json()
            assert CALLER not in json.dumps(seen) and DEV_API_KEY not in json.dumps(seen)


async def test_call_events_go_only_to_webhook_endpoints_registered_for_personal_data(pbx, client, apps, db):
    """The call events name a person (subject_id): a tenant subscribes to them only on an
    endpoint registered for personal data, with its purpose (a KVKK disclosure)."""
    t = pbx.tenant
    body = {"url": "https://crm.example.com/kopru", "event_types": ["kopru.call.missed.v1", "kopru.call.ended.v1"]}
    r = await client("webhooks").post("/webhooks/endpoints", json=body, headers=bearer(t["token"]))
    assert (r.status_code, r.json()["code"]) == (422, "webhook.personal_data_undeclared"), r.text
    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(t["token"]), json={
        **body, "personal_data": True, "purpose": "Kaçan çağrıların CRM'de geri aranması"})
    assert r.status_code == 201, r.text
    pbx.call_in(CALLER, answered=False)
    await pbx.push()
    await drain(apps, only=("webhooks",))
    sent = db.execute("select event_type, body from webhook_deliveries where endpoint_id = %s order by created_at",
                      (r.json()["id"],)).fetchall()
    assert sorted(x[0] for x in sent) == ["kopru.call.ended.v1", "kopru.call.missed.v1"]
    assert all(CALLER not in x[1] for x in sent)


async def test_the_calls_list_a_page_at_a_time_each_as_its_own_read_shows_it(pbx, client, apps, onboard, db):
    from kopru.calls import service
    from tests.helpers import grant

    tid, tok = pbx.tenant["id"], pbx.tenant["token"]
    calls = pbx.client("calls")

    async def get(params=None, token=tok, lang="en"):
        return await calls.get("/calls", params=params or {}, headers={**bearer(token), "Accept-Language": lang})

    r = await get()
    assert r.status_code == 200 and r.json() == {"calls": [], "next_cursor": None}, r.text
    # five incoming calls by their webhooks (one caller twice), one click-to-call found by the CDR sync
    callers = [CALLER, "905324445566", CALLER, "905327778899", "905320001122"]
    for c in callers:
        pbx.call_in(c, answered=True, recording=True)
    await pbx.push()
    r = await calls.post("/calls/bridges", json={"callee": "+905321239876", "destination": "1001"}, headers=bearer(tok))
    assert r.status_code == 202 and r.json()["status"] == "placed", r.text
    await service.sync_tenant(tid)
    order = [str(x[0]) for x in db.execute("select id from call_records where tenant_id = %s "
                                           "order by created_at desc, id desc", (str(tid),)).fetchall()]
    assert len(order) == 6

    # limit=2: every call once, newest first, the last page says so
    seen, cursor, pages = [], None, 0
    while True:
        r = await get({"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["calls"]) <= 2
        seen += body["calls"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert [x["id"] for x in seen] == order and pages == 3
    whole = (await get()).json()
    assert [x["id"] for x in whole["calls"]] == order and whole["next_cursor"] is None
    # each item is exactly what GET /calls/{id} answers for it
    for item in seen:
        one = await calls.get(f"/calls/{item['id']}", headers=bearer(tok))
        assert one.status_code == 200 and one.json() == item, item["id"]
    assert sorted(x["caller"] for x in seen if x["direction"] == "IN") == sorted(callers)
    assert all(x["recording_url"] for x in seen if x["direction"] == "IN")

    # ?direction=: only that direction's calls; anything else is 422, not echoed
    r = await get({"direction": "OUT"})
    [out] = r.json()["calls"]
    assert out["direction"] == "OUT" and out["callee"] == "905321239876", r.text
    r = await get({"direction": "IN", "limit": 3})
    assert [x["id"] for x in r.json()["calls"]] == [i for i in order if i != out["id"]][:3]
    inbound = r.json()["next_cursor"]
    r = await get({"direction": "IN", "limit": 3, "cursor": inbound})
    assert [x["id"] for x in r.json()["calls"]] == [i for i in order if i != out["id"]][3:]
    for bad in ("in", "SIDEWAYS-secret", ""):
        r = await get({"direction": bad})
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", (bad, r.text)
        assert "secret" not in r.text
    # a cursor is bound to its list: another direction's, or the unfiltered list's, is refused
    first = (await get({"limit": 1})).json()["next_cursor"]
    for params in ({"direction": "IN", "cursor": first}, {"direction": "OUT", "cursor": inbound}, {"cursor": inbound}):
        r = await get(params)
        assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor", (params, r.text)
    # forged or garbage cursors: 400 in both languages, never echoed; limits out of range: 422
    forged = first[:-2] + ("AA" if first[-2:] != "AA" else "BB")
    for bad in (forged, "bm90LWEtY3Vyc29y", "%%%", "x" * 600):
        for lang, word in (("tr", "imleci"), ("en", "cursor")):
            r = await get({"cursor": bad}, lang=lang)
            assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor", (bad, r.text)
            assert word in r.json()["title"] and bad[:20] not in r.text
    for limit in ("0", "101", "abc", "-1"):
        r = await get({"limit": limit})
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", (limit, r.text)

    # another tenant sees none of these calls, and a cursor of this tenant's list is none for its own
    other = await onboard()
    r = await get(token=other["token"])
    assert r.status_code == 200 and r.json() == {"calls": [], "next_cursor": None}
    r = await get({"cursor": first}, token=other["token"])
    assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor"
    # without calls:read: 403 before the handler
    lacking = await grant(client, pbx.tenant["client_id"], pbx.tenant["client_secret"], scope="calls:write")
    r = await get(token=lacking["access_token"])
    assert (r.status_code, r.json()["code"]) == (403, "auth.insufficient_scope"), r.text

    # the caller erased: both of that caller's calls list with numbers and recording link cleared,
    # exactly as their own reads show them; the other calls keep theirs
    r = await client("data-erasure").post("/erasures", json={"subject": {"phone": "+" + CALLER}}, headers=bearer(tok))
    assert r.status_code == 202, r.text
    await drain(apps, only=("data-erasure",))
    after = (await get()).json()["calls"]
    assert [x["id"] for x in after] == order
    erased = [x for x in after if x["subject_id"] == next(s["subject_id"] for s in seen if s["caller"] == CALLER)]
    assert len(erased) == 2
    assert all((x["caller"], x["callee"], x["recording_url"]) == (None, None, None) for x in erased)
    assert CALLER not in json.dumps(after)
    kept = [x for x in after if x not in erased]
    assert len(kept) == 4 and all(x["caller"] and x["callee"] for x in kept)
    for item in after:
        assert (await calls.get(f"/calls/{item['id']}", headers=bearer(tok))).json() == item
