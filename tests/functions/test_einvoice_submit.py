"""einvoice-submit end to end: POST /einvoices -> numbered, signed, validated, stored ->
outbox -> relay -> bus -> the consumer -> Nilvera (the simulator over real HTTP on
loopback, validating with GİB's rules) -> `kopru einvoice poll` -> accepted / rejected,
with routing from GİB's registered-user list, gap-free numbering, idempotency and the
bad inputs that must write nothing."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid

import pytest

from tests.einvoice.samples import CUSTOMER, CUSTOMER_VKN, PERSON, SUPPLIER_VKN, line
from tests.helpers import bearer, drain as drain_all, pointed, sender_auth

API_KEY = "nv-kopru-test-4b1e2f3a5c6d7e8f90a1b2c3"
ALIAS = "urn:mail:defaultpk@alici-ticaret.com.tr"
# a person buyer of our own (not the KVKK tests' TCKN: an invoice keeps it in clear, by law)
PERSON = {**PERSON, "tckn": "12345678950"}
ADDRESS = {"street": "Barbaros Bulvarı No: 1", "district": "Beşiktaş", "city": "İstanbul", "postal_code": "34353"}


def body(**kw) -> dict:
    b = {"profile": "TEMELFATURA", "type": "SATIS", "issue_date": "2026-11-20", "issue_time": "14:30:00",
         "customer": copy.deepcopy(CUSTOMER), "lines": [line(quantity="2", unit_price="150.00")]}
    b.update(kw)
    return b


@pytest.fixture(scope="module")
def nilvera(services, tmp_path_factory):
    from kopru_tools.simulators.nilvera import NilveraSimulator, serve
    from kopru.einvoice.service import import_users

    sim = NilveraSimulator()  # validates with kopru.einvoice.validate, as GİB would
    sim.add_account(API_KEY, SUPPLIER_VKN, name="Köprü Yazılım Ltd. Şti.")
    sim.add_taxpayer(CUSTOMER_VKN, [ALIAS])
    # the local copy of GİB's list: the buyer is registered, the person is not
    csv = tmp_path_factory.mktemp("gib") / "users.csv"
    csv.write_text("identifier,title,alias,first_created\n"
                   f"{CUSTOMER_VKN},Alıcı Ticaret A.Ş.,{ALIAS},2020-01-01T00:00:00+03:00\n"
                   "123,bad row,urn:mail:x@y,\n", encoding="utf-8")
    assert import_users(str(csv)) == {"users": 1, "skipped_rows": 1}

    with serve(sim) as url, pointed("NILVERA_BASE_URL", url):
        yield sim


@pytest.fixture
async def tenant(client, onboard, nilvera):
    from kopru import redis as kredis
    from kopru.einvoice.service import forget_cached_users

    await forget_cached_users()
    kredis._clients.clear()  # a client bound to this test's loop
    t = await onboard(name="Köprü Yazılım Ltd. Şti.", tax_number=SUPPLIER_VKN, tax_office="Beşiktaş")
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/nilvera", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "series": "KPR", "address": ADDRESS})
    assert r.status_code == 200, r.text
    assert API_KEY not in r.text and r.json()["series"] == "KPR"
    return t


@pytest.fixture(autouse=True)
async def _nothing_left_pending(apps, nilvera):
    """Each test's events are handled while the simulator runs: none is left in the outbox
    for later tests' relays (whose einvoice-submit consumer would find no Nilvera)."""
    yield
    await drain(apps)


async def drain(apps):
    await drain_all(apps, only=("einvoice-submit",))


async def post(client, t, b, **headers):
    return await client("einvoice-submit").post("/einvoices", headers={**bearer(t["token"]), **headers}, json=b)


