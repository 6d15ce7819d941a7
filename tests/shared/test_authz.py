"""Authorization declared on the route: every route says who may call it, the runtime
enforces it once before the handler runs (authenticate, scope, tenant), and a client
grants only scopes it holds."""

import re
import textwrap
import uuid

import httpx
import pytest

from kopru.auth.scopes import OPERATOR_SCOPE, SCOPES, TENANT_SCOPES
from tests.conftest import REPO
from tests.helpers import NETGSM_PASSWORD, NETGSM_USER, bearer, grant


def _routes():
    from kopru.runtime.registry import functions, load_module

    for info in functions().values():
        fn = load_module(info.source).fn
        for route, doc in fn.docs.items():
            yield info.name, route, doc


def test_every_route_declares_who_may_call_it():
    seen = 0
    for name, route, doc in _routes():
        seen += 1
        where = (name, route.method, route.path)
        kinds = [doc.public, doc.operator, doc.scope is not None]
        assert sum(kinds) == 1, f"{where}: declare scope=, operator=True or public=True"
        if doc.public:
            assert doc.auth in ("none", "client") and doc.tenant is None, where
            continue
        assert doc.auth == "bearer", where
        if doc.scope is not None:
            assert doc.scope in TENANT_SCOPES, where
            assert doc.tenant in ("token", "path"), where
        else:
            assert doc.tenant in (None, "path"), where
        if doc.tenant == "path":
            assert "{id}" in route.path, where
    assert seen >= 20


