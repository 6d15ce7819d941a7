"""data-export and data-erasure end to end on the real parts: PostgreSQL, the Netgsm
simulator over HTTP, a real Kafka broker holding the events, the local export store
and (in test_export_s3) S3 on a moto server.

What must hold: an export holds every registered item of the subject and nothing of
another subject or tenant; after an erasure a new export holds only what legal holds
keep, the old export is gone, and replaying the subject's old Kafka events shows and
does nothing personal."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from kopru.kvkk.register import REGISTER
from tests.helpers import bearer
from tests.kvkk.conftest import PHONE, consent_body

OTHER_PHONE = "+905551112233"
SMS_TEXT = "Siparişiniz kargoya verildi, takip no 4711."


class Tee:
    """The relay's publisher: every record to the real Kafka broker, then to the
    in-process bus that runs the consumers (so the topics keep what a replay reads)."""

    def __init__(self, kafka_pub, bus):
        self.kafka_pub, self.bus = kafka_pub, bus

    async def publish_batch(self, records) -> None:
        await self.kafka_pub.publish_batch(records)
        await self.bus.publish_batch(records)


@pytest.fixture
async def pump(apps, kafka):
    from kopru_tools.bus import InProcessBus
    from kopru.events.relay import KafkaPublisher, Relay
    from kopru_tools.eventing import asgi_senders

    pub = KafkaPublisher(kafka["bootstrap"])
    await pub.start()
    bus = InProcessBus(asgi_senders(dict(apps)))
    relay = Relay(Tee(pub, bus))

    async def drain():
        while await relay.run_once():
            pass
        assert bus.dead_letters == [], bus.dead_letters

    yield drain
    await relay.dispose()
    await pub.stop()


async def tenant_records(bootstrap: str, tenant_id) -> list:
    """Every record of the tenant on the topics that may carry the subject, from the start."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        from kopru.events.catalog import load_catalog

        topics = load_catalog().topics
        tps = [TopicPartition(t, p) for t in ("kopru.sms", "kopru.consent", "kopru.kvkk")
               for p in range(topics[t].partitions)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        out = []
        async def behind() -> bool:
            return any([await c.position(tp) < end[tp] for tp in tps])

        while await behind():
            for recs in (await c.getmany(timeout_ms=500)).values():
                out.extend(r for r in recs if r.key == str(tenant_id).encode())
    finally:
        await c.stop()
    return out


def _link_path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path.startswith("/function/data-export/exports/")
    return parts.path.removeprefix("/function/data-export") + "?" + parts.query


async def _export(client, pump, token, subject) -> tuple[dict, dict]:
    r = await client("data-export").post("/exports", json={"subject": subject}, headers=bearer(token))
    assert r.status_code == 202, r.text
    opened = r.json()
    assert opened["status"] == "pending" and opened["due_at"].endswith("+03:00")
    await pump()
    got = (await client("data-export").get(f"/exports/{opened['id']}", headers=bearer(token))).json()
    assert got["status"] == "ready" and got["url"], got
    d = await client("data-export").get(_link_path(got["url"]))
    assert d.status_code == 200 and "attachment" in d.headers["content-disposition"]
    return got, d.json()


async def _setup(client, pump, sms_tenant, onboard, consents_api):
    """The subject: a consent (phone + e-mail), a sent SMS; beside it another subject of
    the same tenant and the same phone at another tenant."""
    r = await consents_api.record(sms_tenant["token"], headers={"User-Agent": "Mozilla/5.0 (kvkk-test)"})
    assert r.status_code == 201, r.text
    consent = r.json()
    other = await consents_api.record(sms_tenant["token"], consent_body(subject={"phone": OTHER_PHONE}, iys=None))
    assert other.status_code == 201
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]),
                                      json={"to": PHONE, "message": SMS_TEXT, "kind": "transactional"})
    assert r.status_code == 202, r.text
    sms_id = r.json()["id"]
    b = await onboard()
    b_consent = await consents_api.record(b["token"])
    assert b_consent.status_code == 201
    await pump()
    return consent, other.json(), sms_id, b, b_consent.json()