async def read(client, t, inv_id):
    r = await client("einvoice-submit").get(f"/einvoices/{inv_id}", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()


async def poll_until_final(client, t, inv_id, n=8):
    from kopru.einvoice.service import poll_statuses

    for _ in range(n):
        got = await read(client, t, inv_id)
        if got["status"] in ("accepted", "rejected", "failed"):
            return got
        await poll_statuses()
    return await read(client, t, inv_id)


async def test_temelfatura_to_a_registered_buyer_goes_efatura_and_is_accepted(client, apps, tenant, nilvera, db):
    r = await post(client, tenant, body())
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["number"] == f"KPR2026{1:09d}" and out["status"] == "queued" and out["kind"] == "efatura"
    assert out["payable_amount"] == "360.00"
    row = db.execute("select kind, receiver_alias, status, customer_scheme, subject_id from einvoices where id = %s",
                     (out["id"],)).fetchone()
    assert row == ("efatura", ALIAS, "queued", "VKN", None)
    # the document: signed, the tenant as supplier, GİB's rules pass
    x = await client("einvoice-submit").get(f"/einvoices/{out['id']}/xml", headers=bearer(tenant["token"]))
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/xml")
    assert b"ds:SignatureValue" in x.content and out["uuid"].encode() in x.content
    assert SUPPLIER_VKN.encode() in x.content and b"KPR2026000000001" in x.content
    from kopru.einvoice.validate import validate

    assert validate(x.content).valid
    await drain(apps)
    got = await read(client, tenant, out["id"])
    assert got["status"] == "submitted"
    inv = nilvera.invoice(out["uuid"])
    assert inv is not None and inv.kind == "einvoice" and inv.alias == ALIAS
    got = await poll_until_final(client, tenant, out["id"])
    assert got["status"] == "accepted" and got["gib_code"] == "1300"
    hist = [(h["status"], h["code"]) for h in got["history"]]
    assert hist[:3] == [("queued", None), ("submitting", None), ("submitted", None)] and hist[-1] == ("accepted", "1300")
    types = [r[0] for r in db.execute("select type from outbox where subject = %s order by id", (out["id"],))]
    assert types == ["kopru.einvoice.requested.v1", "kopru.einvoice.submitted.v1", "kopru.einvoice.accepted.v1"]
    # no personal data in the events: ids and codes only
    for (data,) in db.execute("select data from outbox where subject = %s", (out["id"],)):
        assert CUSTOMER_VKN not in json.dumps(data) and "Alıcı" not in json.dumps(data)


async def test_earsivfatura_to_a_person_goes_earsiv(client, apps, tenant, nilvera, db):
    r = await post(client, tenant, body(profile="EARSIVFATURA", customer=copy.deepcopy(PERSON),
                                        lines=[line(name="Kulaklık", quantity="1", unit_price="899.90")]))
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["kind"] == "earsiv"
    row = db.execute("select customer_scheme, subject_id is not null from einvoices where id = %s",
                     (out["id"],)).fetchone()
    assert row == ("TCKN", True)  # the person is a data subject; the invoice is kept under the books hold
    await drain(apps)
    assert nilvera.invoice(out["uuid"]).kind == "earchive"
    got = await poll_until_final(client, tenant, out["id"])
    assert got["status"] == "accepted" and got["kind"] == "earsiv"


async def test_ihracat_goes_efatura_to_the_customs_alias_and_is_accepted(client, apps, tenant, nilvera, db):
    from kopru.einvoice.models import CUSTOMS_ALIAS, CUSTOMS_VKN
    from tests.einvoice.samples import export_invoice

    # Nilvera (GİB's list) knows the customs authority; the local copy of the list need not
    nilvera.add_taxpayer(CUSTOMS_VKN, [CUSTOMS_ALIAS], title="Gümrük ve Ticaret Bakanlığı")
    assert db.execute("select count(*) from efatura_users where identifier = %s", (CUSTOMS_VKN,)).fetchone()[0] == 0
    b = export_invoice()
    for k in ("number", "supplier"):
        b.pop(k)
    r = await post(client, tenant, b)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["kind"] == "efatura" and out["profile"] == "IHRACAT" and out["currency"] == "EUR"
    row = db.execute("select kind, receiver_alias, customer_scheme, customer_tax_number, subject_id from einvoices "
                     "where id = %s", (out["id"],)).fetchone()
    assert row == ("efatura", CUSTOMS_ALIAS, "VKN", CUSTOMS_VKN, None)
    x = await client("einvoice-submit").get(f"/einvoices/{out['id']}/xml", headers=bearer(tenant["token"]))
    assert b'schemeID="PARTYTYPE">EXPORT<' in x.content and b"<cbc:RequiredCustomsID>" in x.content
    await drain(apps)
    inv = nilvera.invoice(out["uuid"])
    assert inv is not None and inv.kind == "einvoice" and inv.alias == CUSTOMS_ALIAS
    got = await poll_until_final(client, tenant, out["id"])
    assert got["status"] == "accepted" and got["gib_code"] == "1300"


async def test_routing_refusals(client, tenant, db):
    n = db.execute("select count(*) from einvoices").fetchone()[0]
    r = await post(client, tenant, body(customer=copy.deepcopy(PERSON)))  # TEMELFATURA to an unregistered buyer
    assert r.status_code == 422 and r.json()["code"] == "einvoice.buyer_not_registered"
    r = await post(client, tenant, body(profile="EARSIVFATURA"))  # e-Arşiv to a registered buyer
    assert r.status_code == 422 and r.json()["code"] == "einvoice.buyer_registered"
    assert db.execute("select count(*) from einvoices").fetchone()[0] == n


@pytest.mark.parametrize("answer,status", [("KABUL", "accepted"), ("RED", "rejected")])
async def test_ticarifatura_answers(client, apps, tenant, nilvera, db, answer, status):
    nilvera.answer_next(answer)
    r = await post(client, tenant, body(profile="TICARIFATURA"))
    assert r.status_code == 202, r.text
    inv_id = r.json()["id"]
    await drain(apps)
    got = await poll_until_final(client, tenant, inv_id)
    assert got["status"] == status and got["answer"] == answer
    assert got["answer_due_at"] is not None  # the 8-day window was tracked from delivery
    import datetime as dt

    from kopru.einvoice.service import ANSWER_WINDOW

    # the answer does not move the delivery time the window was counted from
    assert dt.datetime.fromisoformat(got["delivered_at"]) + ANSWER_WINDOW == dt.datetime.fromisoformat(got["answer_due_at"])
    codes = [h["code"] for h in got["history"]]
    assert "awaiting_answer" in codes
    last = db.execute("select type, data from outbox where subject = %s order by id desc limit 1", (inv_id,)).fetchone()
    assert last[0] == ("kopru.einvoice.accepted.v1" if answer == "KABUL" else "kopru.einvoice.rejected.v1")


async def test_ticarifatura_answer_window_elapsing(client, apps, tenant, nilvera):
    import datetime as dt

    from kopru.einvoice.service import poll_statuses

    r = await post(client, tenant, body(profile="TICARIFATURA"))
    inv_id = r.json()["id"]
    await drain(apps)
    for _ in range(4):
        await poll_statuses()
    got = await read(client, tenant, inv_id)
    assert got["status"] == "submitted" and got["answer_due_at"]
    due = dt.datetime.fromisoformat(got["answer_due_at"])
    await poll_statuses(now=due + dt.timedelta(minutes=1))
    got = await read(client, tenant, inv_id)
    assert got["status"] == "accepted" and got["history"][-1]["code"] == "answer_window_elapsed"


async def test_gib_refusal_is_failed_with_its_code(client, apps, tenant, nilvera):
    nilvera.reject_next(1163)
    r = await post(client, tenant, body())
    await drain(apps)
    got = await poll_until_final(client, tenant, r.json()["id"])
    assert got["status"] == "failed" and got["error_code"] == "gib.1163"


async def test_numbers_are_gap_free_even_when_a_request_fails(client, tenant, db):
    first = (await post(client, tenant, body())).json()["number"]
    # refused input (a wrong unit code), and a request refused for a taken ETTN: no number burnt
    # (a validation failure after the number was taken: test_validation_failure_writes_nothing...)
    bad = await post(client, tenant, body(lines=[line(unit_code="ADET")]))
    assert bad.status_code == 422
    existing = db.execute("select ettn from einvoices where number = %s and tenant_id = %s",
                          (first, str(tenant["id"]))).fetchone()[0]
    dup = await post(client, tenant, body(uuid=str(existing)))
    assert dup.status_code == 409 and dup.json()["code"] == "einvoice.uuid_taken"
    second = (await post(client, tenant, body())).json()["number"]
    third = (await post(client, tenant, body(issue_date="2025-12-30"))).json()["number"]
    assert (first, second) == ("KPR2026000000001", "KPR2026000000002")
    assert third == "KPR2025000000001"  # each year has its own sequence
    # a number the caller gives: taken -> 409; the counter moves past a free one
    r = await post(client, tenant, body(number="KPR2026000000002"))
    assert r.status_code == 409 and r.json()["code"] == "einvoice.number_taken"
    r = await post(client, tenant, body(number="KPR2026000000010"))
    assert r.status_code == 202
    assert (await post(client, tenant, body())).json()["number"] == "KPR2026000000011"
    r = await post(client, tenant, body(number="KPR2025000000009"))  # not the issue date's year
    assert r.status_code == 422 and r.json()["code"] == "einvoice.number_year_mismatch"


async def test_validation_failure_writes_nothing_and_burns_no_number(client, tenant, db, monkeypatch):
    """GİB's schematron refuses the rendered document (forced here by spoiling it): a
    422 listing the findings, no row, no event, and the number is handed out next time."""
    import kopru.einvoice.sign as sign

    real = sign.render_signed

    def spoiled(invoice, key, supplier=None, **kw):
        from dataclasses import replace

        doc = real(invoice, key, supplier, **kw)
        return replace(doc, xml=doc.xml.replace(b'unitCode="C62"', b'unitCode="ADET"'))

    n = db.execute("select count(*) from einvoices").fetchone()[0]
    o = db.execute("select count(*) from outbox").fetchone()[0]
    monkeypatch.setattr(sign, "render_signed", spoiled)
    r = await post(client, tenant, body())
    monkeypatch.undo()
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["code"] == "einvoice.invalid"
    f = p["errors"][0]
    assert f["rule"] == "sch-GeneralUnitCodeCheck-1" and f["location"] and f["message_tr"] and f["message_en"]
    assert db.execute("select count(*) from einvoices").fetchone()[0] == n
    assert db.execute("select count(*) from outbox").fetchone()[0] == o
    assert (await post(client, tenant, body())).json()["number"] == "KPR2026000000001"


async def test_redelivery_and_crash_after_upload_create_one_invoice(client, apps, tenant, nilvera, monkeypatch,
                                                                   work_settings):
    """A transient 500 first (ambiguous: Nilvera is asked by ETTN, has nothing, so the
    upload goes again); then the process "dies" right after Nilvera took the upload: the
    redeliveries meet its live lease, and once the lease ran out the sweep asks Nilvera
    for the ETTN's status and records it submitted WITHOUT a second upload. A later
    duplicate event does nothing. Counted as upload calls at the simulator."""
    import asyncio

    from kopru.connectors.nilvera import NilveraClient
    from kopru.einvoice.service import recover_stalled
    from kopru_tools.eventing import asgi_sender
    from kopru.work import sweep

    work_settings(lease=1.5)
    await drain(apps)  # nothing left over from other tests: the faults below hit this invoice
    real = NilveraClient.send_einvoice
    crashed = []

    async def send_then_die(self, *a, **kw):
        res = await real(self, *a, **kw)
        if not crashed:
            crashed.append(res)
            raise RuntimeError("killed between the upload and the status write")
        return res

    uploads = lambda: [c for c in nilvera.calls if c.endpoint == "einvoice.send"]  # noqa: E731
    monkeypatch.setattr(NilveraClient, "send_einvoice", send_then_die)
    nilvera.fail_next(http_status=500, endpoint="einvoice.send")  # and a transient failure first
    before, calls_before = nilvera.count(), len(uploads())
    r = await post(client, tenant, body())
    out = r.json()
    await drain(apps)
    assert crashed and (await read(client, tenant, out["id"]))["status"] == "submitting"
    await asyncio.sleep(1.6)  # the lease runs out
    monkeypatch.setattr(sweep, "STALL_AFTER_S", 0)
    assert (await recover_stalled()).get("succeeded", 0) >= 1
    got = await read(client, tenant, out["id"])
    assert got["status"] == "submitted"
    assert [h["code"] for h in got["history"] if h["status"] == "submitted"] == ["reconciled"], nilvera.calls
    assert nilvera.count() == before + 1
    assert len(uploads()) == calls_before + 2  # the 500 and the one upload
    send = asgi_sender(apps["einvoice-submit"], "einvoice-submit")
    status, _ = await send({"ce-specversion": "1.0", "ce-id": "redelivered-1", "ce-source": "/kopru/einvoice-submit",
                            "ce-type": "kopru.einvoice.requested.v1", "ce-tenantid": str(tenant["id"]),
                            "content-type": "application/json"},
                           json.dumps({"einvoice_id": out["id"], "ettn": out["uuid"]}).encode())
    assert status == 204 and nilvera.count() == before + 1 and len(uploads()) == calls_before + 2
    assert len((await read(client, tenant, out["id"]))["history"]) == len(got["history"])


async def test_eight_concurrent_deliveries_of_one_invoice_make_one_nilvera_upload(client, apps, nilvera, db, tenant):
    """Counted as upload CALLS at the simulator, not as invoices it kept."""
    import asyncio
    import uuid as _uuid

    from kopru_tools.eventing import asgi_sender

    await drain(apps)
    out = (await post(client, tenant, body())).json()
    uploads = lambda: sum(1 for c in nilvera.calls if c.endpoint in ("einvoice.send", "earchive.send"))  # noqa: E731
    before = uploads()
    nilvera.fail_next(delay=0.5, endpoint="einvoice.send")  # taken, answered slowly: the others arrive meanwhile
    send = asgi_sender(apps["einvoice-submit"], "einvoice-submit")
    headers = {"ce-specversion": "1.0", "ce-id": str(_uuid.uuid4()), "ce-source": "/test/redelivery",
               "ce-type": "kopru.einvoice.requested.v1", "ce-tenantid": str(tenant["id"]),
               "content-type": "application/json"}
    data = json.dumps({"einvoice_id": out["id"], "ettn": out["uuid"]}).encode()
    results = await asyncio.gather(*(send(headers, data) for _ in range(8)))
    assert all(status == 204 for status, _ in results), results
    assert uploads() == before + 1
    got = await read(client, tenant, out["id"])
    assert got["status"] == "submitted"
    assert [h["status"] for h in got["history"]] == ["queued", "submitting", "submitted"]
    await drain(apps)  # the outbox's own copy of the event: nothing more
    assert uploads() == before + 1
    assert db.execute("select count(*) from outbox where type = 'kopru.einvoice.submitted.v1' and data->>'einvoice_id' = %s",
                      (out["id"],)).fetchone()[0] == 1
    assert len((await read(client, tenant, out["id"]))["history"]) == 3


async def test_idempotency_key(client, tenant, db):
    h = {"Idempotency-Key": "order-2026-77"}
    first = await post(client, tenant, body(), **h)
    again = await post(client, tenant, body(), **h)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["number"] == first.json()["number"]
    assert again.json()["replayed"] is True and "replayed" not in first.json()
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert first.headers["location"] == again.headers["location"] == f"/einvoices/{first.json()['id']}"
    r = await post(client, tenant, body(notes=["başka"]), **h)
    assert r.status_code == 409 and r.json()["code"] == "request.idempotency_conflict"
    assert db.execute("select count(*) from einvoices where tenant_id = %s", (str(tenant["id"]),)).fetchone()[0] == 1


async def _expired(token: str) -> str:
    from kopru.auth.keys import CACHE

    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 120
    key = await CACHE.signing_key()  # a real signature: only the expiry is wrong
    return jwt.encode(claims, key.key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})