def test_a_route_that_declares_nothing_is_refused_at_import():
    from kopru.runtime import Function

    fn = Function("authz-declare-probe")

    async def h(call):
        return {}

    bad = [
        dict(),  # a bearer route that says nothing would be open to any valid token
        dict(auth="none"),  # a public route must say so
        dict(scope="sms:send"),  # where is the tenant?
        dict(scope="sms:sendd", tenant="token"),  # not a known scope
        dict(scope=OPERATOR_SCOPE, tenant="token"),  # operators are operator=True
        dict(scope="sms:send", tenant="query"),
        dict(scope="sms:send", operator=True, tenant="token"),
        dict(operator=True, tenant="token"),  # an operator has no tenant of its own
        dict(public=True, scope="sms:read"),
        dict(scope="tenant:read", tenant="path"),  # the path has no {id}
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            fn.route("GET", "/probe", **kw)(h)
    assert fn.routes == {}
    fn.route("GET", "/probe/{id}", scope="tenant:read", tenant="path")(h)
    fn.route("GET", "/open", public=True)(h)
    assert fn.docs[next(r for r in fn.routes if r.path == "/open")].auth == "none"


# -- the scope, enforced before any handler code -----------------------------------------

CONSENT = {"subject": {"phone": "+905321234599"}, "purpose": "marketing", "legal_basis": "explicit_consent",
           "data_categories": ["contact"], "channel": "web", "consent_text": "İzin metni", "retention_days": 30}

# a body each write route would accept (tenant:admin's client route writes with a valid one)
VALID = {
    ("consent-record", "POST", "/consents"): CONSENT,
    ("consent-record", "POST", "/consents/{id}/withdraw"): {"channel": "web"},
    ("data-export", "POST", "/exports"): {"subject": {"phone": CONSENT["subject"]["phone"]}},
    ("data-erasure", "POST", "/erasures"): {"subject": {"phone": CONSENT["subject"]["phone"]}},
    ("sms-send", "POST", "/sms"): {"to": "+905321234599", "message": "Merhaba", "kind": "transactional"},
    ("sms-send", "POST", "/sms/estimate"): {"message": "Merhaba"},
    ("tenant-onboarding", "POST", "/tenants/{id}/clients"): {"name": "yetkisiz"},
    ("tenant-onboarding", "PUT", "/tenants/{id}/integrations/netgsm"):
        {"usercode": NETGSM_USER, "password": NETGSM_PASSWORD, "msgheader": "ANADOLU"},
    ("einvoice-submit", "POST", "/einvoices"): {
        "profile": "TEMELFATURA", "type": "SATIS", "issue_date": "2026-11-20",
        "customer": {"vkn": "1234567026", "name": "Alıcı A.Ş.", "tax_office": "Kadıköy",
                     "address": {"district": "Kadıköy", "city": "İstanbul"}},
        "lines": [{"name": "Hizmet", "quantity": "1", "unit_code": "C62", "unit_price": "10", "kdv_rate": "20"}]},
}


def _row_counts(db) -> dict[str, int]:
    from kopru.db.schema import TENANT_TABLES

    tables = set(TENANT_TABLES) | {"tenant_directory", "client_directory"}
    return {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in sorted(tables)}


async def test_a_token_without_the_routes_scope_is_refused_before_the_handler(client, onboard, db, netgsm):
    t = await onboard()
    r = await client("consent-record").post("/consents", json=CONSENT, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    consent_id = r.json()["id"]
    tokens = {}
    for scope in sorted(TENANT_SCOPES):
        got = await grant(client, t["client_id"], t["client_secret"], scope=" ".join(sorted(TENANT_SCOPES - {scope})))
        assert scope not in got["scope"].split()
        tokens[scope] = got["access_token"]

    before = _row_counts(db)
    scoped_routes = [(n, r, d) for n, r, d in _routes() if d.scope is not None]
    assert {d.scope for _, _, d in scoped_routes} == TENANT_SCOPES  # every scope opens some route
    for name, route, doc in scoped_routes:
        key = (name, route.method, route.path)
        url = (route.path.replace("{id}", consent_id if name == "consent-record" else str(t["id"]))
               .replace("{client_id}", t["client_id"]))
        if route.method == "GET" and name == "consent-record":
            url += "?subject=%2B905321234599"
        lacking = bearer(tokens[doc.scope])
        # a body no handler could parse: the answer is still the scope, so nothing of the handler ran
        r = await client(name).request(route.method, url, headers={**lacking, "content-type": "application/json"},
                                       content=b"{")
        assert (r.status_code, r.json()["code"]) == (403, "auth.insufficient_scope"), (key, r.text)
        if key in VALID:
            r = await client(name).request(route.method, url, headers=lacking, json=VALID[key])
            assert (r.status_code, r.json()["code"]) == (403, "auth.insufficient_scope"), (key, r.text)
    assert _row_counts(db) == before, "a refused call wrote something"
    live = "select count(*) from api_clients where tenant_id = %s and revoked_at is null"
    assert db.execute(live, (str(t["id"]),)).fetchone()[0] == 1

    # the same calls with the scope held do get through (the bodies above were valid)
    only = await grant(client, t["client_id"], t["client_secret"], scope="tenant:admin")
    r = await client("tenant-onboarding").post(f"/tenants/{t['id']}/clients", json={"name": "yetkili"},
                                               headers=bearer(only["access_token"]))
    assert r.status_code == 201, r.text
    only = await grant(client, t["client_id"], t["client_secret"], scope="consent:write")
    r = await client("consent-record").post(f"/consents/{consent_id}/withdraw", json={"channel": "web"},
                                            headers=bearer(only["access_token"]))
    assert r.status_code == 200, r.text


async def test_operator_routes_refuse_tenants_and_tenant_routes_need_a_named_tenant(client, onboard, operator_token, db):
    from tests.helpers import tenant_body

    t = await onboard()
    before = _row_counts(db)
    r = await client("tenant-onboarding").post("/tenants", json=tenant_body(), headers=bearer(t["token"]))
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    # an operator has no tenant of its own: a tenant="token" route has nothing to act in
    r = await client("sms-send").get(f"/sms/{uuid.uuid4()}", headers=bearer(operator_token))
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    assert _row_counts(db) == before
    # and names one on a tenant="path" route
    r = await client("tenant-onboarding").get(f"/tenants/{t['id']}/clients", headers=bearer(operator_token))
    assert r.status_code == 200 and [c["client_id"] for c in r.json()["clients"]] == [t["client_id"]]
    r = await client("tenant-onboarding").get("/tenants/not-a-uuid", headers=bearer(t["token"]))
    assert (r.status_code, r.json()["code"]) == (404, "tenant.not_found")


# -- the tenant, resolved once --------------------------------------------------------------

async def test_one_authentication_and_one_tenant_resolution_per_request(client, onboard, netgsm, monkeypatch):
    import kopru.auth
    from kopru.auth.principal import Principal

    t = await onboard()
    calls = {"authenticate": 0, "tenant_for": 0}
    real_auth, real_tenant_for = kopru.auth.authenticate, Principal.tenant_for

    async def authenticate(header):
        calls["authenticate"] += 1
        return await real_auth(header)

    def tenant_for(self, tenant_id=None):
        calls["tenant_for"] += 1
        return real_tenant_for(self, tenant_id)

    monkeypatch.setattr(kopru.auth, "authenticate", authenticate)
    monkeypatch.setattr(Principal, "tenant_for", tenant_for)
    requests = [
        # today's three checks of one tenant (handler, service, scoped()) are one
        ("tenant-onboarding", "PUT", f"/tenants/{t['id']}/integrations/netgsm",
         {"usercode": NETGSM_USER, "password": NETGSM_PASSWORD, "msgheader": "ANADOLU"}, 200),
        ("tenant-onboarding", "GET", f"/tenants/{t['id']}", None, 200),
        ("tenant-onboarding", "POST", f"/tenants/{t['id']}/clients", {"name": "ikinci"}, 201),
        ("consent-record", "POST", "/consents", CONSENT, 201),
        ("sms-send", "POST", "/sms", VALID[("sms-send", "POST", "/sms")], 202),
    ]
    for name, method, url, body, status in requests:
        calls.update(authenticate=0, tenant_for=0)
        r = await client(name).request(method, url, headers=bearer(t["token"]), json=body)
        assert r.status_code == status, r.text
        assert calls == {"authenticate": 1, "tenant_for": 1}, (url, calls)


def test_no_handler_or_library_checks_the_caller_itself():
    """Scope and tenant are the runtime's: no function or library module authenticates,
    checks a scope or resolves a tenant on its own (the runtime did, once)."""
    allowed = {REPO / "shared/kopru/auth/principal.py", REPO / "shared/kopru/runtime/function.py"}
    pattern = re.compile(r"\.principal\(\)|\.require_scope\(|\.tenant_for\(|\.require_operator\(|\bscoped\(")
    offenders = []
    for path in sorted([*REPO.glob("functions/*/main.py"), *REPO.glob("shared/kopru/**/*.py")]):
        if path in allowed:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}")
    assert offenders == []


PROBE = textwrap.dedent('''
    from kopru.runtime import Function
    fn = Function("authz-tenant-probe")
    fn.seen = []

    @fn.route("GET", "/things/{id}", scope="tenant:read", tenant="path")
    async def by_path(call):
        fn.seen.append(call.tenant)
        return {"tenant": str(call.tenant.tenant_id)}

    @fn.route("GET", "/mine", scope="tenant:read", tenant="token")
    async def mine(call):
        fn.seen.append(call.tenant)
        return {"tenant": str(call.tenant.tenant_id)}

    async def handle(request):
        return await fn(request)
''')


async def test_the_handler_gets_one_frozen_tenant_and_never_runs_for_another(tmp_path, onboard, operator_token):
    import dataclasses

    from functions_framework.aio import create_asgi_app

    from kopru.runtime.function import registered

    src = tmp_path / "main.py"
    src.write_text(PROBE)
    app = create_asgi_app(target="handle", source=str(src))
    fn = registered()["authz-tenant-probe"]
    a, b = await onboard(), await onboard()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/mine", headers=bearer(a["token"]))
        assert r.json() == {"tenant": str(a["id"])}
        ctx = fn.seen[-1]
        assert (ctx.tenant_id, ctx.actor, ctx.principal.tenant_id) == (a["id"], a["client_id"], a["id"])
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.tenant_id = b["id"]
        r = await c.get(f"/things/{a['id']}", headers=bearer(a["token"]))
        assert r.json() == {"tenant": str(a["id"])}
        n = len(fn.seen)
        for url in (f"/things/{b['id']}", f"/things/{uuid.uuid4()}", "/things/x"):
            r = await c.get(url, headers=bearer(a["token"]))
            assert (r.status_code, r.json()["code"]) == (404, "tenant.not_found")
        r = await c.get(f"/things/{a['id']}")
        assert r.status_code == 401
        assert len(fn.seen) == n, "the handler ran for a tenant the caller may not name"
        r = await c.get(f"/things/{b['id']}", headers=bearer(operator_token))
        assert r.json() == {"tenant": str(b["id"])} and fn.seen[-1].actor != a["client_id"]


# -- a client grants only scopes it holds ---------------------------------------------------

async def test_a_client_grants_only_scopes_it_holds(client, onboard, operator_token, db):
    t = await onboard()
    narrow = (await grant(client, t["client_id"], t["client_secret"], scope="tenant:admin sms:read"))["access_token"]
    url = f"/tenants/{t['id']}/clients"
    live = "select count(*) from api_clients where tenant_id = %s"
    before = db.execute(live, (str(t["id"]),)).fetchone()[0]
    for scopes in (["sms:send"], ["sms:read", "einvoice:write"], ["kvkk:requests"]):
        r = await client("tenant-onboarding").post(url, json={"name": "x", "scopes": scopes}, headers=bearer(narrow))
        assert (r.status_code, r.json()["code"]) == (403, "auth.scope_not_held"), r.text
        assert "sms:send" not in r.text and "kvkk" not in r.text
    r = await client("tenant-onboarding").post(url, json={"name": "x", "scopes": [OPERATOR_SCOPE]}, headers=bearer(narrow))
    assert (r.status_code, r.json()["code"]) == (422, "auth.unknown_scope")
    assert db.execute(live, (str(t["id"]),)).fetchone()[0] == before

    r = await client("tenant-onboarding").post(url, json={"name": "okur", "scopes": ["sms:read"]}, headers=bearer(narrow))
    assert r.status_code == 201 and r.json()["scopes"] == ["sms:read"]
    reader = r.json()
    # without a list, the new client gets what the caller holds, not every tenant scope
    r = await client("tenant-onboarding").post(url, json={"name": "varsayılan"}, headers=bearer(narrow))
    assert r.status_code == 201 and r.json()["scopes"] == ["sms:read", "tenant:admin"]
    # and the new client cannot get more from the token endpoint
    r = await client("token").post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "sms:send"},
                                   auth=(reader["client_id"], reader["client_secret"]))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")

    # the operator may grant any tenant scope, never its own
    r = await client("tenant-onboarding").post(url, json={"name": "op", "scopes": ["kvkk:requests", "sms:send"]},
                                               headers=bearer(operator_token))
    assert r.status_code == 201 and r.json()["scopes"] == ["kvkk:requests", "sms:send"]
    r = await client("tenant-onboarding").post(url, json={"name": "op", "scopes": [OPERATOR_SCOPE]},
                                               headers=bearer(operator_token))
    assert (r.status_code, r.json()["code"]) == (422, "auth.unknown_scope")


def test_scopes_have_turkish_and_english_text():
    assert OPERATOR_SCOPE in SCOPES and OPERATOR_SCOPE not in TENANT_SCOPES
    for s in SCOPES.values():
        assert s.tr and s.en and s.tr != s.en, s.name


async def test_an_id_that_cannot_exist_is_the_routes_own_404_on_every_tenant_route(client, onboard):
    """`{id}` on a tenant route (the tenant from the token) is a UUID; anything else is that
    route's own not-found (404 with a *not_found code, Turkish and English), never a 422 or a
    500: `Call.path_id`, the one place every route reads its id."""
    t = await onboard()
    seen = 0
    for name, route, doc in _routes():
        if route.method not in ("GET", "DELETE") or doc.tenant != "token" or not route.path.endswith("{id}"):
            continue
        seen += 1
        for bad in ("not-a-uuid", "12345", "%C3%A7%C4%9F"):
            r = await client(name).request(route.method, route.path.replace("{id}", bad), headers=bearer(t["token"]))
            body = r.json()
            assert r.status_code == 404 and body["code"].endswith("not_found"), (name, route.path, bad, r.text)
            assert bad not in r.text and "title" in body, (name, route.path)
    assert seen >= 10