async def test_export_holds_every_registered_item_and_nothing_else(client, pump, sms_tenant, onboard, consents_api, db):
    consent, other, sms_id, b, b_consent = await _setup(client, pump, sms_tenant, onboard, consents_api)
    got, doc = await _export(client, pump, sms_tenant["token"], {"phone": "0532 123 45 67"})

    assert doc["format"] == "kopru.kvkk.export.v1"
    assert doc["subject"] == {"id": consent["subject_id"], "phone": PHONE, "email": "ayse@example.com", "tckn": None, "erased": False}
    # every customer table of the register is walked
    assert set(doc["records"]) == {t.name for t in REGISTER if t.subject.kind == "customer"}
    [c] = doc["records"]["consents"]
    assert c["id"] == consent["id"] and c["ip"] == "127.0.0.1" and c["user_agent"] == "Mozilla/5.0 (kvkk-test)"
    assert doc["consent_texts"][c["text_sha256"]] == consent_body()["consent_text"]
    [s] = doc["records"]["sms_messages"]
    assert s["id"] == sms_id and s["body"] == SMS_TEXT and s["status"] == "sent"
    assert [a["action"] for a in doc["audit"]][:1] == ["consent.recorded"]
    assert "kvkk.export.requested" in [a["action"] for a in doc["audit"]]
    [tp] = doc["third_parties"]
    assert tp["recipient"].startswith("Netgsm") and tp["records"] == 1 and tp["source"] == "sms_messages"
    assert "Netgsm" in doc["summary_tr"] and "6698" in doc["summary_tr"]
    assert doc["controller"]["name"] == sms_tenant["tenant"]["name"]
    # nothing of the other subject, nothing of tenant B
    raw = json.dumps(doc, ensure_ascii=False)
    for foreign in (OTHER_PHONE, other["subject_id"], other["id"], b_consent["id"], b_consent["subject_id"], str(b["id"])):
        assert foreign not in raw
    # the due date: 30 days on, end of that day in Istanbul
    row = db.execute("select requested_at, due_at from subject_requests where id = %s", (got["id"],)).fetchone()
    from kopru.kvkk.applications import due_at

    assert row[1] == due_at(row[0]) and got["due_date"] == due_at(row[0]).date().isoformat()
    # the event says where nothing personal is
    ev = db.execute("select data from outbox where type = 'kopru.export.ready.v1' and subject = %s", (got["id"],)).fetchone()
    assert ev[0]["bytes"] > 0 and "url" not in ev[0] and PHONE not in json.dumps(ev[0])


async def test_export_link_is_signed_bound_and_limited(client, pump, sms_tenant, consents_api, monkeypatch):
    r = await consents_api.record(sms_tenant["token"])
    assert r.status_code == 201
    got, _ = await _export(client, pump, sms_tenant["token"], {"id": r.json()["subject_id"]})
    path = _link_path(got["url"])
    q = parse_qs(urlsplit(path).query)
    fn = client("data-export")
    tampered = path.replace(f"s={q['s'][0]}", "s=" + ("A" * len(q["s"][0])))
    r = await fn.get(tampered)
    assert r.status_code == 403 and r.json()["code"] == "kvkk.link_invalid"
    # the same signed key under another request's path opens nothing
    r = await fn.get(path.replace(got["id"], str(uuid.uuid4())))
    assert r.status_code == 403
    # an expired link: a valid signature over a past expiry
    from kopru.kvkk.store import sign_link

    key = q["k"][0]
    past = int(datetime.now(timezone.utc).timestamp()) - 1
    r = await fn.get(f"/exports/{got['id']}/download", params={"k": key, "e": past, "s": sign_link(key, past)})
    assert r.status_code == 403 and r.json()["code"] == "kvkk.link_invalid"