@pytest.mark.parametrize("case", ["unit_code", "malformed", "types", "oversized", "supplier", "tenant_id",
                                  "bad_tckn", "iade_ticari", "missing_rate", "expired", "forged", "no_token"])
async def test_bad_requests_write_nothing(client, tenant, db, case):
    n = db.execute("select count(*) from einvoices").fetchone()[0]
    c = db.execute("select coalesce(sum(next_value), 0) from einvoice_series_counters").fetchone()[0]
    hdr = bearer(tenant["token"])
    post_ = client("einvoice-submit").post
    if case == "unit_code":
        r = await post_("/einvoices", headers=hdr, json=body(lines=[line(unit_code="ADET")]))
        assert r.status_code == 422 and r.json()["code"] == "einvoice.unit_code_invalid", r.text
        assert r.json()["errors"][0]["field"].startswith("lines")
    elif case == "malformed":
        r = await post_("/einvoices", headers={**hdr, "content-type": "application/json"}, content=b'{"profile": ')
        assert r.status_code == 400 and r.json()["code"] == "request.malformed_json"
    elif case == "types":
        r = await post_("/einvoices", headers=hdr, json=body(lines="many"))
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed"
    elif case == "oversized":
        r = await post_("/einvoices", headers=hdr, json=body(notes=["x" * 1000] * 600))
        assert r.status_code == 413 and r.json()["code"] == "request.too_large"
    elif case == "supplier":
        r = await post_("/einvoices", headers=hdr, json=body(supplier=copy.deepcopy(CUSTOMER)))
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed"
    elif case == "tenant_id":
        r = await post_("/einvoices", headers=hdr, json={**body(), "tenant_id": str(tenant["id"])})
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed"
    elif case == "bad_tckn":
        r = await post_("/einvoices", headers=hdr, json=body(profile="EARSIVFATURA",
                                                             customer={**PERSON, "tckn": "1000000014"}))
        assert r.status_code == 422 and r.json()["code"] == "einvoice.tckn_invalid"
    elif case == "iade_ticari":
        r = await post_("/einvoices", headers=hdr, json=body(profile="TICARIFATURA", type="IADE",
                                                             billing_reference={"number": "KPR2026000000001",
                                                                                "date": "2026-11-10"}))
        assert r.status_code == 422 and r.json()["code"] == "einvoice.iade_profile_invalid"
    elif case == "missing_rate":
        r = await post_("/einvoices", headers=hdr, json=body(currency="USD"))
        assert r.status_code == 422 and r.json()["code"] == "einvoice.exchange_rate_missing"
    elif case == "expired":
        r = await post_("/einvoices", headers=bearer(await _expired(tenant["token"])), json=body())
        assert r.status_code == 401 and r.json()["code"] == "auth.token_expired"
    elif case == "forged":
        h, p, s = tenant["token"].split(".")
        r = await post_("/einvoices", headers=bearer(f"{h}.{p}.{s[:-4]}AAAA"), json=body())
        assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"
    else:
        r = await post_("/einvoices", json=body())
        assert r.status_code == 401
    assert db.execute("select count(*) from einvoices").fetchone()[0] == n
    assert db.execute("select coalesce(sum(next_value), 0) from einvoice_series_counters").fetchone()[0] == c


