"""Credit reports end to end on the real parts: PostgreSQL, the NOT-KKB partner simulator
over loopback HTTP (its calls counted there), the functions in process.

What must hold: without an active credit_report consent nothing is recorded and the
partner is never called; with one, the report is stored under the subject key, shown to
the tenant and in the subject's export, and after an erasure a new export holds only the
fact the credit-inquiry hold keeps. One report per request, whoever delivers its event and
however often; an answer lost after the partner made the report is found by our reference,
never asked twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.credit.conftest import (
    API_KEY, CUSTOMER, OTHER_TCKN, PHONE, TCKN, VKN, b64, consent, creates, pdf_bytes,
)
from tests.helpers import bearer, drain, sender_auth

FN = ("credit-report",)


async def ask(client, t, body=None, **headers):
    body = body or {"scheme": "TCKN", "number": TCKN}
    return await client("credit-report").post("/credit-reports", json=body, headers={**bearer(t["token"]), **headers})


async def read(client, t, rid):
    r = await client("credit-report").get(f"/credit-reports/{rid}", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()


async def deliver(client, db, tenant_id, report_id) -> int:
    """The report's requested event, delivered (again) to credit-report as the bus does."""
    ev = db.execute("select event_id, source, type, data, created_at from outbox where tenant_id = %s and type = "
                    "'kopru.credit.requested.v1' and data->>'report_id' = %s", (str(tenant_id), str(report_id))).fetchone()
    ce = {"specversion": "1.0", "id": str(ev[0]), "source": ev[1], "type": ev[2], "time": ev[4].isoformat(),
          "datacontenttype": "application/json", "tenantid": str(tenant_id), "partitionkey": str(tenant_id),
          "data": ev[3]}
    r = await client("credit-report").post("/", json=ce, headers={**sender_auth("credit-report"),
                                                                  "Content-Type": "application/cloudevents+json"})
    return r.status_code


def rows(db, tenant_id) -> int:
    return db.execute("select count(*) from credit_reports where tenant_id = %s", (str(tenant_id),)).fetchone()[0]


async def test_without_consent_refused_and_the_partner_never_called(client, apps, tenant, credit_sim, db):
    before = len(creates(credit_sim))
    # no subject at all, then a subject with only a marketing consent
    r = await ask(client, tenant)
    assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent"), r.text
    assert TCKN not in r.text
    await consent(client, tenant, purpose="marketing", data_categories=["contact"])
    r = await ask(client, tenant, **{"Accept-Language": "en"})
    assert r.json()["code"] == "credit.no_consent" and "explicit consent" in r.json()["title"]
    # a withdrawn credit_report consent
    c = await consent(client, tenant)
    w = await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                            headers=bearer(tenant["token"]))
    assert w.status_code == 200, w.text
    r = await ask(client, tenant)
    assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent")
    # an expired one
    c2 = await consent(client, tenant)
    db.execute("update consents set expires_at = now() - interval '1 second' where id = %s", (c2["id"],))
    r = await ask(client, tenant)
    assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent")
    # a named consent that is not one of this person's credit_report consents
    r = await ask(client, tenant, {"scheme": "TCKN", "number": TCKN, "consent_id": c["id"]})
    assert (r.status_code, r.json()["code"]) == (422, "credit.consent_mismatch")
    await drain(apps, only=FN)
    assert rows(db, tenant["id"]) == 0
    assert len(creates(credit_sim)) == before  # zero calls at the partner
    assert db.execute("select count(*) from outbox where tenant_id = %s and type like 'kopru.credit.%%'",
                      (str(tenant["id"]),)).fetchone()[0] == 0


