"""Tenant isolation: RLS is the guard, not the handlers' good manners."""

import uuid

import psycopg
import pytest
from sqlalchemy import select, text

from kopru.db import platform_transaction, tenant_transaction
from kopru.db.schema import TENANT_TABLES, api_clients, audit_log, outbox, tenants, users
from tests.helpers import bearer

# platform tables that carry a tenant id but no tenant data: they answer "which tenant
# owns this subdomain / client id" before any tenant is known, and hold nothing personal
DIRECTORIES = {"tenant_directory", "client_directory"}


def _psycopg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_app_role_owns_nothing_and_cannot_bypass_rls(services, db):
    app_role = db.execute("select rolname, rolbypassrls, rolsuper from pg_roles where rolname = 'kopru_app'").fetchone()
    assert app_role == ("kopru_app", False, False)
    owned = db.execute("select count(*) from pg_tables where schemaname = 'public' and tableowner = 'kopru_app'").fetchone()[0]
    assert owned == 0


def test_every_table_with_a_tenant_id_has_forced_rls(db):
    rows = db.execute("""
        select c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (select count(*) from pg_policy p where p.polrelid = c.oid)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r'
          and (exists (select 1 from information_schema.columns col
                       where col.table_name = c.relname and col.column_name = 'tenant_id')
               or c.relname = 'tenants')
    """).fetchall()
    tables = {r[0] for r in rows}
    assert set(TENANT_TABLES) <= tables
    for name, enabled, forced, policies in rows:
        if name in DIRECTORIES:
            continue
        assert enabled and forced and policies >= 1, f"{name} must have FORCEd RLS and a policy"
    assert tables - set(TENANT_TABLES) == DIRECTORIES, "a new tenant table must be added to TENANT_TABLES"


async def test_raw_app_connection_without_tenant_sees_nothing(services, onboard):
    await onboard()
    await onboard()
    with psycopg.connect(_psycopg(services["app_url"]), autocommit=True) as conn:
        for t in TENANT_TABLES:
            assert conn.execute(f"select count(*) from {t}").fetchone()[0] == 0, t
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into audit_log (tenant_id, actor, action) values (%s, 'x', 'y')", (uuid.uuid4(),))


async def test_scoped_transaction_sees_only_its_tenant(onboard):
    a, b = await onboard(), await onboard()
    async with tenant_transaction(a["id"], actor="test") as tx:
        for table in (tenants, users, api_clients, audit_log, outbox):
            col = table.c.id if table is tenants else table.c.tenant_id
            seen = set((await tx.execute(select(col).distinct())).scalars())
            assert seen == {a["id"]}, table.name


async def test_writing_into_another_tenant_is_refused(onboard):
    from psycopg import Error as DBAPIError  # the data path raises psycopg's own errors

    a, b = await onboard(), await onboard()
    # the audit log takes entries only through kopru_audit_append, which names the transaction's own tenant
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_transaction(a["id"], actor="test") as tx:
            await tx.execute(audit_log.insert().values(tenant_id=b["id"], actor="x", action="forged", seq=1))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(a["id"], actor="test") as tx:
            await tx.execute(outbox.insert().values(tenant_id=b["id"], event_id=uuid.uuid4(), type="x", source="x",
                                                    data={}))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(a["id"], actor="test") as tx:
            await tx.execute(users.insert().values(
                id=uuid.uuid4(), tenant_id=b["id"], email="x@y.tr", email_fold="x@y.tr", password_hash="x", role="admin"))
    async with tenant_transaction(a["id"], actor="test") as tx:
        # updating another tenant's rows silently touches none
        res = await tx.execute(tenants.update().where(tenants.c.id == b["id"]).values(name="hijacked"))
        assert res.rowcount == 0


async def test_tenant_does_not_outlive_its_transaction_on_a_pooled_connection(onboard):
    a = await onboard()
    for _ in range(10):  # more than the pool's size: every connection is reused
        async with tenant_transaction(a["id"], actor="test") as tx:
            assert (await tx.execute(select(tenants.c.id))).scalar() == a["id"]
        async with platform_transaction() as conn:
            assert (await conn.execute(text("select count(*) from tenants"))).scalar() == 0
            assert (await conn.execute(text("select current_setting('app.tenant_id', true)"))).scalar() in (None, "")