async def test_erasure_keeps_only_what_legal_holds_keep_and_replays_reveal_nothing(
        client, pump, sms_tenant, onboard, consents_api, db, kafka, apps, netgsm):
    consent, other, sms_id, b, _ = await _setup(client, pump, sms_tenant, onboard, consents_api)
    old_export, _ = await _export(client, pump, sms_tenant["token"], {"email": "AYSE@example.com"})
    subject_id = consent["subject_id"]

    r = await client("data-erasure").post("/erasures", json={"subject": {"phone": PHONE}}, headers=bearer(sms_tenant["token"]))
    assert r.status_code == 202, r.text
    erasure_id = r.json()["id"]
    await pump()
    er = (await client("data-erasure").get(f"/erasures/{erasure_id}", headers=bearer(sms_tenant["token"]))).json()
    assert er["status"] == "completed", er
    rep = er["report"]
    assert rep["key_destroyed"] is True and rep["consents_withdrawn"] == 1
    [kept] = rep["kept"]
    assert kept["table"] == "consents" and kept["hold"] == "commercial_message_consent_proof" and kept["rows"] == 1
    withdrawn_at = db.execute("select withdrawn_at from consents where id = %s", (consent["id"],)).fetchone()[0]
    assert datetime.fromisoformat(kept["until"]).year == withdrawn_at.year + 3
    [tp] = rep["third_parties"]
    assert tp["recipient"].startswith("Netgsm") and tp["notified"] is False and tp["how"] == "no erasure API"
    assert {c["table"] for c in rep["cleared"]} >= {"data_subjects", "consents", "sms_messages"}
    assert PHONE not in json.dumps(er) and "ayse" not in json.dumps(er)
    # what the erasure cannot reach at once is said, with its bound: the planned end of the key epoch the
    # subject key was sealed under + KOPRU_BACKUP_RETENTION_DAYS (30 by default), at most epoch length
    # (KOPRU_KEY_EPOCH_DAYS, 7) + retention after the erasure (kopru.kvkk.epochs; tests/kvkk/test_key_epochs.py)
    copies = rep["copies"]
    done = datetime.fromisoformat(rep["completed_at"])
    assert copies["backup_retention_days"] == 30 and copies["within_periodic_destruction"] is True
    assert copies["key_epoch_days"] == 7 and copies["pre_epoch_copies"] is False and copies["key_store"] == "local"
    until = datetime.fromisoformat(copies["backups_may_hold_key_until"])
    assert until - datetime.fromisoformat(copies["key_epoch_ends_at"]) == timedelta(days=30)
    assert timedelta(days=30) < until - done <= timedelta(days=37)
    assert "yedek" in copies["tr"] and "backup" in copies["en"] and copies["key_epoch"] in copies["en"]

    # the store: the old export is gone, its link says so
    old = await client("data-export").get(f"/exports/{old_export['id']}", headers=bearer(sms_tenant["token"]))
    assert old.json()["status"] == "expired" and old.json()["url"] is None
    r = await client("data-export").get(_link_path(old_export["url"]))
    assert r.status_code == 410 and r.json()["code"] == "kvkk.export_gone"
    # the database: key, indexes and every non-held field gone; the other subject untouched
    row = db.execute("select wrapped_key, phone_bidx, email_bidx, phone_enc, email_enc, key_destroyed_at "
                     "from data_subjects where id = %s", (subject_id,)).fetchone()
    assert row[:5] == (None,) * 5 and row[5] is not None
    assert db.execute("select body_enc from sms_messages where id = %s", (sms_id,)).fetchone() == (None,)
    assert db.execute("select ip_enc, user_agent_enc, purpose from consents where id = %s",
                      (consent["id"],)).fetchone() == (None, None, "marketing")
    assert db.execute("select wrapped_key is not null from data_subjects where id = %s",
                      (other["subject_id"],)).fetchone()[0]

    # a new export (by the subject id: the identifiers no longer find it) holds only held items
    _, doc = await _export(client, pump, sms_tenant["token"], {"id": subject_id})
    assert doc["subject"]["erased"] is True and doc["subject"]["phone"] is None and doc["subject"]["email"] is None
    raw = json.dumps(doc, ensure_ascii=False)
    assert PHONE not in raw and "5321234567" not in raw and "ayse@example.com" not in raw and SMS_TEXT not in raw
    for t in REGISTER:
        for item in doc["records"].get(t.name, []):
            for col in t.columns:
                name = col.name.removesuffix("_enc")
                if col.erasure.action != "keep" and name in item:
                    assert item[name] is None, (t.name, name)
    [c] = doc["records"]["consents"]
    assert c["purpose"] == "marketing" and c["withdrawn_at"] is not None  # the proof, kept under its hold

    # a second erasure has nothing left to do
    r = await client("data-erasure").post("/erasures", json={"subject": {"id": subject_id}}, headers=bearer(sms_tenant["token"]))
    assert r.status_code == 409 and r.json()["code"] == "kvkk.subject_erased"

    # Kafka: the subject's old events carry nothing personal in clear …
    records = await tenant_records(kafka["bootstrap"], sms_tenant["id"])
    mine = [r for r in records if subject_id.encode() in r.value or sms_id.encode() in r.value]
    types = {dict(r.headers)["ce_type"].decode() for r in mine}
    assert {"kopru.consent.recorded.v1", "kopru.sms.requested.v1", "kopru.sms.sent.v1",
            "kopru.erasure.requested.v1", "kopru.export.requested.v1"} <= types
    for r in records:
        blob = r.value + b"".join(v for _, v in r.headers)
        for secret in (PHONE.encode(), b"5321234567", b"ayse@example.com", SMS_TEXT.encode()):
            assert secret not in blob
    # … and replaying them (as they were, and as new events a consumer never saw) does nothing personal
    from kopru_tools.bus import InProcessBus
    from kopru_tools.eventing import asgi_senders

    sent_before = len(netgsm.messages)
    outbox_before = db.execute("select count(*) from outbox where tenant_id = %s", (str(sms_tenant["id"]),)).fetchone()[0]
    bus = InProcessBus(asgi_senders(dict(apps)))
    for fresh in (False, True):
        batch = []
        for r in mine:
            headers = [(k, str(uuid.uuid4()).encode()) if fresh and k == "ce_id" else (k, v) for k, v in r.headers]
            batch.append((r.topic, r.key, headers, r.value))
        await bus.publish_batch(batch)
    assert bus.dead_letters == []
    assert len(netgsm.messages) == sent_before
    assert db.execute("select count(*) from outbox where tenant_id = %s", (str(sms_tenant["id"]),)).fetchone()[0] == outbox_before
    assert db.execute("select count(*) from subject_requests where subject_id = %s and status = 'ready'",
                      (subject_id,)).fetchone()[0] == 1  # the post-erasure export only


