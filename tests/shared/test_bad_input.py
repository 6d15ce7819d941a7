"""Bad input that once answered 500: control characters (PostgreSQL cannot store NUL),
lone surrogates, JSON nested past a sane depth, header values we store. Every route that
takes a body answers 4xx with its stable code and writes nothing."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import bearer, tenant_body

CONSENT = {"subject": {"phone": "+905321234567"}, "purpose": "marketing", "legal_basis": "explicit_consent",
           "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30}
INVOICE = {
    "profile": "TEMELFATURA", "type": "SATIS", "issue_date": "2026-11-20",
    "customer": {"vkn": "1234567026", "name": "Alıcı A.Ş.", "tax_office": "Kadıköy",
                 "address": {"district": "Kadıköy", "city": "İstanbul"}},
    "lines": [{"name": "Hizmet", "quantity": "1", "unit_code": "C62", "unit_price": "10", "kdv_rate": "20"}]}
PAYMENT = {"amount": "10.00", "items": [{"id": "i1", "name": "Kitap", "category": "Kitap", "price": "10.00"}],
           "buyer": {"name": "Ayşe", "surname": "Yılmaz", "identity_number": "10000000146", "email": "a@b.com.tr",
                     "address": "Barbaros Bulvarı 1", "city": "İstanbul", "ip": "85.34.78.112"},
           "return_url": "https://magaza.example/odeme"}

# Every route that takes a JSON body: (a body valid in shape, the path of the string field that
# gets the bad text, who calls it). A new body route fails here until it is listed.
BODIES = {
    ("tenant-onboarding", "POST", "/tenants"): (lambda: tenant_body(), ("name",), "operator"),
    ("tenant-onboarding", "POST", "/tenants/{id}/clients"): (lambda: {"name": "muhasebe"}, ("name",), "tenant"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/netgsm"):
        (lambda: {"usercode": "8501234567", "password": "gizli", "msgheader": "KOPRU"}, ("msgheader",), "tenant"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/nilvera"):
        (lambda: {"api_key": "nilvera-api-key-1", "series": "KPR"}, ("api_key",), "tenant"),
    ("sms-send", "POST", "/sms"):
        (lambda: {"to": "+905321234567", "message": "Merhaba", "kind": "transactional"}, ("message",), "tenant"),
    ("sms-send", "POST", "/sms/estimate"): (lambda: {"message": "Merhaba"}, ("message",), "tenant"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/whatsapp"):
        (lambda: {"phone_number_id": "106540352242922", "access_token": "EAAG-token-1", "app_secret": "secret-12345",
                  "verify_token": "verify-12345"}, ("access_token",), "tenant"),
    ("whatsapp", "POST", "/whatsapp/messages"):
        (lambda: {"to": "+905321234567", "category": "transactional", "text": {"body": "Merhaba"}}, ("text", "body"),
         "tenant"),
    ("einvoice-submit", "POST", "/einvoices"): (lambda: json.loads(json.dumps(INVOICE)), ("lines", 0, "name"), "tenant"),
    ("consent-record", "POST", "/consents"): (lambda: dict(CONSENT), ("consent_text",), "tenant"),
    ("consent-record", "POST", "/consents/{id}/withdraw"): (lambda: {"channel": "web"}, ("channel",), "tenant"),
    ("data-export", "POST", "/exports"): (lambda: {"subject": {"phone": "+905321234567"}}, ("subject", "phone"), "tenant"),
    ("data-erasure", "POST", "/erasures"): (lambda: {"subject": {"phone": "+905321234567"}}, ("subject", "phone"), "tenant"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/iyzico"):
        (lambda: {"api_key": "iyzico-api-key", "secret_key": "iyzico-secret"}, ("api_key",), "tenant"),
    ("payment", "POST", "/payments"): (lambda: json.loads(json.dumps(PAYMENT)), ("items", 0, "name"), "tenant"),
    ("payment", "POST", "/payments/3ds"): (lambda: {**json.loads(json.dumps(PAYMENT)), "card": {
        "holder_name": "Ayşe Yılmaz", "number": "5528790000000008", "expire_month": "12", "expire_year": "2030",
        "cvc": "123"}}, ("card", "holder_name"), "tenant"),
    ("payment", "POST", "/payments/{id}/refunds"): (lambda: {"amount": "1.00", "reason": "other"}, ("reason",), "tenant"),
    ("webhooks", "POST", "/webhooks/endpoints"): (lambda: {"url": "https://hooks.example.com/k", "event_types": [
        "kopru.payment.succeeded.v1"], "description": "muhasebe"}, ("description",), "tenant"),
    ("webhooks", "PATCH", "/webhooks/endpoints/{id}"): (lambda: {"description": "muhasebe"}, ("description",), "tenant"),
    ("workflows", "POST", "/workflows"): (lambda: {"name": "Büyük ödeme", "trigger": {
        "type": "kopru.payment.succeeded.v1"}, "steps": [{"action": "sms.send", "input": {
        "to_payment_buyer": "data.payment_id", "message": {"const": "Teşekkürler"},
        "kind": {"const": "transactional"}}}]}, ("name",), "tenant"),
    ("workflows", "PATCH", "/workflows/{id}"): (lambda: {"name": "akış"}, ("name",), "tenant"),
    ("workflows", "POST", "/workflows/{id}/dry-run"): (lambda: {"subject": "ödeme"}, ("subject",), "tenant"),
    # credit reports (kopru.credit)
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/credit-partner"):
        (lambda: {"customer_code": "MUSTERI-1", "api_key": "kredi-anahtari-1"}, ("api_key",), "tenant"),
    ("credit-report", "POST", "/credit-reports"):
        (lambda: {"scheme": "TCKN", "number": "10000000146"}, ("number",), "tenant"),
    ("credit-report", "POST", "/credit-reports/uploads"):
        (lambda: {"scheme": "TCKN", "number": "10000000146", "pdf_base64": "JVBERi0xLjcK"}, ("pdf_base64",), "tenant"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/bulutfon"):
        (lambda: {"api_key": "bulutfon-api-key", "line": "908508850000", "webhook_username": "kopru",
                  "webhook_password": "webhook-password-1234"}, ("webhook_username",), "tenant"),
    ("calls", "POST", "/calls/bridges"): (lambda: {"callee": "+905321234567", "destination": "1001"}, ("callee",),
                                          "tenant"),
    # vehicles (Arvento)
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/arvento"):
        (lambda: {"username": "filo-api", "password": "gizli"}, ("password",), "tenant"),
    ("vehicles", "PUT", "/vehicles/{id}/driver"): (lambda: {"driver": {"phone": "+905321234567"}},
                                                   ("driver", "phone"), "tenant"),
    ("vehicles", "POST", "/geofences"): (lambda: {"name": "Depo", "circle": {
        "latitude": 41.0, "longitude": 29.0, "radius_m": 300}}, ("name",), "tenant"),
}

# tables a request could write to; "nothing written" is checked on each
TABLES = ("tenants", "users", "api_clients", "audit_log", "outbox", "sms_messages", "sms_status_history", "einvoices",
          "einvoice_status_history", "consents", "data_subjects", "subject_requests", "idempotent_requests",
          "tenant_integrations", "outward_calls", "payments", "payment_history", "payment_refunds",
          "webhook_endpoints", "webhook_deliveries", "workflows", "workflow_runs", "credit_reports",
          "call_records", "call_bridges", "call_sync_cursors",
          "arvento_sessions", "vehicles", "vehicle_positions", "geofences",
          "whatsapp_messages", "whatsapp_status_history", "whatsapp_inbound", "whatsapp_windows")


def _body_routes():
    from kopru.runtime.registry import functions, load_module

    for info in functions().values():
        fn = load_module(info.source).fn
        for route, doc in fn.docs.items():
            if doc.body:
                yield info.name, route.method, route.path


def _set(body, path, value):
    target = body
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return body


def _counts(db) -> dict[str, int]:
    existing = {r[0] for r in db.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert set(TABLES) <= existing, set(TABLES) - existing  # a renamed table must not silently drop out
    return {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


def _variants(make, path):
    """(label, raw JSON bytes, expected status, expected code)"""
    marker = "\u2063MARK\u2063"
    yield "NUL", json.dumps(_set(make(), path, "Ad\u0000Soyad")).encode(), 422, "request.control_characters"
    yield "C0 ESC", json.dumps(_set(make(), path, "Ad\u001bSoyad")).encode(), 422, "request.control_characters"
    yield "C1 NEL", json.dumps(_set(make(), path, "Ad\u0085Soyad"), ensure_ascii=False).encode(), 422, \
        "request.control_characters"
    yield "C1 CSI escaped", json.dumps(_set(make(), path, "Ad\u009bSoyad")).encode(), 422, "request.control_characters"
    yield "DEL", json.dumps(_set(make(), path, "Ad\u007fSoyad")).encode(), 422, "request.control_characters"
    yield "NUL in a key", json.dumps({**make(), "x\u0000": "y"}).encode(), 422, "request.control_characters"
    raw = json.dumps(_set(make(), path, marker), ensure_ascii=False)
    yield "lone surrogate", raw.replace(marker, "Ad\\ud800Soyad").encode(), 400, "request.invalid_unicode"
    yield "lone low surrogate", raw.replace(marker, "\\udc00").encode(), 400, "request.invalid_unicode"
    yield "deep array", b"[" * 10_000 + b"]" * 10_000, 400, "request.too_deep"
    yield "deep object", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "request.too_deep"
    yield "deep unclosed", b"[" * 100_000, 400, "request.too_deep"
    yield "deep in a field", json.dumps(_set(make(), path, "x")).encode().replace(b'"x"', b"[" * 40 + b"]" * 40), \
        400, "request.too_deep"


async def test_every_json_body_route_refuses_control_characters_surrogates_and_deep_nesting(
        client, onboard, operator_token, db):
    from kopru.runtime.registry import functions, load_module

    t = await onboard()
    r = await client("consent-record").post("/consents", json=CONSENT, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    consent_id = r.json()["id"]
    seen = set()
    for key in _body_routes():
        assert key in BODIES, f"{key}: add a valid body and the field to poison to this test"
        seen.add(key)
        make, path, who = BODIES[key]
        fn, method, template = key
        url = template.replace("{id}", consent_id if "consents" in template else str(t["id"]))
        token = operator_token if who == "operator" else t["token"]
        limit = load_module(functions()[fn].source).fn.max_body_bytes
        for label, raw, status, code in _variants(make, path):
            if len(raw) > limit:  # the route's own size limit answers first
                status, code = 413, "request.too_large"
            before = _counts(db)
            started = time.perf_counter()
            r = await client(fn).request(method, url, content=raw, headers={
                **bearer(token), "Content-Type": "application/json", "Idempotency-Key": "k-" + label.replace(" ", "-")})
            elapsed = time.perf_counter() - started
            assert (r.status_code, r.headers["content-type"]) == (status, "application/problem+json"), (key, label, r.text)
            problem = r.json()
            assert problem["code"] == code, (key, label, problem)
            assert "Soyad" not in r.text and "\\u0000" not in r.text, (key, label)  # never echoed
            assert _counts(db) == before, (key, label)
            assert elapsed < 1.0, (key, label, elapsed)
        # the path of the field is named, its value never
        r = await client(fn).request(method, url, content=json.dumps(_set(make(), path, "a\u0000b")).encode(),
                                     headers={**bearer(token), "Content-Type": "application/json"})
        assert r.json()["errors"][0]["field"] == ".".join(str(p) for p in path), (key, r.text)
    assert seen == set(BODIES), "a listed route no longer takes a body"


async def test_line_breaks_and_tabs_stay_legitimate(client, onboard, db):
    t = await onboard()
    r = await client("sms-send").post("/sms/estimate", json={"message": "Satır 1\nSatır 2\r\n\tson"},
                                      headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    body = {**CONSENT, "consent_text": "Madde 1.\n\tMadde 2.\r\n"}
    r = await client("consent-record").post("/consents", json=body, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text


async def test_form_bodies_refuse_control_characters(client, onboard, db):
    t = await onboard()
    before = _counts(db)
    # the OAuth endpoints answer in RFC 6749's own error form (section 5.2): invalid_request
    for value in ("a\x00b", "a\x1bb", "a\u0085b"):
        for path, form in (("/oauth2/token", {"grant_type": "client_credentials", "scope": value}),
                           ("/oauth2/revoke", {"token": value}), ("/oauth2/introspect", {"token": value}),
                           ("/oauth2/token", {"grant_type": "client_credentials", value: "x"})):
            r = await client("token").post(path, data=form, auth=(t["client_id"], t["client_secret"]))
            assert r.status_code == 400, r.text
            assert r.json()["error"] == "invalid_request" and "control character" in r.json()["error_description"]
            assert value not in r.text
    r = await client("token").post("/oauth2/token", content=b"grant_type=client_credentials&scope=%ED%A0%80",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   auth=(t["client_id"], t["client_secret"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert _counts(db) == before


@pytest.mark.parametrize("key", ["a" * 101, "schlüssel", "a b\x7f", "tab\tkey", ""])
async def test_idempotency_key_is_printable_ascii_of_bounded_length(client, onboard, db, key):
    t = await onboard()
    before = _counts(db)
    r = await client("sms-send").post("/sms", json={"to": "+905321234567", "message": "Merhaba", "kind": "transactional"},
                                      headers={**bearer(t["token"]), "Idempotency-Key": key.encode("utf-8")})
    assert r.status_code == 400 and r.json()["code"] == "request.idempotency_key_invalid", r.text
    assert _counts(db) == before


async def test_idempotency_key_of_the_limit_is_accepted(client, onboard, netgsm):
    t = await onboard()
    r = await client("sms-send").post("/sms/estimate", json={"message": "Merhaba"},
                                      headers={**bearer(t["token"]), "Idempotency-Key": "A-z0_9.~:/" + "x" * 90})
    assert r.status_code == 200, r.text


async def test_oversized_accept_language_is_answered_quickly(client, onboard):
    t = await onboard()
    started = time.perf_counter()
    r = await client("sms-send").post("/sms/estimate", json={"message": "a\x00"},
                                      headers={**bearer(t["token"]), "Accept-Language": "en;q=0.1," * 200_000 + "en"})
    assert r.status_code == 422 and r.json()["code"] == "request.control_characters"
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("field,value", [
    ("retention_days", 10 ** 400), ("retention_days", 1e308), ("retention_days", "30"), ("retention_days", [30]),
    ("retention_days", -(10 ** 30)), ("consent_text", 10 ** 50), ("data_categories", {"a": 1}),
    ("subject", "x"), ("purpose", None), ("retention_days", True)])
async def test_wrong_types_and_huge_numbers_are_422(client, onboard, db, field, value):
    t = await onboard()
    before = _counts(db)
    r = await client("consent-record").post("/consents", json={**CONSENT, field: value}, headers=bearer(t["token"]))
    assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", r.text
    assert _counts(db) == before


@pytest.mark.parametrize("value", ["1" + "0" * 5000, "1e400", "-1e400", "1e-400", "NaN", "Infinity", 10 ** 40])
async def test_huge_invoice_amounts_are_422(client, onboard, db, value):
    t = await onboard()
    before = _counts(db)
    body = json.loads(json.dumps(INVOICE))
    body["lines"][0]["unit_price"] = value
    r = await client("einvoice-submit").post("/einvoices", json=body, headers=bearer(t["token"]))
    assert r.status_code in (400, 422) and r.json()["code"].startswith(("request.", "einvoice.")), r.text
    assert _counts(db) == before


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+03:00", "9999-12-31T23:59:59-03:00", "0001-01-01T00:00:00+14:00",
                                  "+366d", "-2m", "naive", "2020-01-01T00:00:00Z"])
async def test_scheduled_at_beyond_the_horizon_is_refused_before_anything_is_written(client, sms_tenant, db, when):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    if when == "+366d":
        when = (now + timedelta(days=366)).isoformat()
    elif when == "-2m":
        when = (now - timedelta(minutes=2)).isoformat()
    elif when == "naive":
        when = (now + timedelta(days=1)).replace(tzinfo=None).isoformat()
    before = _counts(db)
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]), json={
        "to": "+905321234567", "message": "Randevu hatırlatması", "kind": "transactional", "scheduled_at": when})
    assert r.status_code == 422 and r.json()["code"] == "sms.scheduled_at_out_of_range", r.text
    assert r.json()["errors"][0]["field"] == "scheduled_at"
    assert _counts(db) == before


@pytest.mark.parametrize("ahead", [0, 1, 364])
async def test_scheduled_at_within_the_horizon_is_accepted(client, sms_tenant, db, ahead):
    from datetime import datetime, timedelta, timezone

    when = (datetime.now(timezone(timedelta(hours=3))) + timedelta(days=ahead, seconds=-30 if ahead == 0 else 0))
    r = await client("sms-send").post("/sms", headers=bearer(sms_tenant["token"]), json={
        "to": "+905321234567", "message": "Randevu hatırlatması", "kind": "transactional",
        "scheduled_at": when.isoformat()})
    assert r.status_code == 202, r.text
    row = db.execute("select scheduled_at from sms_messages where id = %s", (r.json()["id"],)).fetchone()
    assert abs((row[0] - when).total_seconds()) < 0.001