# Every route of every function, called with tenant A's credentials on tenant B's
# ids and tokens. The test must know each route: a new route fails here until listed.
PUBLIC = {("token", "POST", "/oauth2/token"), ("token", "GET", "/.well-known/jwks.json"),
          # RFC 8414 metadata: public by definition, the same for everyone (no tenant data)
          ("token", "GET", "/.well-known/oauth-authorization-server"),
          ("token", "GET", "/.well-known/openid-configuration"),
          # a signed link (tests/kvkk/test_export.py: it opens only its own export, and expires)
          ("data-export", "GET", "/exports/{id}/download"),
          # Netgsm's push: a per-tenant signed URL (tests/functions/test_sms_report.py: another tenant's
          # signature is refused, and a tenant's valid URL cannot reach another tenant's messages)
          ("sms-report", "POST", "/sms/reports"),
          # the payer's browser back from iyzico and iyzico's notification: signed per-tenant URLs
          # (tests/payments: another tenant's signature is refused, a forged V3 signature too)
          ("payment", "POST", "/payments/{id}/callback"), ("payment", "POST", "/payments/notifications"),
          # an invoice's HTML view through a signed, expiring link naming its tenant (tests/einvoice/test_view.py:
          # a forged or truncated token 403, expired 410, a valid link naming another tenant 404, nothing written)
          ("einvoice-submit", "GET", "/einvoices/view/{token}"),
          # Bulutfon's call webhooks: a per-tenant signed URL and the tenant's HTTP Basic credentials
          # (tests/calls: another tenant's signature 403, another tenant's credentials 401, nothing written)
          ("calls", "POST", "/calls/webhooks/bulutfon"),
          # Meta's WhatsApp webhook: a per-tenant MAC'd path, then the tenant's app secret over the raw body
          # (tests/functions/test_whatsapp.py: another tenant's id under a tenant's MAC 403, a wrong or missing
          # X-Hub-Signature-256 401/403 with nothing applied)
          ("whatsapp", "GET", "/whatsapp/webhooks/{tenant}/{sig}"), ("whatsapp", "POST", "/whatsapp/webhooks/{tenant}/{sig}")}