async def test_with_consent_stored_encrypted_shown_exported_and_erased(client, apps, tenant, credit_sim, db):
    c = await consent(client, tenant)
    r = await ask(client, tenant)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "requested" and out["consent_id"] == c["id"] and out["subject_id"] == c["subject_id"]
    assert r.headers["location"] == f"/credit-reports/{out['id']}"
    await drain(apps, only=FN)
    mine = [x for x in creates(credit_sim) if x.client_reference == out["id"]]
    assert len(mine) == 1 and mine[0].http_status == 201 and mine[0].subject == "10*******46"
    got = await read(client, tenant, out["id"])
    assert got["status"] == "obtained" and got["number"] == "10*******46" and got["content_gone"] is False
    rep = got["report"]
    assert 1 <= rep["score"]["value"] <= 1900 and rep["score"]["band"] in {"en_riskli", "orta_riskli", "az_riskli",
                                                                             "iyi", "cok_iyi"}
    assert "bounced_count" in rep["cheque_report"] and "bounced_amount" in rep["cheque_report"]
    assert "NOT KKB" in rep["notice"] and rep["simulator"] == "credit-not-kkb"
    assert got["consent"]["id"] == c["id"] and got["partner_report_id"] == rep["report_id"]
    # at rest: ciphertext only; the row carries the consent's evidence in clear
    row = db.execute("select report_enc, identity_enc, consent_id, consent_text_sha256, status from credit_reports "
                     "where id = %s", (out["id"],)).fetchone()
    assert row[0] is not None and b"score" not in bytes(row[0]) and TCKN.encode() not in bytes(row[1])
    assert str(row[2]) == c["id"] and len(row[3]) == 64 and row[4] == "obtained"
    ev = db.execute("select data from outbox where type = 'kopru.credit.obtained.v1' and subject = %s",
                    (out["id"],)).fetchone()[0]
    assert ev["source"] == "partner" and TCKN not in json.dumps(ev) and "score" not in json.dumps(ev)

    # the subject's export holds the report
    from tests.kvkk.test_applications import _link_path

    async def export() -> dict:
        r = await client("data-export").post("/exports", json={"subject": {"id": c["subject_id"]}},
                                             headers=bearer(tenant["token"]))
        assert r.status_code == 202, r.text
        await drain(apps, only=("data-export",))
        got = (await client("data-export").get(f"/exports/{r.json()['id']}", headers=bearer(tenant["token"]))).json()
        return (await client("data-export").get(_link_path(got["url"]))).json()

    doc = await export()
    [item] = doc["records"]["credit_reports"]
    assert item["id"] == out["id"] and item["identity"] == TCKN
    assert json.loads(item["report"])["score"] == rep["score"]
    assert any(tp["source"] == "credit_reports" for tp in doc["third_parties"])

    # erasure: the content is gone from a new export; the fact stays under its hold
    r = await client("data-erasure").post("/erasures", json={"subject": {"id": c["subject_id"]}},
                                          headers=bearer(tenant["token"]))
    assert r.status_code == 202, r.text
    await drain(apps, only=("data-erasure", "credit-report"))
    er = (await client("data-erasure").get(f"/erasures/{r.json()['id']}", headers=bearer(tenant["token"]))).json()
    assert er["status"] == "completed", er
    kept = {k["table"]: k for k in er["report"]["kept"]}
    assert kept["credit_reports"]["hold"] == "credit_inquiry_proof" and kept["credit_reports"]["rows"] == 1
    assert "report_enc" not in kept["credit_reports"]["columns"]
    doc = await export()
    [item] = doc["records"]["credit_reports"]
    assert item["report"] is None and item["identity"] is None and item["document"] is None
    assert item["partner_report_id"] is None
    assert (item["consent_id"], item["status"], item["source"]) == (c["id"], "obtained", "partner")
    assert item["obtained_at"] and item["consent_granted_at"] and item["consent_text_sha256"]
    raw = json.dumps(doc, ensure_ascii=False)
    assert TCKN not in raw and str(rep["score"]["value"]) + "," not in raw and rep["report_id"] not in raw
    got = await read(client, tenant, out["id"])
    assert got["report"] is None and got["content_gone"] is True and got["number"] is None


async def test_duplicate_and_concurrent_deliveries_call_the_partner_once(client, apps, tenant, credit_sim, db):
    await consent(client, tenant)
    rid = (await ask(client, tenant)).json()["id"]
    statuses = await asyncio.gather(*(deliver(client, db, tenant["id"], rid) for _ in range(4)))
    assert set(statuses) == {204}, statuses
    assert await deliver(client, db, tenant["id"], rid) == 204
    await drain(apps, only=FN)
    from kopru.credit.service import CreditFetch
    from kopru.work import perform

    assert await perform(tenant["id"], CreditFetch(tenant["id"], uuid.UUID(rid)), actor="test") == "done"
    assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 1
    assert len(credit_sim.reports(rid)) == 1
    assert (await read(client, tenant, rid))["status"] == "obtained"
    # the same Idempotency-Key: the same request, no second report
    k = {"Idempotency-Key": "kredi-" + rid[:8]}
    a, b = await ask(client, tenant, **k), await ask(client, tenant, **k)
    assert a.status_code == b.status_code == 202 and a.json()["id"] == b.json()["id"]
    assert b.headers.get("idempotent-replayed") == "true"
    r = await ask(client, tenant, {"scheme": "VKN", "number": VKN, "subject": {"tckn": TCKN}}, **k)
    assert (r.status_code, r.json()["code"]) == (409, "request.idempotency_conflict")


async def test_an_answer_lost_after_the_report_was_made_is_found_by_reference(client, apps, tenant, credit_sim, db,
                                                                               monkeypatch):
    from kopru.config import reset_settings

    await consent(client, tenant)
    for how in ({"http_status": 500, "taken": True}, {"drop": True}):
        rid = (await ask(client, tenant)).json()["id"]
        credit_sim.fail_next(endpoint="report.create", **how)
        assert await deliver(client, db, tenant["id"], rid) == 503  # ambiguous: left for a retry
        assert (await read(client, tenant, rid))["status"] == "requested"
        assert await deliver(client, db, tenant["id"], rid) == 204  # the retry asks by our reference first
        got = await read(client, tenant, rid)
        assert got["status"] == "obtained" and got["report"]["client_reference"] == rid, how
        assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 1, how
        assert [x.endpoint for x in credit_sim.calls if x.client_reference == rid] == ["report.create", "report.find"]
        assert len(credit_sim.reports(rid)) == 1
        code = db.execute("select code from outward_calls where ref = %s", (rid,)).fetchone()[0]
        assert code == "reconciled"  # recorded from the look-up, not from a second request
    # a 503 that made nothing: the look-up finds nothing; asked again once it had time to land
    monkeypatch.setenv("KOPRU_CREDIT_ABSENT_AFTER_SECONDS", "3600")
    reset_settings()
    rid = (await ask(client, tenant)).json()["id"]
    credit_sim.fail_next(503, endpoint="report.create")
    assert await deliver(client, db, tenant["id"], rid) == 503
    assert await deliver(client, db, tenant["id"], rid) == 503  # nothing found yet, too early to ask again
    assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 1
    monkeypatch.setenv("KOPRU_CREDIT_ABSENT_AFTER_SECONDS", "0")
    reset_settings()
    assert await deliver(client, db, tenant["id"], rid) == 204
    assert (await read(client, tenant, rid))["status"] == "obtained"
    assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 2 and len(credit_sim.reports(rid)) == 1
    monkeypatch.undo()
    reset_settings()