async def test_another_tenants_invoice_is_not_found(client, onboard, tenant, nilvera):
    out = (await post(client, tenant, body())).json()
    other = await onboard()
    for path in (f"/einvoices/{out['id']}", f"/einvoices/{out['id']}/xml", "/einvoices/not-a-uuid"):
        r = await client("einvoice-submit").get(path, headers=bearer(other["token"]))
        assert r.status_code == 404 and r.json()["code"] == "einvoice.not_found"
        assert out["uuid"] not in r.text


async def test_settings_refuse_a_wrong_key_another_companys_key_and_a_bad_certificate(client, onboard, nilvera):
    from kopru.einvoice.sign import test_certificate

    t = await onboard(tax_number=SUPPLIER_VKN, name="Köprü Yazılım Ltd. Şti.")
    url = f"/tenants/{t['id']}/integrations/nilvera"
    r = await post(client, t, body())
    assert r.status_code == 409 and r.json()["code"] == "einvoice.not_configured"
    r = await client("tenant-onboarding").put(url, headers=bearer(t["token"]),
                                              json={"api_key": "nv-wrong-key-000000", "series": "KPR", "address": ADDRESS})
    assert r.status_code == 422 and r.json()["code"] == "nilvera.credentials_invalid"
    tc = test_certificate(vkn=SUPPLIER_VKN)
    # a key Nilvera takes, but another company's (GET /general/Company names its VKN): refused,
    # in Turkish and in English, and nothing is stored
    other = await onboard(tax_number=CUSTOMER_VKN, name="Alıcı Ticaret A.Ş.")
    for lang, word in (("tr", "VKN"), ("en", "tax number")):
        r = await client("tenant-onboarding").put(f"/tenants/{other['id']}/integrations/nilvera",
                                                  headers={**bearer(other["token"]), "Accept-Language": lang},
                                                  json={"api_key": API_KEY, "series": "KPR", "address": ADDRESS})
        assert r.status_code == 422 and r.json()["code"] == "nilvera.account_mismatch", r.text
        assert word in r.json()["title"] and API_KEY not in r.text and SUPPLIER_VKN not in r.text
    r = await client("tenant-onboarding").get(f"/tenants/{other['id']}/integrations/nilvera", headers=bearer(other["token"]))
    assert r.status_code == 404 and r.json()["code"] == "integration.not_configured"
    p12 = base64.b64encode(tc.p12).decode()
    r = await client("tenant-onboarding").put(url, headers=bearer(t["token"]), json={
        "api_key": API_KEY, "series": "KPR", "address": ADDRESS, "p12": p12, "p12_password": "wrong"})
    assert r.status_code == 422 and r.json()["code"] == "einvoice.certificate_invalid"
    r = await client("tenant-onboarding").put(url, headers=bearer(t["token"]), json={
        "api_key": API_KEY, "series": "ABC", "address": ADDRESS, "p12": p12, "p12_password": tc.password.decode()})
    assert r.status_code == 200 and r.json()["certificate"]["serial_number"]
    assert "p12" not in r.json() and tc.password.decode() not in r.text and API_KEY not in r.text
    r = await post(client, t, body())
    assert r.status_code == 202 and r.json()["number"] == "ABC2026000000001"


