"""The consent-record function end to end: record, withdraw, history; the SMS check;
every bad input a 4xx with its code and nothing written."""

import json
import logging
import uuid

import pytest

from kopru.db import tenant_transaction
from kopru.kvkk import active_consent, find_subject
from kopru.kvkk.subjects import decrypt_field, subject_key
from tests.helpers import bearer
from tests.kvkk.conftest import PHONE, PHONE_FORMS, consent_body, counts


def _problem(r, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text


async def test_consent_recorded_and_withdrawn_end_to_end(onboard, consents_api, db):
    t = await onboard()
    tid = str(t["id"])
    r = await consents_api.record(t["token"], headers={"User-Agent": "Mozilla/5.0 (test)"})
    assert r.status_code == 201, r.text
    out = r.json()
    cid = uuid.UUID(out["id"])
    assert out["purpose"] == "marketing" and out["expires_at"].endswith("+03:00")  # Europe/Istanbul
    assert PHONE not in r.text and "ayse" not in r.text

    row = db.execute("select subject_id, purpose, legal_basis, data_categories, channel, iys_type, iys_recipient_type, "
                     "iys_source, retention_days, expires_at - granted_at, withdrawn_at, ip_enc, user_agent_enc, "
                     "text_sha256 from consents where id = %s", (cid,)).fetchone()
    assert row[1:9] == ("marketing", "explicit_consent", ["contact"], "web", "MESAJ", "BIREYSEL", "HS_WEB", 365)
    assert row[9].days == 365 and row[10] is None
    text = db.execute("select text from consent_texts where tenant_id = %s and sha256 = %s", (tid, row[13])).fetchone()[0]
    assert text == consent_body()["consent_text"]
    # IP and user agent: only encrypted, under the subject's key
    async with tenant_transaction(t["id"], actor="test") as tx:
        key = await subject_key(tx, row[0])
    assert decrypt_field(key, row[0], f"consents.ip:{cid}", bytes(row[11])) == "127.0.0.1"
    assert decrypt_field(key, row[0], f"consents.user_agent:{cid}", bytes(row[12])) == "Mozilla/5.0 (test)"
    assert b"Mozilla" not in bytes(row[12])

    audit = db.execute("select action, target, details from audit_log where tenant_id = %s and target = %s order by seq",
                       (tid, str(cid))).fetchall()
    assert audit == [("consent.recorded", str(cid), {"subject_id": str(row[0])})]
    ev = db.execute("select data from outbox where tenant_id = %s and type = 'kopru.consent.recorded.v1'", (tid,)).fetchall()
    assert len(ev) == 1 and ev[0][0]["consent_id"] == str(cid) and ev[0][0]["subject_id"] == str(row[0])
    assert "5321234567" not in json.dumps(ev[0][0]) and "ayse" not in json.dumps(ev[0][0])

    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, "0532 123 45 67") is True

    w = await consents_api.withdraw(t["token"], cid, {"channel": "sms"})
    assert w.status_code == 200, w.text
    assert w.json()["status"] == "withdrawn"
    row2 = db.execute("select withdrawn_at, withdrawal_channel from consents where id = %s", (cid,)).fetchone()
    assert row2[0] is not None and row2[1] == "sms"  # recorded on the grant, never deleted
    ev = db.execute("select data from outbox where tenant_id = %s and type = 'kopru.consent.withdrawn.v1'", (tid,)).fetchall()
    assert [e[0]["consent_id"] for e in ev] == [str(cid)] and ev[0][0]["iys_type"] == "MESAJ"
    assert db.execute("select count(*) from audit_log where tenant_id = %s and action = 'consent.withdrawn'",
                      (tid,)).fetchone()[0] == 1
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, PHONE) is False

    # withdrawn twice: 409, nothing written
    before = counts(db, t["id"])
    _problem(await consents_api.withdraw(t["token"], cid), 409, "consent.already_withdrawn")
    assert counts(db, t["id"]) == before

    h = await consents_api.history(t["token"], "0532 123 45 67")
    assert h.status_code == 200, h.text
    body = h.json()
    assert body["subject"]["phone"] == "+90532*****67" and body["subject"]["email"] == "a***@e***.com"
    assert [e["event"] for e in body["history"]] == ["granted", "withdrawn"]
    assert body["consents"][0]["status"] == "withdrawn" and body["consents"][0]["legal_basis_ref"] == "KVKK md. 5(1)"
    for clear in ("5321234567", "ayse@example.com", "127.0.0.1", "Mozilla"):
        assert clear not in h.text
    # the same history by e-mail, in another case
    assert (await consents_api.history(t["token"], "AYSE@example.com")).json()["subject"]["id"] == body["subject"]["id"]
    # and by subject id, which keeps identifiers out of URLs (and so out of proxies' access logs)
    assert body["subject"]["id"] == out["subject_id"]
    assert (await consents_api.history(t["token"], out["subject_id"])).json()["history"] == body["history"]