async def test_partner_errors_end_or_retry_the_request(client, apps, tenant, credit_sim, db):
    await consent(client, tenant)
    await consent(client, tenant, {"tckn": OTHER_TCKN})
    credit_sim.forget_identity(OTHER_TCKN)
    rid = (await ask(client, tenant, {"scheme": "TCKN", "number": OTHER_TCKN})).json()["id"]
    await drain(apps, only=FN)
    got = await read(client, tenant, rid)
    assert (got["status"], got["error"]["code"]) == ("failed", "credit.identity_unknown") and got["error"]["tr"]
    assert db.execute("select data->>'code' from outbox where type = 'kopru.credit.failed.v1' and subject = %s",
                      (rid,)).fetchone()[0] == "credit.identity_unknown"
    credit_sim.add_identity(OTHER_TCKN, score=800, bounced_count=2, bounced_amount="45000.00")
    credit_sim.deny_consent(OTHER_TCKN)
    rid = (await ask(client, tenant, {"scheme": "TCKN", "number": OTHER_TCKN})).json()["id"]
    await drain(apps, only=FN)
    assert (await read(client, tenant, rid))["error"]["code"] == "credit.partner_no_consent"
    # the rate limit: nothing taken, retried later, one report
    credit_sim.rate_limit(0)
    rid = (await ask(client, tenant)).json()["id"]
    assert await deliver(client, db, tenant["id"], rid) == 503
    assert [x.http_status for x in creates(credit_sim) if x.client_reference == rid] == [429]
    credit_sim.rate_limit(None)
    assert await deliver(client, db, tenant["id"], rid) == 204
    got = await read(client, tenant, rid)
    assert got["status"] == "obtained" and [x.endpoint for x in credit_sim.calls if x.client_reference == rid] == \
        ["report.create", "report.create"]  # a 429 proves nothing was taken: no look-up needed


async def test_a_withdrawal_before_the_call_stops_it_and_after_clears_the_content(client, apps, tenant, credit_sim, db):
    c = await consent(client, tenant)
    rid = (await ask(client, tenant)).json()["id"]
    w = await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                            headers=bearer(tenant["token"]))
    assert w.status_code == 200
    await drain(apps, only=FN)
    got = await read(client, tenant, rid)
    assert (got["status"], got["error"]["code"]) == ("failed", "credit.no_consent")
    assert not [x for x in creates(credit_sim) if x.client_reference == rid]
    # obtained, then withdrawn: the content goes, the fact stays
    c = await consent(client, tenant)
    rid = (await ask(client, tenant)).json()["id"]
    up = await client("credit-report").post("/credit-reports/uploads", headers=bearer(tenant["token"]),
                                            json={"scheme": "TCKN", "number": TCKN, "pdf_base64": b64(pdf_bytes())})
    assert up.status_code == 201, up.text
    await drain(apps, only=FN)
    assert (await read(client, tenant, rid))["report"] is not None
    await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                        headers=bearer(tenant["token"]))
    await drain(apps, only=FN)
    for x in (rid, up.json()["id"]):
        got = await read(client, tenant, x)
        assert got["status"] == "obtained" and got["report"] is None and got["content_gone"] is True
    r = await client("credit-report").get(f"/credit-reports/{up.json()['id']}/document", headers=bearer(tenant["token"]))
    assert (r.status_code, r.json()["code"]) == (410, "credit.content_gone")
    assert db.execute("select count(*) from audit_log where action = 'credit.content_cleared' and tenant_id = %s",
                      (str(tenant["id"]),)).fetchone()[0] == 3  # the unsent request's identity number too


async def test_a_withdrawal_while_the_partner_answers_keeps_no_report(client, apps, tenant, credit_sim, db):
    """The consent is checked before the call, but withdrawn (and its clearing run) while the
    partner answers: the answer is recorded as obtained (the partner did it) and the report is
    not kept, since nothing would clear it later."""
    from kopru.credit.service import CreditFetch
    from kopru.db import tenant_transaction
    from kopru.work import Outcome

    c = await consent(client, tenant)
    rid = uuid.UUID((await ask(client, tenant)).json()["id"])
    tid = uuid.UUID(str(tenant["id"]))
    effect = CreditFetch(tid, rid)
    async with tenant_transaction(tid, actor="test") as tx:
        assert await effect.prepare(tx, first=True) is None  # consent live: the call may go
    w = await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                            headers=bearer(tenant["token"]))
    assert w.status_code == 200
    await drain(apps, only=FN)  # the withdrawal's clearing ran before the answer is recorded
    async with tenant_transaction(tid, actor="test") as tx:
        await effect.record(tx, Outcome.ok("p-race", "created", detail={"score": 1450}))
    got = await read(client, tenant, rid)
    assert got["status"] == "obtained" and got["report"] is None and got["content_gone"] is True
    assert db.execute("select report_enc is null from credit_reports where id = %s", (rid,)).fetchone()[0]