OPERATOR_ONLY = {("tenant-onboarding", "POST", "/tenants"), ("tenant-onboarding", "GET", "/tenants")}
TENANT_SCOPED = {
    ("tenant-onboarding", "GET", "/tenants/{id}"),
    ("tenant-onboarding", "GET", "/tenants/{id}/clients"),
    ("tenant-onboarding", "POST", "/tenants/{id}/clients"),
    ("tenant-onboarding", "DELETE", "/tenants/{id}/clients/{client_id}"),
    ("consent-record", "POST", "/consents/{id}/withdraw"),
    ("consent-record", "GET", "/consents"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/netgsm"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/nilvera"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/netgsm"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/nilvera"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/netgsm/test"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/nilvera/test"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/iyzico"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/iyzico"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/iyzico/test"),
    ("payment", "GET", "/payments/{id}"),
    ("payment", "POST", "/payments/{id}/refunds"),
    ("payment", "POST", "/payments/{id}/cancel"),
    ("einvoice-submit", "GET", "/einvoices/{id}"),
    ("einvoice-submit", "GET", "/einvoices/{id}/xml"),
    ("sms-send", "GET", "/sms/{id}"),
    ("whatsapp", "GET", "/whatsapp/messages/{id}"),
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/whatsapp"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/whatsapp"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/whatsapp/test"),
    ("data-export", "POST", "/exports"),
    ("data-export", "GET", "/exports/{id}"),
    ("data-erasure", "POST", "/erasures"),
    ("data-erasure", "GET", "/erasures/{id}"),
    ("webhooks", "GET", "/webhooks/endpoints/{id}"),
    ("webhooks", "PATCH", "/webhooks/endpoints/{id}"),
    ("webhooks", "DELETE", "/webhooks/endpoints/{id}"),
    ("webhooks", "POST", "/webhooks/endpoints/{id}/rotate"),
    ("webhooks", "GET", "/webhooks/endpoints/{id}/deliveries"),
    ("webhooks", "POST", "/webhooks/endpoints/{id}/replay"),
    ("webhooks", "POST", "/webhooks/deliveries/{id}/replay"),
    ("workflows", "GET", "/workflows/{id}"),
    ("workflows", "PATCH", "/workflows/{id}"),
    ("workflows", "DELETE", "/workflows/{id}"),
    ("workflows", "POST", "/workflows/{id}/dry-run"),
    ("workflows", "GET", "/workflows/{id}/runs"),
    ("workflows", "POST", "/workflows/{id}/runs/{run_id}/retry"),
    # credit reports (kopru.credit)
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/credit-partner"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/credit-partner"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/credit-partner/test"),
    ("credit-report", "GET", "/credit-reports/{id}"),
    ("credit-report", "GET", "/credit-reports/{id}/document"),
    # calls (Bulutfon)
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/bulutfon"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/bulutfon"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/bulutfon/test"),
    ("calls", "GET", "/calls/{id}"),
    ("calls", "GET", "/calls/bridges/{id}"),
    # vehicles (Arvento): B's vehicle and geofence by id
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/arvento"),
    ("tenant-onboarding", "GET", "/tenants/{id}/integrations/arvento"),
    ("tenant-onboarding", "POST", "/tenants/{id}/integrations/arvento/test"),
    ("vehicles", "GET", "/vehicles/{id}"),
    ("vehicles", "PUT", "/vehicles/{id}/driver"),
    ("vehicles", "DELETE", "/vehicles/{id}/driver"),
    ("vehicles", "GET", "/geofences/{id}"),
    ("vehicles", "DELETE", "/geofences/{id}"),
}
# lists of the caller's own tenant: A's list answers 200 and holds none of B's objects
OWN_LISTS = {("webhooks", "GET", "/webhooks/endpoints"), ("workflows", "GET", "/workflows"),
             ("workflows", "GET", "/workflows/actions"), ("vehicles", "GET", "/vehicles"),
             ("vehicles", "GET", "/geofences"), ("credit-report", "GET", "/credit-reports"), ("calls", "GET", "/calls")}
CLIENT_AUTH = {("token", "POST", "/oauth2/introspect"), ("token", "POST", "/oauth2/revoke")}
# routes that create in the caller's own tenant: nothing in the request can name another
# tenant (a tenant_id field is an unknown field, refused), and B is left untouched
CONSENT = {"subject": {"phone": "+905321234567"}, "purpose": "marketing", "legal_basis": "explicit_consent",
           "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30}

WORKFLOW = {"name": "Büyük ödeme", "trigger": {"type": "kopru.payment.succeeded.v1"},
            "steps": [{"action": "sms.send", "input": {"to_payment_buyer": "data.payment_id",
                                                       "message": {"const": "Teşekkürler"},
                                                       "kind": {"const": "transactional"}}}]}

# routes whose request cannot name another tenant at all: trying to is an unknown field (422)
OWN_TENANT_ONLY = {
    ("consent-record", "POST", "/consents"): CONSENT,
    ("sms-send", "POST", "/sms"): {"to": "+905321234567", "message": "Merhaba", "kind": "transactional"},
    ("sms-send", "POST", "/sms/estimate"): {"message": "Merhaba"},
    ("whatsapp", "POST", "/whatsapp/messages"): {"to": "+905321234567", "category": "transactional",
                                                 "template": {"name": "siparis_kargoda", "language": "tr"}},
    ("einvoice-submit", "POST", "/einvoices"): {
        "profile": "TEMELFATURA", "type": "SATIS", "issue_date": "2026-11-20",
        "customer": {"vkn": "1234567026", "name": "Alıcı A.Ş.", "tax_office": "Kadıköy",
                     "address": {"district": "Kadıköy", "city": "İstanbul"}},
        "lines": [{"name": "Hizmet", "quantity": "1", "unit_code": "C62", "unit_price": "10", "kdv_rate": "20"}]},
    ("payment", "POST", "/payments/3ds"): {
        "amount": "10.00", "items": [{"id": "i1", "name": "Kitap", "category": "Kitap", "price": "10.00"}],
        "buyer": {"name": "Ayşe", "surname": "Yılmaz", "identity_number": "10000000146", "email": "a@b.com.tr",
                  "address": "Barbaros Bulvarı 1", "city": "İstanbul", "ip": "85.34.78.112"},
        "return_url": "https://magaza.example/odeme",
        "card": {"holder_name": "Ayşe Yılmaz", "number": "5528790000000008", "expire_month": "12",
                 "expire_year": "2030", "cvc": "123"}},
    ("payment", "POST", "/payments"): {
        "amount": "10.00", "items": [{"id": "i1", "name": "Kitap", "category": "Kitap", "price": "10.00"}],
        "buyer": {"name": "Ayşe", "surname": "Yılmaz", "identity_number": "10000000146", "email": "a@b.com.tr",
                  "address": "Barbaros Bulvarı 1", "city": "İstanbul", "ip": "85.34.78.112"},
        "return_url": "https://magaza.example/odeme"},
    ("webhooks", "POST", "/webhooks/endpoints"): {"url": "https://hooks.example.com/k",
                                                  "event_types": ["kopru.payment.succeeded.v1"]},
    ("workflows", "POST", "/workflows"): WORKFLOW,
    ("credit-report", "POST", "/credit-reports"): {"scheme": "TCKN", "number": "10000000146"},
    ("credit-report", "POST", "/credit-reports/uploads"): {"scheme": "TCKN", "number": "10000000146",
                                                           "pdf_base64": "JVBERi0xLjcK"},
    ("calls", "POST", "/calls/bridges"): {"callee": "+905321234567", "destination": "1001"},
    ("vehicles", "POST", "/geofences"): {"name": "Depo", "circle": {"latitude": 41.0, "longitude": 29.0,
                                                                    "radius_m": 300}},
}


async def _tenant_b_objects(client, b) -> dict:
    """Objects of tenant B that routes take by id (not B's tenant id)."""
    r = await client("consent-record").post("/consents", json=CONSENT, headers=bearer(b["token"]))
    assert r.status_code == 201, r.text
    consent = r.json()
    out = {"consent_id": consent["id"], "subject_id": consent["subject_id"], "phone": CONSENT["subject"]["phone"]}
    for fn, path in (("data-export", "/exports"), ("data-erasure", "/erasures")):
        r = await client(fn).post(path, json={"subject": {"id": consent["subject_id"]}}, headers=bearer(b["token"]))
        assert r.status_code == 202, r.text
        out[path] = r.json()["id"]
    r = await client("webhooks").post("/webhooks/endpoints", headers=bearer(b["token"]), json={
        "url": "https://hooks.example.com/b", "event_types": ["kopru.payment.succeeded.v1"]})
    assert r.status_code == 201, r.text
    out["webhook_endpoint"] = r.json()["id"]
    r = await client("workflows").post("/workflows", headers=bearer(b["token"]), json=WORKFLOW)
    assert r.status_code == 201, r.text
    out["workflow"] = r.json()["id"]
    # B's credit report: the Findeks PDF a counterparty shared, on its credit_report consent
    from tests.credit.conftest import b64, consent_body, pdf_bytes

    r = await client("consent-record").post("/consents", json=consent_body(), headers=bearer(b["token"]))
    assert r.status_code == 201, r.text
    r = await client("credit-report").post("/credit-reports/uploads", headers=bearer(b["token"]), json={
        "scheme": "TCKN", "number": "10000000146", "pdf_base64": b64(pdf_bytes(1))})
    assert r.status_code == 201, r.text
    out["credit_report"] = r.json()["id"]
    r = await client("vehicles").post("/geofences", headers=bearer(b["token"]), json={
        "name": "B deposu", "circle": {"latitude": 41.0, "longitude": 29.0, "radius_m": 300}})
    assert r.status_code == 201, r.text
    out["geofence"] = r.json()["id"]
    from kopru.connectors.arvento import Position
    from kopru.vehicles.service import apply_positions

    await apply_positions(b["id"], [Position("B-NODE-1", 41.0, 29.0, None, speed_kmh=0.0)])
    r = await client("vehicles").get("/vehicles", headers=bearer(b["token"]))
    out["vehicle"] = r.json()["vehicles"][0]["id"]
    # B's call record (as a Bulutfon webhook would make it)
    from kopru.calls.service import _upsert
    from kopru.db import tenant_transaction

    async with tenant_transaction(b["id"], actor="test") as tx:
        call_id, _, _ = await _upsert(tx, str(uuid.uuid4()), direction="IN", caller="905321234567",
                                      callee="908508850000", values={"missed": True})
    r = await client("calls").get("/calls", headers=bearer(b["token"]))
    assert [c["id"] for c in r.json()["calls"]] == [str(call_id)], r.text
    out["call"] = str(call_id)
    return out


# (url, body) for routes that need B's objects, or a valid body to get past validation
REQUESTS = {
    ("consent-record", "POST", "/consents/{id}/withdraw"):
        lambda b, o: (f"/consents/{o['consent_id']}/withdraw", {"channel": "web"}),
    ("consent-record", "GET", "/consents"): lambda b, o: ("/consents?subject=" + o["phone"].replace("+", "%2B"), None),
    # B's subject, by id and by phone: not found in A's tenant, nothing opened
    ("data-export", "POST", "/exports"): lambda b, o: ("/exports", {"subject": {"id": o["subject_id"]}}),
    ("data-erasure", "POST", "/erasures"): lambda b, o: ("/erasures", {"subject": {"phone": o["phone"]}}),
    ("data-export", "GET", "/exports/{id}"): lambda b, o: (f"/exports/{o['/exports']}", None),
    ("data-erasure", "GET", "/erasures/{id}"): lambda b, o: (f"/erasures/{o['/erasures']}", None),
    # B's payments are reached by id in tests/payments; here an id that is not A's
    ("payment", "POST", "/payments/{id}/refunds"): lambda b, o: (f"/payments/{b['id']}/refunds", {"amount": "1.00"}),
    # B's webhook endpoint by its id (B's deliveries: tests/webhooks)
    **{("webhooks", m, p): (lambda m, p: lambda b, o: (
        p.replace("{id}", o["webhook_endpoint"]) + ("?since=" + _recent() if p.endswith("/replay") else ""),
        {"enabled": False} if m == "PATCH" else None))(m, p)
       for m, p in (("GET", "/webhooks/endpoints/{id}"), ("PATCH", "/webhooks/endpoints/{id}"),
                    ("DELETE", "/webhooks/endpoints/{id}"), ("POST", "/webhooks/endpoints/{id}/rotate"),
                    ("GET", "/webhooks/endpoints/{id}/deliveries"), ("POST", "/webhooks/endpoints/{id}/replay"))},
    # B's credit report by its id (its content and its PDF)
    ("credit-report", "GET", "/credit-reports/{id}"): lambda b, o: (f"/credit-reports/{o['credit_report']}", None),
    ("credit-report", "GET", "/credit-reports/{id}/document"):
        lambda b, o: (f"/credit-reports/{o['credit_report']}/document", None),
    # B's call record by its id
    ("calls", "GET", "/calls/{id}"): lambda b, o: (f"/calls/{o['call']}", None),
    # B's vehicle and geofence by their ids
    ("vehicles", "GET", "/vehicles/{id}"): lambda b, o: (f"/vehicles/{o['vehicle']}", None),
    ("vehicles", "PUT", "/vehicles/{id}/driver"):
        lambda b, o: (f"/vehicles/{o['vehicle']}/driver", {"driver": {"phone": "+905321234567"}}),
    ("vehicles", "DELETE", "/vehicles/{id}/driver"): lambda b, o: (f"/vehicles/{o['vehicle']}/driver", None),
    ("vehicles", "GET", "/geofences/{id}"): lambda b, o: (f"/geofences/{o['geofence']}", None),
    ("vehicles", "DELETE", "/geofences/{id}"): lambda b, o: (f"/geofences/{o['geofence']}", None),
    # B's workflow by its id
    **{("workflows", m, p): (lambda m, p: lambda b, o: (
        p.replace("{id}", o["workflow"]), {"enabled": False} if m == "PATCH" else {} if m == "POST" else None))(m, p)
       for m, p in (("GET", "/workflows/{id}"), ("PATCH", "/workflows/{id}"), ("DELETE", "/workflows/{id}"),
                    ("POST", "/workflows/{id}/dry-run"), ("GET", "/workflows/{id}/runs"))},
    ("workflows", "POST", "/workflows/{id}/runs/{run_id}/retry"):
        lambda b, o: (f"/workflows/{o['workflow']}/runs/{uuid.uuid4()}/retry", None),
}


def _recent() -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+", "%2B")


async def test_every_route_keeps_tenant_b_out_of_tenant_a_reach(client, onboard, db):
    from kopru.runtime.registry import functions

    a, b = await onboard(), await onboard()
    before = db.execute("select count(*) from api_clients where tenant_id = %s and revoked_at is null",
                        (str(b["id"]),)).fetchone()[0]
    b_objects = await _tenant_b_objects(client, b)
    b_consents = db.execute("select count(*) from consents where tenant_id = %s and withdrawn_at is null",
                            (str(b["id"]),)).fetchone()[0]
    for info in functions().values():
        for method, path in info.routes:
            key = (info.name, method, path)
            assert key in PUBLIC | OPERATOR_ONLY | TENANT_SCOPED | CLIENT_AUTH | set(OWN_TENANT_ONLY) | OWN_LISTS, \
                f"{key}: decide how this route is isolated and add it to this test"
            if key in PUBLIC:
                continue
            if key in OWN_LISTS:
                r = await client(info.name).request(method, path, headers=bearer(a["token"]))
                assert r.status_code == 200, (key, r.text)
                assert b_objects["webhook_endpoint"] not in r.text and str(b["id"]) not in r.text, key
                assert b_objects["workflow"] not in r.text, key
                assert b_objects["vehicle"] not in r.text and b_objects["geofence"] not in r.text, key
                assert b_objects["credit_report"] not in r.text and b_objects["subject_id"] not in r.text, key
                assert b_objects["call"] not in r.text and "905321234567" not in r.text, key
                continue
            if key in CLIENT_AUTH:
                r = await client(info.name).post(path, data={"token": b["token"]},
                                                 auth=(a["client_id"], a["client_secret"]))
                assert r.status_code == 200 and r.json().get("active") in (None, False), key
                continue
            if key in OWN_TENANT_ONLY:
                r = await client(info.name).request(method, path, headers=bearer(a["token"]),
                                                    json={**OWN_TENANT_ONLY[key], "tenant_id": str(b["id"])})
                assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", (key, r.text)
                continue
            if key in REQUESTS:
                url, body = REQUESTS[key](b, b_objects)
            else:
                url = path.replace("{id}", str(b["id"])).replace("{client_id}", b["client_id"])
                body = {"name": "x"} if method in ("POST", "PUT", "PATCH") else None
            r = await client(info.name).request(method, url, headers=bearer(a["token"]), json=body)
            assert r.status_code in (403, 404), (key, r.status_code)
            assert b["tenant"]["subdomain"] not in r.text and b["client_id"] not in r.text
    # and B is untouched: its client still works, its token is still live
    after = db.execute("select count(*) from api_clients where tenant_id = %s and revoked_at is null",
                       (str(b["id"]),)).fetchone()[0]
    assert after == before
    assert db.execute("select count(*) from consents where tenant_id = %s and withdrawn_at is null",
                      (str(b["id"]),)).fetchone()[0] == b_consents
    assert db.execute("select enabled from webhook_endpoints where id = %s",
                      (b_objects["webhook_endpoint"],)).fetchone() == (True,)
    assert db.execute("select enabled from workflows where id = %s", (b_objects["workflow"],)).fetchone() == (True,)
    assert db.execute("select count(*) from geofences where id = %s", (b_objects["geofence"],)).fetchone() == (1,)
    assert db.execute("select driver_subject_id from vehicles where id = %s",
                      (b_objects["vehicle"],)).fetchone() == (None,)
    # A's attempts on B's subject opened nothing anywhere
    count = "select count(*) from subject_requests where tenant_id = %s"
    assert db.execute(count, (str(a["id"]),)).fetchone()[0] == 0
    assert db.execute(count, (str(b["id"]),)).fetchone()[0] == 2
    r = await client("tenant-onboarding").get(f"/tenants/{b['id']}", headers=bearer(b["token"]))
    assert r.status_code == 200
