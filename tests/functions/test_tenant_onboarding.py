"""tenant-onboarding: the happy path end to end, and every kind of bad input
answered with its code while nothing at all is written."""

import json
import re
import uuid

import pytest

from tests.helpers import bearer, tenant_body

TENANT_ROWS = ("tenants", "tenant_directory", "users", "api_clients", "client_directory", "audit_log", "outbox")


def counts(db) -> dict[str, int]:
    return {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in TENANT_ROWS}


async def test_onboard_then_read_back(client, operator_token, db):
    body = tenant_body(plan="starter", verbis_no="VB-2026-0001")
    r = await client("tenant-onboarding").post("/tenants", json=body, headers=bearer(operator_token))
    assert r.status_code == 201, r.text
    out = r.json()
    t = out["tenant"]
    assert t["subdomain"] == body["subdomain"] and t["plan"] == "starter"
    assert t["tax_number_kind"] == "TCKN"
    assert (t["language"], t["timezone"], t["currency"]) == ("tr-TR", "Europe/Istanbul", "TRY")
    assert r.headers["location"] == f"/tenants/{t['id']}"
    assert out["client_id"].startswith("kc_") and out["client_secret"].startswith("ks_")

    # stored as the library promises: argon2id password, hashed client secret, audit, event
    tid = t["id"]
    pw = db.execute("select password_hash from users where tenant_id = %s", (tid,)).fetchone()[0]
    assert pw.startswith("$argon2id$") and body["admin"]["password"] not in pw
    secret_hash = db.execute("select secret_hash from api_clients where client_id = %s", (out["client_id"],)).fetchone()[0]
    assert out["client_secret"].encode() not in bytes(secret_hash) and len(bytes(secret_hash)) == 32
    action = db.execute("select action from audit_log where tenant_id = %s", (tid,)).fetchone()[0]
    assert action == "tenant.onboarded"
    ev = db.execute("select type, source, data, extensions from outbox where tenant_id = %s", (tid,)).fetchone()
    assert ev[0] == "kopru.tenant.onboarded.v1" and ev[1] == "/kopru/tenant-onboarding"
    assert ev[2]["subdomain"] == body["subdomain"]
    assert {k: ev[3][k] for k in ("tenantid", "partitionkey")} == {"tenantid": tid, "partitionkey": tid}
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", ev[3]["traceparent"])  # a trace starts at the edge
    assert "yonetici" not in json.dumps(ev[2])  # no personal data in the event

    r = await client("tenant-onboarding").get(f"/tenants/{tid}", headers=bearer(operator_token))
    assert r.status_code == 200 and r.json()["name"] == body["name"]


async def test_tenant_reads_itself_but_not_others(client, onboard):
    a, b = await onboard(), await onboard()
    r = await client("tenant-onboarding").get(f"/tenants/{a['id']}", headers=bearer(a["token"]))
    assert r.status_code == 200 and r.json()["id"] == str(a["id"])
    r = await client("tenant-onboarding").get(f"/tenants/{b['id']}", headers=bearer(a["token"]))
    assert r.status_code == 404 and r.json()["code"] == "tenant.not_found"
    r = await client("tenant-onboarding").get(f"/tenants/{uuid.uuid4()}", headers=bearer(a["token"]))
    assert r.status_code == 404