async def test_an_uploaded_findeks_pdf_is_checked_and_kept_the_same_way(client, apps, tenant, credit_sim, db):
    pdf = pdf_bytes(3)
    body = {"scheme": "TCKN", "number": TCKN, "pdf_base64": b64(pdf)}
    up = lambda b, **h: client("credit-report").post("/credit-reports/uploads", json=b,  # noqa: E731
                                                     headers={**bearer(tenant["token"]), **h})
    r = await up(body)
    assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent")
    c = await consent(client, tenant)
    calls = len(credit_sim.calls)
    r = await up(body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["source"] == "upload" and out["pages"] == 3 and out["bytes"] == len(pdf)
    d = await client("credit-report").get(f"/credit-reports/{out['id']}/document", headers=bearer(tenant["token"]))
    assert d.status_code == 200 and d.content == pdf and d.headers["content-type"] == "application/pdf"
    got = await read(client, tenant, out["id"])
    assert got["document"] is True and got["report"]["pages"] == 3 and got["consent"]["id"] == c["id"]
    assert len(credit_sim.calls) == calls  # an upload asks nobody
    enc = bytes(db.execute("select document_enc from credit_reports where id = %s", (out["id"],)).fetchone()[0])
    assert b"%PDF" not in enc and body["pdf_base64"][:40].encode() not in enc

    import io

    from pypdf import PdfReader, PdfWriter

    enc_pdf = io.BytesIO()
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    w.encrypt("parola")
    w.write(enc_pdf)
    half = pdf[:len(pdf) // 2] + b"\n%%EOF\n"
    bad = [
        (b"GIF89a not a pdf", 422, "credit.pdf_invalid"),
        (b"%PDF-1.7\n garbage \n%%EOF\n", 422, "credit.pdf_invalid"),
        (half, 422, "credit.pdf_invalid"),
        (enc_pdf.getvalue(), 422, "credit.pdf_encrypted"),
        (b"%PDF-1.7\n" + b"0" * (4 * 1024 * 1024) + b"\n%%EOF\n", 413, "credit.pdf_too_large"),
    ]
    for data, status, code in bad:
        r = await up({**body, "pdf_base64": b64(data)})
        assert (r.status_code, r.json()["code"]) == (status, code), (data[:20], r.text)
    r = await up({**body, "pdf_base64": "bu base64 değil!!"})
    assert (r.status_code, r.json()["code"]) == (422, "credit.pdf_invalid")
    assert rows(db, tenant["id"]) == 1


async def test_an_upload_takes_its_key_then_the_consent_before_the_pdf_is_read(client, apps, tenant, credit_sim,
                                                                                db, monkeypatch):
    """The order of an upload: the Idempotency-Key (a replay answers the saved answer, even
    after the consent was withdrawn, as kopru.work.idempotency replays any answered key,
    and reads no document), then the consent (none: credit.no_consent whatever the file is,
    the document never read), then the PDF's checks."""
    import kopru.credit.pdf

    parsed = []
    real = kopru.credit.pdf.check

    def check(data, limit):
        parsed.append(len(data))
        return real(data, limit)

    monkeypatch.setattr(kopru.credit.pdf, "check", check)
    up = lambda b, **h: client("credit-report").post("/credit-reports/uploads", json=b,  # noqa: E731
                                                     headers={**bearer(tenant["token"]), **h})
    pdf = pdf_bytes(2)
    body = {"scheme": "TCKN", "number": TCKN, "pdf_base64": b64(pdf)}
    # no consent: the consent's refusal, not the file's, and nothing parsed
    for doc in (b64(b"GIF89a not a pdf"), "bu base64 değil!!", b64(b"%PDF-1.7\n garbage \n%%EOF\n"), b64(pdf)):
        r = await up({**body, "pdf_base64": doc}, **{"Idempotency-Key": "yukleme-rizasiz"})
        assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent"), r.text
    assert parsed == [] and rows(db, tenant["id"]) == 0
    c = await consent(client, tenant)
    k = {"Idempotency-Key": "yukleme-1"}
    first = await up(body, **k)
    assert first.status_code == 201, first.text
    assert parsed == [len(pdf)]
    w = await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                            headers=bearer(tenant["token"]))
    assert w.status_code == 200, w.text
    await drain(apps, only=FN)
    again = await up(body, **k)
    assert (again.status_code, again.json()) == (201, first.json()), again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert parsed == [len(pdf)] and rows(db, tenant["id"]) == 1  # the replay read no document
    # a new upload on the withdrawn consent: refused before its (unreadable) file is read
    r = await up({**body, "pdf_base64": b64(b"GIF89a not a pdf")})
    assert (r.status_code, r.json()["code"]) == (422, "credit.no_consent")
    assert parsed == [len(pdf)] and rows(db, tenant["id"]) == 1


async def test_a_request_opens_the_subject_key_once(client, apps, tenant, credit_sim, db, monkeypatch):
    """However the person is named (the TCKN, and a subject by phone and TCKN; a VKN on its
    owner's phone), a request or an upload opens the subject's key once, to seal."""
    from kopru.kvkk.subjects import TenantKeys

    opened = []
    real = TenantKeys.unwrap

    def unwrap(self, subject_id, wrapped, epoch=None):
        opened.append(subject_id)
        return real(self, subject_id, wrapped, epoch)

    c = await consent(client, tenant)
    monkeypatch.setattr(TenantKeys, "unwrap", unwrap)
    for body in ({"scheme": "TCKN", "number": TCKN, "subject": {"tckn": TCKN, "phone": PHONE}},
                 {"scheme": "TCKN", "number": TCKN, "subject": {"id": c["subject_id"]}},
                 {"scheme": "VKN", "number": VKN, "subject": {"phone": PHONE}}):
        opened.clear()
        r = await ask(client, tenant, body)
        assert r.status_code == 202, r.text
        assert [str(x) for x in opened] == [c["subject_id"]], body
    opened.clear()
    up = await client("credit-report").post("/credit-reports/uploads", headers=bearer(tenant["token"]), json={
        "scheme": "TCKN", "number": TCKN, "subject": {"tckn": TCKN, "phone": PHONE}, "pdf_base64": b64(pdf_bytes(1))})
    assert up.status_code == 201, up.text
    assert [str(x) for x in opened] == [c["subject_id"]]
    # a refusal opens nothing
    opened.clear()
    r = await ask(client, tenant, {"scheme": "TCKN", "number": OTHER_TCKN, "subject": {"phone": PHONE}})
    assert (r.status_code, r.json()["code"], opened) == (409, "credit.subject_mismatch", [])


async def test_reading_a_report_or_its_document_is_audited_without_personal_data(client, apps, tenant, credit_sim,
                                                                                  db):
    """A single report's read and its document's each append one `credit.viewed` entry to
    the tenant's audit chain, naming who looked and which view, with ids only; the list (summaries)
    appends nothing, nor does a refused read. The chain still verifies."""
    from kopru.kvkk.audit import verify

    def viewed():
        return db.execute("select actor, target, details from audit_log where tenant_id = %s and "
                          "action = 'credit.viewed' order by seq", (str(tenant["id"]),)).fetchall()

    c = await consent(client, tenant)
    pdf = pdf_bytes(1)
    up = await client("credit-report").post("/credit-reports/uploads", headers=bearer(tenant["token"]),
                                            json={"scheme": "TCKN", "number": TCKN, "pdf_base64": b64(pdf)})
    assert up.status_code == 201, up.text
    rid = up.json()["id"]
    actor = db.execute("select actor from audit_log where action = 'credit.uploaded' and target = %s",
                       (rid,)).fetchone()[0]
    assert tenant["client_id"] in actor
    fn = client("credit-report")
    assert (await fn.get("/credit-reports", headers=bearer(tenant["token"]))).status_code == 200
    assert viewed() == []  # the list shows summaries only
    await read(client, tenant, rid)
    d = await fn.get(f"/credit-reports/{rid}/document", headers=bearer(tenant["token"]))
    assert d.status_code == 200 and d.content == pdf
    ids = {"subject_id": c["subject_id"], "consent_id": c["id"]}
    assert viewed() == [(actor, rid, {"view": "report", **ids}), (actor, rid, {"view": "document", **ids})]
    raw = json.dumps([list(v) for v in viewed()], default=str)
    assert TCKN not in raw and PHONE not in raw and "score" not in raw
    # refused reads write nothing: an unknown id, a document cleared
    assert (await fn.get(f"/credit-reports/{uuid.uuid4()}", headers=bearer(tenant["token"]))).status_code == 404
    await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                        headers=bearer(tenant["token"]))
    await drain(apps, only=FN)
    r = await fn.get(f"/credit-reports/{rid}/document", headers=bearer(tenant["token"]))
    assert (r.status_code, r.json()["code"]) == (410, "credit.content_gone")
    assert len(viewed()) == 2
    assert verify(tenant["id"], anchors=False).ok