async def test_without_a_certificate_outside_dev_signing_is_refused(client, tenant, monkeypatch, db):
    from kopru.config import reset_settings

    monkeypatch.setenv("KOPRU_ENV", "production")
    reset_settings()
    try:
        r = await post(client, tenant, body())
    finally:
        monkeypatch.undo()
        reset_settings()
    assert r.status_code == 409 and r.json()["code"] == "einvoice.certificate_missing"


def test_users_import_cli(tmp_path, services):
    from kopru_tools.cli import main

    f = tmp_path / "u.csv"
    f.write_text("identifier,title,alias,first_created\n"
                 "1234567034,Diğer A.Ş.,urn:mail:muhasebe@diger.com.tr,\n"
                 "1234567034,Diğer A.Ş.,urn:mail:defaultpk@diger.com.tr,\n", encoding="utf-8")
    assert main(["einvoice", "users", "import", str(f)]) == 0


async def test_status_is_followed_on_the_schedule_tick(client, apps, tenant, nilvera):
    """einvoice-status, woken by a Knative PingSource tick, moves a submitted invoice on."""
    r = await post(client, tenant, body())
    assert r.status_code == 202, r.text
    inv = r.json()
    await drain(apps)
    for _ in range(8):
        t = await client("einvoice-status").post("/", content=b"", headers={
            "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/apis/v1/namespaces/kopru/pingsources/x",
            "ce-type": "dev.knative.sources.ping", "content-type": "application/json",
            **sender_auth("einvoice-status")})
        assert t.status_code == 200, t.text
        if (await read(client, tenant, inv["id"]))["status"] == "accepted":
            break
    assert (await read(client, tenant, inv["id"]))["status"] == "accepted"