async def test_one_text_per_version_and_one_subject_for_all_phone_forms(onboard, consents_api, db):
    t = await onboard()
    purposes = ["marketing", "analytics", "profiling", "transactional", "service_delivery"]
    for form, purpose in zip(PHONE_FORMS, purposes):
        body = consent_body(subject={"phone": form}, purpose=purpose, iys=None, legal_basis="explicit_consent")
        r = await consents_api.record(t["token"], body)
        assert r.status_code == 201, r.text
    tid = str(t["id"])
    assert db.execute("select count(*) from data_subjects where tenant_id = %s", (tid,)).fetchone()[0] == 1
    assert db.execute("select count(*) from consent_texts where tenant_id = %s", (tid,)).fetchone()[0] == 1
    assert db.execute("select count(*) from consents where tenant_id = %s", (tid,)).fetchone()[0] == 5


async def test_active_consent_for_sms(onboard, consents_api, db):
    t = await onboard()
    r = await consents_api.record(t["token"])
    cid = r.json()["id"]
    await consents_api.record(t["token"], consent_body(subject={"phone": "05320000001"}, purpose="analytics", iys=None))
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, "05321234567") is True
        assert await active_consent(tx, "05321234567", iys_type="ARAMA") is False  # only MESAJ was given
        assert await active_consent(tx, "05321234567", purpose="profiling") is False
        assert await active_consent(tx, "05320000001") is False  # consent for another purpose only
        assert await active_consent(tx, "05329999999") is False  # unknown person
        assert await active_consent(tx, "not a phone") is False
    # another tenant knows nothing of this consent
    u = await onboard()
    async with tenant_transaction(u["id"], actor="test") as tx:
        assert await active_consent(tx, PHONE) is False
    # expired
    db.execute("update consents set expires_at = now() - interval '1 second' where id = %s", (cid,))
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, PHONE) is False
    db.execute("update consents set expires_at = now() + interval '1 day' where id = %s", (cid,))
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, PHONE) is True
        # an erased subject has no consent
        from kopru.kvkk import destroy_subject_key

        await destroy_subject_key(tx, (await find_subject(tx, "phone", PHONE)).id)
    async with tenant_transaction(t["id"], actor="test") as tx:
        assert await active_consent(tx, PHONE) is False