async def test_identities_and_subjects_are_checked(client, apps, tenant, credit_sim, db, onboard):
    cases = [
        ({"scheme": "TCKN", "number": "10000000147"}, 422, "credit.identity_invalid"),
        ({"scheme": "VKN", "number": "1234567891"}, 422, "credit.identity_invalid"),
        ({"scheme": "VKN", "number": TCKN}, 422, "credit.identity_invalid"),
        ({"scheme": "VKN", "number": VKN}, 422, "credit.subject_required"),
        ({"scheme": "TCKN", "number": TCKN, "subject": {"id": str(uuid.uuid4())}}, 404, "subject.not_found"),
    ]
    for body, status, code in cases:
        r = await ask(client, tenant, body)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
        assert body["number"] not in r.text
    other = await consent(client, tenant, {"tckn": OTHER_TCKN})
    c = await consent(client, tenant)
    r = await ask(client, tenant, {"scheme": "TCKN", "number": TCKN, "subject": {"id": other["subject_id"]}})
    assert (r.status_code, r.json()["code"]) == (409, "credit.subject_mismatch")
    # a VKN (a sole trader's business) on its owner's consent
    r = await ask(client, tenant, {"scheme": "VKN", "number": VKN, "subject": {"phone": PHONE}})
    assert r.status_code == 202, r.text
    assert r.json()["subject_id"] == c["subject_id"]
    await drain(apps, only=FN)
    got = await read(client, tenant, r.json()["id"])
    assert got["scheme"] == "VKN" and got["report"]["product"] == "commercial" and got["number"] == "12******90"
    # another tenant sees nothing
    b = await onboard()
    r = await client("credit-report").get(f"/credit-reports/{got['id']}", headers=bearer(b["token"]))
    assert (r.status_code, r.json()["code"]) == (404, "credit.not_found")


async def test_the_purge_clears_the_content_then_removes_the_fact(client, apps, tenant, credit_sim, db):
    from kopru.kvkk.purge import purge

    await consent(client, tenant)
    rid = (await ask(client, tenant)).json()["id"]
    await drain(apps, only=FN)
    db.execute("update credit_reports set requested_at = now() - interval '181 days' where id = %s", (rid,))
    await purge(tenant_id=tenant["id"])
    row = db.execute("select report_enc, identity_enc, partner_report_id, consent_id, status from credit_reports "
                     "where id = %s", (rid,)).fetchone()
    assert row[:3] == (None, None, None) and row[3] is not None and row[4] == "obtained"
    db.execute("update credit_reports set requested_at = now() - interval '10 years 181 days' where id = %s", (rid,))
    await purge(tenant_id=tenant["id"])
    assert db.execute("select count(*) from credit_reports where id = %s", (rid,)).fetchone()[0] == 0