async def test_only_the_operator_onboards(client, onboard):
    a = await onboard()
    r = await client("tenant-onboarding").post("/tenants", json=tenant_body(), headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    r = await client("tenant-onboarding").post("/tenants", json=tenant_body())
    assert r.status_code == 401 and r.json()["code"] == "auth.missing_token"
    assert r.headers["www-authenticate"].startswith("Bearer")


BAD = [
    ("bad VKN check digit", {"tax_number": "4540536921"}, 422, "tenant.tax_number_invalid"),
    ("bad TCKN check digit", {"tax_number": "10000000147"}, 422, "tenant.tax_number_invalid"),
    ("9 digits", {"tax_number": "123456789"}, 422, "tenant.tax_number_invalid"),
    ("reserved subdomain", {"subdomain": "admin"}, 409, "tenant.subdomain_reserved"),
    ("invalid subdomain", {"subdomain": "Büyük_Şirket"}, 422, "tenant.subdomain_invalid"),
    ("unknown field", {"is_admin": True}, 422, "request.validation_failed"),
    ("wrong type", {"name": 42}, 422, "request.validation_failed"),
    ("number as string field", {"tax_number": 4540536920}, 422, "request.validation_failed"),
    ("unknown plan", {"plan": "gold"}, 422, "request.validation_failed"),
    ("bad time zone", {"timezone": "Mars/Olympus"}, 422, "request.validation_failed"),
    ("weak password", {"admin": {"email": "a@b.com.tr", "password": "short"}}, 422, "tenant.admin_password_weak"),
    ("bad email", {"admin": {"email": "not-an-email", "password": "çok-gizli-parola-123"}}, 422, "tenant.admin_email_invalid"),
    ("missing admin", {"admin": None}, 422, "request.validation_failed"),
]


@pytest.mark.parametrize("label,over,status,code", BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_refused_and_nothing_written(client, operator_token, db, label, over, status, code):
    body = tenant_body(**over)
    if body.get("admin") is None:
        del body["admin"]
    before = counts(db)
    r = await client("tenant-onboarding").post("/tenants", json=body, headers=bearer(operator_token))
    assert r.status_code == status, r.text
    p = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert p["code"] == code and p["status"] == status and p["title"]
    assert counts(db) == before


async def test_problem_in_english_when_asked(client, operator_token):
    r = await client("tenant-onboarding").post(
        "/tenants", json=tenant_body(tax_number="4540536921"),
        headers={**bearer(operator_token), "Accept-Language": "en-GB,en;q=0.9,tr;q=0.5"})
    assert r.status_code == 422 and r.headers["content-language"] == "en"
    assert r.json()["title"].startswith("Invalid tax number")
    r = await client("tenant-onboarding").post(
        "/tenants", json=tenant_body(tax_number="4540536921"), headers=bearer(operator_token))
    assert r.json()["title"].startswith("Vergi numarası geçersiz")


async def test_taken_subdomain(client, operator_token, db):
    body = tenant_body()
    r = await client("tenant-onboarding").post("/tenants", json=body, headers=bearer(operator_token))
    assert r.status_code == 201
    before = counts(db)
    again = tenant_body(subdomain=body["subdomain"], tax_number="4540536920")
    r = await client("tenant-onboarding").post("/tenants", json=again, headers=bearer(operator_token))
    assert r.status_code == 409 and r.json()["code"] == "tenant.subdomain_taken"
    assert counts(db) == before


async def test_concurrent_onboarding_of_one_subdomain_creates_one_tenant(client, operator_token, db):
    import asyncio

    body = tenant_body()
    rs = await asyncio.gather(*[
        client("tenant-onboarding").post("/tenants", json=body, headers=bearer(operator_token)) for _ in range(4)
    ])
    assert sorted(r.status_code for r in rs) == [201, 409, 409, 409]
    n = db.execute("select count(*) from tenants where subdomain = %s", (body["subdomain"],)).fetchone()[0]
    assert n == 1


@pytest.mark.parametrize("raw,ctype,status,code", [
    (b'{"name": "x",', "application/json", 400, "request.malformed_json"),
    (b"\xff\xfe not utf8", "application/json", 400, "request.malformed_json"),
    (b"[]", "application/json", 422, "request.validation_failed"),
    (b'{"name": "x"}', "text/plain", 415, "request.unsupported_media_type"),
    (b"name=x", "application/x-www-form-urlencoded", 415, "request.unsupported_media_type"),
])
async def test_malformed_bodies(client, operator_token, db, raw, ctype, status, code):
    before = counts(db)
    r = await client("tenant-onboarding").post(
        "/tenants", content=raw, headers={**bearer(operator_token), "content-type": ctype})
    assert r.status_code == status and r.json()["code"] == code
    assert counts(db) == before


async def test_oversized_body_is_refused_before_parsing(client, operator_token, db):
    before = counts(db)
    big = json.dumps(tenant_body(name="x" * (1024 * 1024 + 10))).encode()
    r = await client("tenant-onboarding").post(
        "/tenants", content=big, headers={**bearer(operator_token), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "request.too_large"

    async def stream():  # no Content-Length: counted while reading
        for _ in range(17):
            yield b" " * 65536

    r = await client("tenant-onboarding").post(
        "/tenants", content=stream(), headers={**bearer(operator_token), "content-type": "application/json"})
    assert r.status_code == 413
    assert counts(db) == before


async def test_unknown_routes_and_methods(client, operator_token):
    r = await client("tenant-onboarding").get("/nope", headers=bearer(operator_token))
    assert r.status_code == 404 and r.json()["code"] == "request.not_found"
    r = await client("tenant-onboarding").delete(f"/tenants/{uuid.uuid4()}", headers=bearer(operator_token))
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    r = await client("tenant-onboarding").get("/tenants/not-a-uuid", headers=bearer(operator_token))
    assert r.status_code == 404


async def test_the_callers_trace_continues_into_the_event(client, operator_token, db):
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = await client("tenant-onboarding").post("/tenants", json=tenant_body(),
                                               headers={**bearer(operator_token), "traceparent": tp})
    assert r.status_code == 201
    ext = db.execute("select extensions from outbox where tenant_id = %s", (r.json()["tenant"]["id"],)).fetchone()[0]
    assert ext["traceparent"].split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_operators_list_tenants_a_page_at_a_time(client, onboard, operator_token):
    """Every tenant once, in onboarding order, across pages; only an operator may ask; a
    limit out of range is 422, a cursor this API did not give 400 request.invalid_cursor."""
    made = [await onboard() for _ in range(3)]
    h = {"Authorization": f"Bearer {operator_token}"}
    seen, cursor, pages = [], None, 0
    while True:
        r = await client("tenant-onboarding").get("/tenants", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                                  headers=h)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
        body = r.json()
        assert len(body["tenants"]) <= 2
        seen += [x["id"] for x in body["tenants"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and pages >= 2
    ours = [str(m["id"]) for m in made]
    assert [x for x in seen if x in ours] == ours  # all three, in the order they were made
    r = await client("tenant-onboarding").get("/tenants", headers={"Authorization": f"Bearer {made[0]['token']}"})
    assert r.status_code == 403
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}):
        r = await client("tenant-onboarding").get("/tenants", params=params, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", (params, r.text)
    for params in ({"cursor": "bm90LWEtY3Vyc29y"}, {"cursor": "%%%"}, {"cursor": ""}):
        r = await client("tenant-onboarding").get("/tenants", params=params, headers=h)
        assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor", (params, r.text)