async def test_a_buyers_erasure_keeps_the_invoice_under_the_books_hold(client, apps, tenant, nilvera, db):
    """KVKK relies on this: a person's erasure must not destroy the invoices issued to them
    (VUK md. 253, TTK md. 82); the export lists them, the erasure report says until when."""
    r = await post(client, tenant, body(profile="EARSIVFATURA", customer=copy.deepcopy(PERSON),
                                        lines=[line(name="Kulaklık", quantity="1", unit_price="899.90")]))
    assert r.status_code == 202, r.text
    inv = r.json()
    await drain_all(apps)
    subject_id = db.execute("select subject_id from einvoices where id = %s", (inv["id"],)).fetchone()[0]
    r = await client("data-export").post("/exports", json={"subject": {"tckn": PERSON["tckn"]}},
                                         headers=bearer(tenant["token"]))
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    await drain_all(apps)
    got = (await client("data-export").get(f"/exports/{export_id}", headers=bearer(tenant["token"]))).json()
    assert got["status"] == "ready", got
    from urllib.parse import urlsplit

    link = urlsplit(got["url"])
    doc = (await client("data-export").get(link.path.removeprefix("/function/data-export") + "?" + link.query)).json()
    [row] = doc["records"]["einvoices"]
    assert row["id"] == inv["id"] and row["issue_date"] == "2026-11-20" and row["customer_tax_number"] == PERSON["tckn"]
    assert any(p["recipient"].startswith("Nilvera") for p in doc["third_parties"])

    r = await client("data-erasure").post("/erasures", json={"subject": {"id": str(subject_id)}},
                                          headers=bearer(tenant["token"]))
    assert r.status_code == 202, r.text
    await drain_all(apps)
    er = (await client("data-erasure").get(f"/erasures/{r.json()['id']}", headers=bearer(tenant["token"]))).json()
    assert er["status"] == "completed"
    [kept] = [k for k in er["report"]["kept"] if k["table"] == "einvoices"]
    assert kept["hold"] == "commercial_books" and kept["rows"] == 1
    assert kept["until"].startswith("2037-01-01")  # 10 years from the end of 2026, Istanbul time
    still = db.execute("select customer_tax_number, xml is not null from einvoices where id = %s", (inv["id"],)).fetchone()
    assert still == (PERSON["tckn"], True)
    x = await client("einvoice-submit").get(f"/einvoices/{inv['id']}/xml", headers=bearer(tenant["token"]))
    assert x.status_code == 200 and PERSON["tckn"].encode() in x.content


async def test_another_tenant_cannot_read_an_invoice_or_its_xml_by_its_real_id(client, onboard, tenant):
    out = (await post(client, tenant, body())).json()
    other = await onboard()
    for path in (f"/einvoices/{out['id']}", f"/einvoices/{out['id']}/xml"):
        r = await client("einvoice-submit").get(path, headers={"Authorization": f"Bearer {other['token']}"})
        assert r.status_code == 404 and r.json()["code"] == "einvoice.not_found", (path, r.text)
        mine = await client("einvoice-submit").get(path, headers={"Authorization": f"Bearer {tenant['token']}"})
        assert mine.status_code == 200  # the same id is real: the 404 is isolation, not a bad id