async def test_settings_are_checked_at_the_partner_and_the_key_never_returned(client, onboard, credit_sim):
    t = await onboard()
    put = lambda body: client("tenant-onboarding").put(  # noqa: E731
        f"/tenants/{t['id']}/integrations/credit-partner", headers=bearer(t["token"]), json=body)
    r = await put({"customer_code": CUSTOMER, "api_key": "yanlis-anahtar-123"})
    assert (r.status_code, r.json()["code"]) == (422, "credit_partner.credentials_invalid")
    # a key that cannot be a header value (found by schemathesis: it was a 500) is refused before any call
    calls = len(credit_sim.calls)
    for bad in ("anahtarı-ğüş-123", "iki kelime anahtar", "sekme\tanahtar"):
        r = await put({"customer_code": CUSTOMER, "api_key": bad})
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", r.text
    assert len(credit_sim.calls) == calls
    r = await ask(client, t)
    assert (r.status_code, r.json()["code"]) == (409, "credit.not_configured")
    r = await put({"customer_code": CUSTOMER, "api_key": API_KEY})
    assert r.status_code == 200 and API_KEY not in r.text
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}/integrations/credit-partner", headers=bearer(t["token"]))
    assert r.json()["customer_code"] == CUSTOMER and API_KEY not in r.text


async def test_the_simulator_says_it_is_not_kkb_in_every_answer(credit_sim):
    import httpx

    async with httpx.AsyncClient(base_url=credit_sim.url) as h:
        answers = [
            await h.get("/v1/ping"),
            await h.get("/v1/ping", headers={"Authorization": f"Bearer {API_KEY}", "X-Customer-Code": CUSTOMER}),
            await h.post("/v1/credit-reports", json={}, headers={"Authorization": f"Bearer {API_KEY}",
                                                                 "X-Customer-Code": CUSTOMER}),
            await h.get("/v1/credit-reports", params={"client_reference": "yok"},
                        headers={"Authorization": f"Bearer {API_KEY}", "X-Customer-Code": CUSTOMER}),
            await h.get("/_simulator/calls"),
        ]
    for a in answers:
        assert "NOT KKB" in a.json()["notice"], a.text
    assert [a.status_code for a in answers] == [401, 200, 400, 200, 200]
    calls = answers[-1].json()["calls"]
    assert TCKN not in json.dumps(calls)
    # the contract's consent proof is whole or refused: its time and its text's SHA-256 too
    h = {"Authorization": f"Bearer {API_KEY}", "X-Customer-Code": CUSTOMER}
    whole = {"reference": str(uuid.uuid4()), "granted_at": "2026-12-01T10:00:00+03:00", "text_sha256": "a" * 64}
    async with httpx.AsyncClient(base_url=credit_sim.url) as c:
        for consent_proof in ({"reference": whole["reference"]}, {**whole, "granted_at": "dün"},
                              {**whole, "text_sha256": "kısa"}):
            r = await c.post("/v1/credit-reports", headers=h, json={
                "client_reference": str(uuid.uuid4()), "subject": {"type": "TCKN", "number": TCKN},
                "consent": consent_proof})
            assert (r.status_code, r.json()["error"]["code"]) == (400, "INVALID_REQUEST"), (consent_proof, r.text)


@pytest.mark.parametrize("consented", [False, True])
async def test_the_workflow_action_keeps_the_consent_rule_and_previews_nothing(client, apps, tenant, credit_sim, db,
                                                                               consented):
    from kopru.auth.principal import TenantContext
    from kopru.db import tenant_transaction
    from kopru.workflows.actions import ACTIONS, StepFailed

    act = ACTIONS["credit.request"]
    assert act.scope == "credit:request" and act.consent
    # the person, by reference: with a consent for credit reports, or only for another purpose
    made = await consent(client, tenant, **({} if consented else {"purpose": "analytics"}))
    inp = act.parse({"subject_id": made["subject_id"]})
    assert TCKN not in json.dumps(act.describe()) and "number" not in act.describe()["input"]["properties"]
    calls = len(credit_sim.calls)
    async with tenant_transaction(tenant["id"], actor="test") as tx:
        prev = await act.load(act.preview)(tx, inp, event={})
    assert prev["consent_ok"] is consented and prev["scheme"] == "TCKN" and TCKN not in json.dumps(prev)
    assert rows(db, tenant["id"]) == 0 and len(credit_sim.calls) == calls
    ctx = TenantContext(tenant["id"], "workflow:test", None)
    run = act.load(act.run)
    if not consented:
        with pytest.raises(Exception) as e:
            await run(ctx, inp, key="wf-1:0", event={}, run_id=uuid.uuid4(), index=0)
        assert getattr(e.value, "code", None) == "credit.no_consent"
        assert rows(db, tenant["id"]) == 0
        return
    a = await run(ctx, inp, key="wf-1:0", event={}, run_id=uuid.uuid4(), index=0)
    b = await run(ctx, inp, key="wf-1:0", event={}, run_id=uuid.uuid4(), index=0)
    assert a == b and rows(db, tenant["id"]) == 1
    await drain(apps, only=FN)
    assert (await read(client, tenant, a["credit_report_id"]))["status"] == "obtained"
    # a person on record without a TCKN: refused with its own code, nothing asked
    other = await consent(client, tenant, subject={"phone": "+905329998877"})
    with pytest.raises(StepFailed) as e:
        await run(ctx, act.parse({"subject_id": other["subject_id"]}), key="wf-2:0", event={}, run_id=uuid.uuid4(),
                  index=0)
    assert e.value.code == "credit.subject_tckn_missing" and rows(db, tenant["id"]) == 1


