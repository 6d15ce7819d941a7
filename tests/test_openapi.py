"""docs/openapi.json is rendered from the registry and the request models; it must
match the code and be a valid OpenAPI 3.1 document."""

import json

from openapi_spec_validator import validate

from kopru_tools.openapi import OPENAPI_PATH, render, render_text
from kopru.runtime.registry import functions


def test_committed_openapi_matches_the_code():
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render_text(), "run `kopru openapi` and commit docs/openapi.json"


def test_openapi_is_valid_and_lists_every_route():
    doc = render()
    validate(json.loads(json.dumps(doc)))
    for info in functions().values():
        for method, path in info.routes:
            assert method.lower() in doc["paths"][f"/function/{info.name}{path}"]


def test_request_schema_refuses_unknown_fields():
    schema = render()["components"]["schemas"]["TenantIn"]
    assert schema["additionalProperties"] is False
    assert {"name", "tax_number", "tax_office", "subdomain", "admin"} <= set(schema["required"])


def test_every_routes_scope_is_in_the_oauth2_scheme_and_on_its_operation():
    from kopru.auth.scopes import OPERATOR_SCOPE, SCOPES
    from kopru_tools.openapi import TOKEN_URL
    from kopru.runtime.registry import load_module

    doc = render()
    flow = doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["scopes"].keys() == SCOPES.keys() and all(flow["scopes"].values())
    # the token URL is the token function's own route, as served behind the gateway
    assert TOKEN_URL in doc["paths"] and "post" in doc["paths"][TOKEN_URL]
    seen = set()
    for info in functions().values():
        for route, rdoc in load_module(info.source).fn.docs.items():
            op = doc["paths"][f"/function/{info.name}{route.path}"][route.method.lower()]
            if rdoc.public:
                assert all("oauth2" not in s for s in op["security"]), (info.name, route)
                continue
            want = OPERATOR_SCOPE if rdoc.operator else rdoc.scope
            assert want in flow["scopes"]
            assert op["security"] == [{"oauth2": [want]}], (info.name, route)
            seen.add(want)
    assert seen == set(SCOPES)  # no scope is declared that no route uses


def test_the_oauth_forms_are_documented_per_grant():
    """Each grant's fields (the password grant's tenant subdomain among them), and revoke and
    introspect asking for the token, not a grant."""
    import json

    from tests.conftest import REPO

    doc = json.loads((REPO / "docs" / "openapi.json").read_text())
    schemas = doc["components"]["schemas"]
    token = doc["paths"]["/function/token/oauth2/token"]["post"]["requestBody"]["content"]
    assert token["application/x-www-form-urlencoded"]["schema"]["$ref"] == "#/components/schemas/TokenRequest"
    grants = {s["properties"]["grant_type"]["const"]: s for s in
              (schemas[r["$ref"].rsplit("/", 1)[1]] for r in schemas["TokenRequest"]["oneOf"])}
    assert set(grants) == {"client_credentials", "password", "refresh_token"}
    assert {"username", "password", "tenant"} <= set(grants["password"]["required"])
    assert "refresh_token" in grants["refresh_token"]["required"]
    for route in ("revoke", "introspect"):
        body = doc["paths"][f"/function/token/oauth2/{route}"]["post"]["requestBody"]["content"]
        ref = body["application/x-www-form-urlencoded"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert schemas[ref]["required"] == ["token"] and "grant_type" not in schemas[ref]["properties"]
    assert "429" in doc["paths"]["/function/token/oauth2/token"]["post"]["responses"]