BAD = [
    ("unknown purpose", consent_body(purpose="spam"), 422, "consent.purpose_unknown"),
    ("unknown legal basis", consent_body(legal_basis="because"), 422, "consent.legal_basis_unknown"),
    ("bundled: list", consent_body(purpose=["marketing", "analytics"]), 422, "consent.bundled"),
    ("bundled: comma", consent_body(purpose="marketing,analytics"), 422, "consent.bundled"),
    ("bundled: and", consent_body(purpose="marketing and profiling"), 422, "consent.bundled"),
    ("bundled: ve", consent_body(purpose="pazarlama ve analiz"), 422, "consent.bundled"),
    ("bundled: purposes", {**consent_body(), "purposes": ["marketing", "analytics"]}, 422, "consent.bundled"),
    ("bundled: array", [consent_body(), consent_body(purpose="analytics")], 422, "consent.bundled"),
    ("invalid phone", consent_body(subject={"phone": "0532 12"}), 422, "subject.phone_invalid"),
    ("invalid e-mail", consent_body(subject={"email": "ayse@"}, iys=None), 422, "subject.email_invalid"),
    ("invalid tckn", consent_body(subject={"tckn": "12345678901"}, iys=None), 422, "subject.tckn_invalid"),
    ("no identifier", consent_body(subject={}), 422, "subject.identifier_missing"),
    ("unknown field", {**consent_body(), "tenant_id": str(uuid.uuid4())}, 422, "request.validation_failed"),
    ("unknown subject field", consent_body(subject={"phone": PHONE, "name": "Ayşe"}), 422, "request.validation_failed"),
    ("unknown category", consent_body(data_categories=["dna"]), 422, "consent.data_category_unknown"),
    ("special category, Art. 5 basis", consent_body(data_categories=["health"], iys=None), 422,
     "consent.special_category_basis"),
    ("İYS without consent", consent_body(legal_basis="legitimate_interest"), 422, "consent.iys_requires_consent"),
    ("İYS e-mail without e-mail", consent_body(subject={"phone": PHONE}, iys={"type": "EPOSTA", "recipient_type": "BIREYSEL",
                                                                                "source": "HS_WEB"}), 422,
     "consent.iys_address_missing"),
    ("unknown İYS source", consent_body(iys={"type": "MESAJ", "recipient_type": "BIREYSEL", "source": "HS_X"}), 422,
     "request.validation_failed"),
    ("unknown channel", consent_body(channel="fax"), 422, "request.validation_failed"),
    ("retention 0", consent_body(retention_days=0), 422, "request.validation_failed"),
    ("retention 3651", consent_body(retention_days=3651), 422, "request.validation_failed"),
    ("retention as string", consent_body(retention_days="365"), 422, "request.validation_failed"),
    ("blank text", consent_body(consent_text="   "), 422, "consent.text_missing"),
    ("text too long", consent_body(consent_text="x" * 20_001), 422, "request.validation_failed"),
]


@pytest.mark.parametrize("case,body,status,code", BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_a_4xx_with_its_code_and_nothing_written(case, body, status, code, onboard, consents_api, db):
    t = await onboard()
    before = counts(db, t["id"])
    r = await consents_api.record(t["token"], body)
    _problem(r, status, code)
    assert "0532 12" not in r.text and "Ayşe" not in r.text  # input never echoed
    assert counts(db, t["id"]) == before, case


async def test_malformed_json_and_wrong_media_type(onboard, client, db):
    t = await onboard()
    before = counts(db, t["id"])
    c = client("consent-record")
    r = await c.post("/consents", content=b'{"subject": {"phone": "+905321234567"', headers={
        **bearer(t["token"]), "Content-Type": "application/json"})
    _problem(r, 400, "request.malformed_json")
    r = await c.post("/consents", content=json.dumps(consent_body()).encode(), headers={
        **bearer(t["token"]), "Content-Type": "text/plain"})
    _problem(r, 415, "request.unsupported_media_type")
    r = await c.post("/consents", json=consent_body())
    _problem(r, 401, "auth.missing_token")
    assert counts(db, t["id"]) == before


async def test_conflicting_identifiers_are_refused_and_nothing_written(onboard, consents_api, db):
    t = await onboard()
    assert (await consents_api.record(t["token"], consent_body(subject={"phone": PHONE}))).status_code == 201
    assert (await consents_api.record(t["token"], consent_body(subject={"email": "b@example.com"}, iys=None))).status_code == 201
    before = counts(db, t["id"])
    r = await consents_api.record(t["token"], consent_body(subject={"phone": PHONE, "email": "b@example.com"}))
    _problem(r, 409, "subject.identifiers_conflict")
    assert counts(db, t["id"]) == before


async def test_scopes(onboard, client, consents_api, db):
    from tests.helpers import grant

    t = await onboard()
    made = await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients", headers=bearer(t["token"]),
                                                  json={"name": "reader", "scopes": ["consent:read"]})
    assert made.status_code == 201, made.text
    reader = (await grant(client, made.json()["client_id"], made.json()["client_secret"]))["access_token"]
    cid = (await consents_api.record(t["token"])).json()["id"]
    before = counts(db, t["id"])
    _problem(await consents_api.record(reader), 403, "auth.insufficient_scope")
    _problem(await consents_api.withdraw(reader, cid), 403, "auth.insufficient_scope")
    assert counts(db, t["id"]) == before
    assert (await consents_api.history(reader, PHONE)).status_code == 200