async def test_a_request_whose_event_was_lost_is_taken_over_by_the_recover_tick(client, apps, tenant, credit_sim, db):
    from tests.helpers import sender_auth as auth

    await consent(client, tenant)
    rid = (await ask(client, tenant)).json()["id"]  # its event is never delivered (dead-lettered, say)
    db.execute("update outward_calls set updated_at = now() - interval '10 minutes' where ref = %s", (rid,))
    tick = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/kopru/schedule",
            "type": "kopru.credit.recover_poll.v1", "datacontenttype": "application/json", "data": {}}
    r = await client("credit-recover").post("/", json=tick, headers={**auth("credit-recover"),
                                                                     "Content-Type": "application/cloudevents+json"})
    assert r.status_code in (200, 204), r.text
    got = await read(client, tenant, rid)
    assert got["status"] == "obtained"
    assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 1
    await drain(apps, only=FN)  # the event, delivered late, finds it done: no second call
    assert len([x for x in creates(credit_sim) if x.client_reference == rid]) == 1


async def test_a_dry_run_shows_a_steps_refusal_instead_of_failing(client, tenant, credit_sim):
    """credit.request on a person with no TCKN on record: the dry run answers 200 and shows the
    step's code (as a run would keep it), asks the partner nothing."""
    other = await consent(client, tenant, subject={"phone": "+905329998811"})
    r = await client("workflows").post("/workflows", headers=bearer(tenant["token"]), json={
        "name": "Rıza verene rapor", "trigger": {"type": "kopru.consent.recorded.v1"},
        "steps": [{"action": "credit.request", "input": {"subject_id": {"const": other["subject_id"]}}}]})
    assert r.status_code == 201, r.text
    calls = len(credit_sim.calls)
    r = await client("workflows").post(f"/workflows/{r.json()['id']}/dry-run", headers=bearer(tenant["token"]),
                                       json={})
    assert r.status_code == 200, r.text
    [step] = r.json()["steps"]
    assert step["error"]["code"] == "credit.subject_tckn_missing" and r.json()["sent"] is False
    assert len(credit_sim.calls) == calls


SUMMARY_KEYS = {"id", "status", "source", "provider", "scheme", "subject_id", "consent", "requested_at", "obtained_at",
                "error", "content_gone"}