async def test_export_to_s3_with_a_presigned_link(client, pump, sms_tenant, consents_api, monkeypatch, tmp_path):
    """The S3 store, on a moto server over HTTP: the object is written with server-side
    encryption and the link is a SigV4 presigned GET of limited life."""
    import socket

    import boto3
    import httpx
    from moto.server import ThreadedMotoServer

    from kopru.kvkk.store import reset_store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for k, v in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                     "AWS_DEFAULT_REGION": "eu-central-1", "KOPRU_EXPORT_STORE": "s3://kvkk-exports/tr",
                     "KOPRU_EXPORT_LINK_TTL": "3600"}.items():
            monkeypatch.setenv(k, v)
        reset_store()
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1")
        s3.create_bucket(Bucket="kvkk-exports", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        r = await consents_api.record(sms_tenant["token"])
        r = await client("data-export").post("/exports", json={"subject": {"id": r.json()["subject_id"]}},
                                             headers=bearer(sms_tenant["token"]))
        export_id = r.json()["id"]
        await pump()
        got = (await client("data-export").get(f"/exports/{export_id}", headers=bearer(sms_tenant["token"]))).json()
        url = urlsplit(got["url"])
        q = parse_qs(url.query)
        assert url.netloc == f"127.0.0.1:{port}" and url.path == f"/kvkk-exports/tr/{sms_tenant['id']}/{export_id}.json"
        assert q["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and 3500 <= int(q["X-Amz-Expires"][0]) <= 3600
        doc = httpx.get(got["url"]).json()
        assert doc["subject"]["phone"] == PHONE
        head = s3.head_object(Bucket="kvkk-exports", Key=f"tr/{sms_tenant['id']}/{export_id}.json")
        assert head["ServerSideEncryption"] == "AES256"
        # (moto does not check signatures, so a forged one is not tried here: S3 itself refuses it)
        # the purge, once the link has expired, deletes the object
        from kopru.kvkk.purge import purge

        db_now = datetime.now(timezone.utc)
        rep = await purge(tenant_id=sms_tenant["id"], now=db_now.replace(year=db_now.year + 1))
        assert any(o.table == "subject_requests" and o.action == "delete_object" and o.rows == 1 for o in rep.outcomes)
        assert s3.list_objects_v2(Bucket="kvkk-exports").get("KeyCount", 0) == 0
    finally:
        reset_store()
        server.stop()


@pytest.mark.parametrize("body,status,code", [
    ({"subject": {"phone": "+905559998877"}}, 404, "subject.not_found"),
    ({"subject": {"id": str(uuid.uuid4())}}, 404, "subject.not_found"),
    ({"subject": {}}, 422, "subject.identifier_missing"),
    ({"subject": "0532 123 45 67"}, 422, "request.validation_failed"),
    ({"subject": {"id": "not-a-uuid"}}, 422, "request.validation_failed"),
    ({"subject": {"phone": PHONE}, "tenant_id": str(uuid.uuid4())}, 422, "request.validation_failed"),
    ({"subject": {"phone": 5321234567}}, 422, "request.validation_failed"),
])
@pytest.mark.parametrize("fn,path", [("data-export", "/exports"), ("data-erasure", "/erasures")])
async def test_bad_applications_are_refused_and_write_nothing(client, onboard, consents_api, db, fn, path, body,
                                                              status, code):
    t = await onboard()
    assert (await consents_api.record(t["token"])).status_code == 201
    before = db.execute("select (select count(*) from subject_requests where tenant_id = %s), "
                        "(select count(*) from outbox where tenant_id = %s)", (str(t["id"]),) * 2).fetchone()
    r = await client(fn).post(path, json=body, headers=bearer(t["token"]))
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert PHONE not in r.text and "5559998877" not in r.text
    after = db.execute("select (select count(*) from subject_requests where tenant_id = %s), "
                       "(select count(*) from outbox where tenant_id = %s)", (str(t["id"]),) * 2).fetchone()
    assert after == before


async def test_application_edge_cases(client, onboard, consents_api, db):
    t = await onboard()
    assert (await consents_api.record(t["token"])).status_code == 201
    fn = client("data-export")
    r = await fn.post("/exports", content=b'{"subject": {"phone": ', headers={**bearer(t["token"]),
                                                                               "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "request.malformed_json"
    r = await fn.post("/exports", json={"subject": {"phone": PHONE}})
    assert r.status_code == 401
    r = await fn.post("/exports", content=b"{" + b" " * (17 * 1024) + b"}", headers={**bearer(t["token"]),
                                                                                    "Content-Type": "application/json"})
    assert r.status_code == 413
    # one open application of a kind per subject
    assert (await fn.post("/exports", json={"subject": {"phone": PHONE}}, headers=bearer(t["token"]))).status_code == 202
    r = await fn.post("/exports", json={"subject": {"phone": PHONE}}, headers=bearer(t["token"]))
    assert r.status_code == 409 and r.json()["code"] == "kvkk.request_open"
    # a client without kvkk:requests
    from kopru.admin import create_tenant_client_admin
    from tests.helpers import grant

    cid, secret = create_tenant_client_admin(t["id"], "sms only", ["sms:send"])
    tok = (await grant(client, cid, secret))["access_token"]
    r = await client("data-erasure").post("/erasures", json={"subject": {"phone": PHONE}}, headers=bearer(tok))
    assert r.status_code == 403 and r.json()["code"] == "auth.insufficient_scope"
    r = await fn.get(f"/exports/{uuid.uuid4()}", headers=bearer(t["token"]))
    assert r.status_code == 404 and r.json()["code"] == "kvkk.request_not_found"
    r = await fn.get("/exports/nope", headers=bearer(t["token"]))
    assert r.status_code == 404


def test_due_date_is_thirty_days_to_the_end_of_the_day_in_istanbul():
    from kopru.kvkk.applications import due_at

    # 22:30 UTC on 26 November is 01:30 on the 27th in Istanbul: the 30 days start there
    due = due_at(datetime(2026, 11, 26, 22, 30, tzinfo=timezone.utc))
    assert due.isoformat() == "2026-12-27T23:59:59.999999+03:00"
    due = due_at(datetime(2026, 11, 26, 20, 59, tzinfo=timezone.utc))
    assert due.date().isoformat() == "2026-12-26"


def test_the_copies_bound_follows_the_backup_retention_and_flags_one_past_the_regulation(monkeypatch, tmp_path):
    from kopru.config import reset_settings
    from kopru.kvkk import epochs
    from kopru.kvkk.applications import copies_bound

    now = datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("KOPRU_BACKUP_RETENTION_DAYS", "400")
    monkeypatch.setenv("KOPRU_KEY_STORE", str(tmp_path / "keys"))
    reset_settings()
    epochs.reset()
    try:
        e = epochs.key_store().create(now - timedelta(days=2), now + timedelta(days=5))
        c = copies_bound(now, e.id)
        assert c["backup_retention_days"] == 400 and c["within_periodic_destruction"] is False
        assert datetime.fromisoformat(c["backups_may_hold_key_until"]) == now + timedelta(days=405)
        assert "aşıyor" in c["tr"] and "exceeds" in c["en"]
        # a key once kept in the pre-epoch form: said, without a date it could keep
        legacy = copies_bound(now, None, True)
        assert legacy["backups_may_hold_key_until"] is None and legacy["pre_epoch_copies"] is True
        assert "ana anahtar" in legacy["tr"] and "master key" in legacy["en"]
    finally:
        monkeypatch.delenv("KOPRU_BACKUP_RETENTION_DAYS")
        monkeypatch.delenv("KOPRU_KEY_STORE")
        epochs.reset()
        reset_settings()


async def test_metrics_count_kvkk_applications_per_tenant(client, apps, onboard, consents_api, db, monkeypatch):
    """kopru dev's /metrics after an export and an erasure: applications opened and completed
    per tenant and kind (completed late when past the due date), and the open and overdue
    gauges as the database counted them on opening, on completion and on a purge tick."""
    import re

    import httpx

    from kopru.config import reset_settings
    from kopru.kvkk.purge import purge
    from kopru_tools import metrics as tool_metrics
    from kopru_tools.gateway import Gateway
    from tests.helpers import drain

    monkeypatch.setenv("KOPRU_METRICS", "1")
    reset_settings()
    try:
        tool_metrics.setup()
        gw = httpx.AsyncClient(transport=httpx.ASGITransport(app=Gateway(dict(apps))), base_url="http://gw")
        t = await onboard()
        tid, h = str(t["id"]), bearer(t["token"])
        assert (await consents_api.record(t["token"])).status_code == 201

        async def value(name, **labels) -> float | None:
            text = (await gw.get("/metrics")).text
            for m in re.finditer(r"^%s\{(.*?)\} (\S+)$" % name, text, re.M):
                lb = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                if lb == {**lb, "tenant": tid, **labels}:
                    return float(m.group(2))
            return None

        async def open_(kind):
            r = await gw.post(f"/function/data-{kind}/{kind}s", headers=h, json={"subject": {"phone": PHONE}})
            assert r.status_code == 202, r.text
            return r.json()["id"]

        await open_("export")
        assert await value("kopru_kvkk_applications_opened_total", kind="export") == 1
        assert await value("kopru_kvkk_applications_open", kind="export") == 1
        assert await value("kopru_kvkk_applications_overdue", kind="export") == 0
        assert await value("kopru_kvkk_applications_open", kind="erasure") == 0
        await drain(apps)
        assert await value("kopru_kvkk_applications_completed_total", kind="export", late="false") == 1
        assert await value("kopru_kvkk_applications_open", kind="export") == 0
        # one that runs past its due date: overdue on the next purge tick, completed late
        late = await open_("export")
        db.execute("update subject_requests set due_at = now() - interval '1 day' where id = %s", (late,))
        await purge(tenant_id=t["id"])
        assert await value("kopru_kvkk_applications_overdue", kind="export") == 1
        assert await value("kopru_kvkk_applications_open", kind="export") == 1
        await drain(apps)
        assert await value("kopru_kvkk_applications_completed_total", kind="export", late="true") == 1
        assert await value("kopru_kvkk_applications_overdue", kind="export") == 0
        await open_("erasure")
        assert await value("kopru_kvkk_applications_opened_total", kind="erasure") == 1
        assert await value("kopru_kvkk_applications_open", kind="erasure") == 1
        await drain(apps)
        assert await value("kopru_kvkk_applications_completed_total", kind="erasure", late="false") == 1
        assert await value("kopru_kvkk_applications_open", kind="erasure") == 0
        assert await value("kopru_kvkk_applications_opened_total", kind="export") == 2
        assert PHONE[3:] not in (await gw.get("/metrics")).text
    finally:
        monkeypatch.undo()
        reset_settings()