async def test_withdrawal_of_another_tenants_consent_is_404_and_touches_nothing(onboard, consents_api, db):
    a, b = await onboard(), await onboard()
    cid = (await consents_api.record(b["token"])).json()["id"]
    before_a, before_b = counts(db, a["id"]), counts(db, b["id"])
    _problem(await consents_api.withdraw(a["token"], cid), 404, "consent.not_found")
    _problem(await consents_api.withdraw(a["token"], cid, {"channel": "web"}), 404, "consent.not_found")
    _problem(await consents_api.withdraw(a["token"], uuid.uuid4()), 404, "consent.not_found")
    _problem(await consents_api.withdraw(a["token"], "not-a-uuid"), 404, "consent.not_found")
    assert counts(db, a["id"]) == before_a and counts(db, b["id"]) == before_b
    assert db.execute("select withdrawn_at from consents where id = %s", (cid,)).fetchone()[0] is None
    # and A cannot read B's subject either, by identifier or by id
    _problem(await consents_api.history(a["token"], PHONE), 404, "subject.not_found")
    sid = db.execute("select subject_id from consents where id = %s", (cid,)).fetchone()[0]
    _problem(await consents_api.history(a["token"], str(sid)), 404, "subject.not_found")
    # a bad withdrawal body is refused before anything is looked up
    _problem(await consents_api.withdraw(b["token"], cid, {"channel": "fax"}), 422, "request.validation_failed")
    assert counts(db, b["id"]) == before_b


async def test_history_query(onboard, consents_api, client):
    t = await onboard()
    _problem(await consents_api.history(t["token"], "05329999999"), 404, "subject.not_found")
    _problem(await consents_api.history(t["token"], "not an identifier"), 422, "subject.query_invalid")
    r = await client("consent-record").get("/consents", headers=bearer(t["token"]))
    _problem(r, 422, "subject.query_invalid")


async def test_logs_never_carry_the_phone_or_email(onboard, consents_api, caplog):
    from kopru.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)  # SQLAlchemy then logs every statement and its parameters too
    t = await onboard()
    cid = (await consents_api.record(t["token"], consent_body(subject={"phone": "0532 765 43 21",
                                                                        "email": "Gizli.Kisi@Example.com"}))).json()["id"]
    await consents_api.withdraw(t["token"], cid)
    await consents_api.history(t["token"], "05327654321")
    await consents_api.history(t["token"], "gizli.kisi@example.com")
    await consents_api.record(t["token"], consent_body(subject={"phone": "0532 765 43 2x"}))
    await consents_api.record(t["token"], consent_body(subject={"phone": "05327654321", "email": "kisi2@example.com"}))
    fmt = JsonFormatter()
    assert caplog.records, "expected some log records at DEBUG"
    for rec in caplog.records:
        if rec.name.startswith(("httpx", "httpcore")):
            continue  # the test's own HTTP client logging the URL it called: the caller's log, not ours
        line = fmt.format(rec) + " " + repr(rec.args) + " " + rec.getMessage()
        for clear in ("7654321", "765 43", "gizli.kisi", "Gizli.Kisi", "kisi2@"):
            assert clear not in line, (rec.name, line[:300])