async def test_the_list_pages_summaries_newest_first_without_the_report(client, apps, tenant, credit_sim, db,
                                                                        onboard):
    """GET /credit-reports: the tenant's own reports, newest request first, every one exactly
    once over the pages; each a summary that is a subset of the single GET (no report, no PDF,
    no identity number, no partner report id), cleared content shown as gone as there."""
    from kopru import pages
    from kopru.admin import create_tenant_client_admin
    from tests.helpers import grant

    fn = client("credit-report")

    async def get(t, params=None, lang="tr"):
        return await fn.get("/credit-reports", params=params or {},
                            headers={**bearer(t["token"]), "Accept-Language": lang})

    r = await get(tenant)
    assert r.status_code == 200 and r.json() == {"credit_reports": [], "next_cursor": None}

    # five reports: a partner report, three uploads (one of another person, erased later), one left requested
    c = await consent(client, tenant)
    other = await consent(client, tenant, {"tckn": OTHER_TCKN})
    made = [(await ask(client, tenant)).json()["id"]]
    await drain(apps, only=FN)
    for number in (TCKN, OTHER_TCKN, TCKN):
        up = await fn.post("/credit-reports/uploads", headers=bearer(tenant["token"]),
                           json={"scheme": "TCKN", "number": number, "pdf_base64": b64(pdf_bytes(1))})
        assert up.status_code == 201, up.text
        made.append(up.json()["id"])
    made.append((await ask(client, tenant)).json()["id"])  # not delivered: still requested
    # another tenant's reports
    b = await onboard()
    await consent(client, b)
    theirs = []
    for _ in range(2):
        up = await fn.post("/credit-reports/uploads", headers=bearer(b["token"]),
                           json={"scheme": "TCKN", "number": TCKN, "pdf_base64": b64(pdf_bytes(1))})
        assert up.status_code == 201, up.text
        theirs.append(up.json()["id"])

    async def walk(t, limit, **extra):
        seen, cursor = [], None
        for _ in range(20):
            r = await get(t, {"limit": limit, **extra, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["credit_reports"]) <= limit and TCKN not in r.text and OTHER_TCKN not in r.text
            seen.append(body["credit_reports"])
            cursor = body["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError("no last page")

    paged = await walk(tenant, 2)
    assert [len(p) for p in paged] == [2, 2, 1]
    items = [x for p in paged for x in p]
    assert [x["id"] for x in items] == made[::-1]  # newest request first, no duplicates, no gaps
    stamps = [x["requested_at"] for x in items]
    assert stamps == sorted(stamps, reverse=True)
    assert not set(theirs) & {x["id"] for x in items}
    assert [x["id"] for x in (await get(tenant)).json()["credit_reports"]] == made[::-1]
    assert {x["id"] for x in (await get(b)).json()["credit_reports"]} == set(theirs)

    async def agrees(items):
        """Each item shows the single GET's values and nothing more: never the report itself."""
        for x in items:
            assert set(x) == SUMMARY_KEYS, x
            one = await read(client, tenant, x["id"])
            assert {k: one[k] for k in SUMMARY_KEYS} == x
        return {x["id"]: x for x in items}

    by_id = await agrees(items)
    assert by_id[made[0]]["status"] == "obtained" and by_id[made[0]]["consent"]["id"] == c["id"]
    assert by_id[made[2]]["subject_id"] == other["subject_id"] and by_id[made[4]]["status"] == "requested"
    assert not any(x["content_gone"] for x in items)

    # ?status=: only those; an unknown status is 422 and not echoed
    assert [x["id"] for x in (await get(tenant, {"status": "requested"})).json()["credit_reports"]] == [made[4]]
    assert [x["id"] for p in await walk(tenant, 1, status="obtained") for x in p] == made[3::-1]
    assert (await get(tenant, {"status": "failed"})).json() == {"credit_reports": [], "next_cursor": None}
    r = await get(tenant, {"status": "bozuk-durum"}, "en")
    assert (r.status_code, r.json()["code"]) == (422, "request.validation_failed") and "bozuk" not in r.text

    # limits and cursors: 422 for a limit out of range, 400 for a cursor this list did not give
    for limit in ("0", "101", "abc"):
        r = await get(tenant, {"limit": limit}, "en")
        assert (r.status_code, r.json()["code"]) == (422, "request.validation_failed"), (limit, r.text)
    first = (await get(tenant, {"limit": 1})).json()["next_cursor"]
    filtered = (await get(tenant, {"limit": 1, "status": "obtained"})).json()["next_cursor"]
    other_list = pages.encode(f"vehicles:{tenant['id']}", "2026-01-01T00:00:00+00:00", str(uuid.uuid4()))
    bs = (await get(b, {"limit": 1})).json()["next_cursor"]
    for t, params in ((tenant, {"cursor": "Zm9yZ2Vk"}), (tenant, {"cursor": first[:-2] + "AA"}),
                      (tenant, {"cursor": other_list}), (tenant, {"cursor": bs}), (b, {"cursor": first}),
                      (tenant, {"cursor": filtered}), (tenant, {"cursor": first, "status": "obtained"})):
        r = await get(t, params, "en")
        assert (r.status_code, r.json()["code"]) == (400, "request.invalid_cursor"), (params, r.text)
    assert (await get(tenant, {"limit": 1, "cursor": first})).json()["credit_reports"][0]["id"] == made[3]

    # a client without credit:read is refused before anything is read
    cid, secret = create_tenant_client_admin(tenant["id"], "sms only", ["sms:send"])
    tok = (await grant(client, cid, secret))["access_token"]
    r = await fn.get("/credit-reports", headers=bearer(tok))
    assert (r.status_code, r.json()["code"]) == (403, "auth.insufficient_scope")

    # cleared content shows as gone, as in the single GET: a withdrawn consent, an erased subject
    w = await client("consent-record").post(f"/consents/{c['id']}/withdraw", json={"channel": "web"},
                                            headers=bearer(tenant["token"]))
    assert w.status_code == 200, w.text
    r = await client("data-erasure").post("/erasures", json={"subject": {"id": other["subject_id"]}},
                                          headers=bearer(tenant["token"]))
    assert r.status_code == 202, r.text
    await drain(apps, only=("data-erasure", "credit-report"))
    items = (await get(tenant)).json()["credit_reports"]
    by_id = await agrees(items)
    assert [by_id[x]["content_gone"] for x in made] == [True, True, True, True, False]  # the requested one: nothing


def test_the_lists_status_filter_documents_exactly_the_known_statuses():
    from typing import get_args

    from kopru.credit.models import CreditStatus
    from kopru.credit.service import STATUSES
    from kopru_tools.openapi import render

    op = render()["paths"]["/function/credit-report/credit-reports"]["get"]
    [status] = [p for p in op["parameters"] if p["name"] == "status"]
    assert status["schema"]["enum"] == list(STATUSES) == list(get_args(CreditStatus)) and not status["required"]
    assert "without the report itself" in op["summary"]


async def test_the_consent_check_holds_the_consent_and_the_claim_holds_the_row(client, tenant, credit_sim, db):
    """What the request's and the claim's transactions rely on: `active_consent` share-locks the
    consent it found (a withdrawal waits for the transaction, a second check does not), and
    `CreditFetch.prepare` locks the report's row (a second claim waits)."""
    import psycopg

    from kopru.credit.service import CreditFetch, active_consent
    from kopru.db import tenant_transaction

    c = await consent(client, tenant)
    rid = uuid.UUID((await ask(client, tenant)).json()["id"])
    tid = uuid.UUID(str(tenant["id"]))

    def blocked(sql, *params) -> bool:
        try:
            with db.transaction():
                db.execute("set local lock_timeout = '200ms'")
                db.execute(sql, params)
            return False
        except psycopg.errors.LockNotAvailable:
            return True

    async with tenant_transaction(tid, actor="test") as tx:
        got = await active_consent(tx, uuid.UUID(c["subject_id"]))
        assert str(got.id) == c["id"] and len(bytes(got.text_sha256)) == 32
        assert blocked("update consents set withdrawn_at = now() where id = %s", c["id"])
        assert not blocked("select 1 from consents where id = %s for share", c["id"])
        assert not blocked("select 1 from credit_reports where id = %s for update", rid)
    async with tenant_transaction(tid, actor="test") as tx:
        assert await CreditFetch(tid, rid).prepare(tx, first=True) is None
        assert blocked("select 1 from credit_reports where id = %s for update", rid)
    async with tenant_transaction(tid, actor="test") as tx:
        await active_consent(tx, uuid.UUID(c["subject_id"]), lock=False)
        assert not blocked("update consents set withdrawn_at = null where id = %s", c["id"])
