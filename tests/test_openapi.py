"""docs/openapi.json is rendered from the registry and the request models; it must
match the code and be a valid OpenAPI 3.1 document."""

import json
import re

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


def _json_2xx_routes():
    from kopru.runtime.registry import load_module
    from kopru_tools.openapi import is_json

    for info in functions().values():
        for route, rdoc in load_module(info.source).fn.docs.items():
            ok = [s for s in rdoc.responses if 200 <= s < 300 and s != 204]
            if ok and is_json(rdoc.content):
                yield info, route, rdoc, ok


def test_every_json_answer_declares_its_body():
    """A route that answers a JSON body names its model, so the document (and the fuzzer's
    response_schema_conformance) can hold the code to it. A new route without one fails here."""
    missing = []
    seen = 0
    for info, route, rdoc, ok in _json_2xx_routes():
        seen += 1
        declared = dict(rdoc.returns)
        for status in ok:
            if status not in declared:
                where = f"functions/{info.name.replace('-', '_')}/main.py"
                hint = (f"add the provider to ANSWERS in {where}" if "/integrations/" in route.path else
                        f'add returns="kopru.<area>.models:<Name>" to its @fn.route(...) in {where}')
                missing.append(f"{info.name}: {route.method} {route.path} answers {status} JSON with no schema: "
                               f"{hint}, a model of kopru.answers.Out with every key the handler answers "
                               f"(Optional only where it can be null; absent(...) for a key written only "
                               f"sometimes); or returns={{status: model}} when its 2xx answers differ")
    assert not missing, "\n".join(missing)
    assert seen >= 55


def test_every_json_answer_is_rendered_closed():
    """Each 2xx JSON answer has a schema, and each object the answer models render is closed
    (additionalProperties false, unless the model says the object is open): a key the code
    starts answering without declaring it fails the fuzzer's response check."""
    doc = render()
    schemas = doc["components"]["schemas"]
    answers = set()
    for info, route, rdoc, ok in _json_2xx_routes():
        op = doc["paths"][f"/function/{info.name}{route.path}"][route.method.lower()]
        for status in ok:
            schema = op["responses"][str(status)]["content"][rdoc.content]["schema"]
            answers.add(schema["$ref"].rsplit("/", 1)[1])
    todo, closed = list(answers), set()
    while todo:
        name = todo.pop()
        if name in closed:
            continue
        closed.add(name)
        assert schemas[name].get("additionalProperties") is False, name
        todo += [r.rsplit("/", 1)[1] for r in re.findall(r'"\$ref": "([^"]+)"', json.dumps(schemas[name]))]
    assert {"TokenResponse", "Introspection", "JwkSet", "ServerMetadata", "PaymentOut", "EndpointCreated"} <= answers


def test_answers_keep_their_shape_where_it_matters():
    """Nullability, formats and enums as the code answers them (spot checks of the rendering)."""
    schemas = render()["components"]["schemas"]
    sms = schemas["SmsOut"]
    assert sms["properties"]["id"]["format"] == "uuid" and sms["properties"]["created_at"]["format"] == "date-time"
    assert {"type": "null"} in sms["properties"]["netgsm_jobid"]["anyOf"]
    assert sms["properties"]["status"]["enum"] == ["queued", "sending", "sent", "delivered", "failed", "unknown"]
    assert set(sms["required"]) == set(sms["properties"])  # every key is always written
    # a key written only sometimes is not required, and not null when present
    pay = schemas["PaymentOut"]
    assert "payment_page_url" not in pay["required"] and "default" not in pay["properties"]["token_expires_at"]
    assert schemas["Introspection"]["required"] == ["active"]
    # pages: the rows under the route's key, and next_cursor (null on the last page)
    page = schemas["EndpointsPage"]
    assert page["required"] == ["endpoints", "next_cursor"]
    assert {"type": "null"} in page["properties"]["next_cursor"]["anyOf"]


def test_non_json_answers_keep_their_media_type():
    doc = render()
    xml = doc["paths"]["/function/einvoice-submit/einvoices/{id}/xml"]["get"]["responses"]["200"]["content"]
    assert xml == {"application/xml": {"schema": {"type": "string"}}}
    html = doc["paths"]["/function/einvoice-submit/einvoices/view/{token}"]["get"]["responses"]["200"]["content"]
    assert html == {"text/html": {"schema": {"type": "string"}}}
    back = doc["paths"]["/function/payment/payments/{id}/callback"]["post"]["responses"]["303"]
    assert "content" not in back and back["headers"]["Location"]["required"] is True


def test_a_returns_status_must_be_a_declared_success():
    import pytest

    from kopru.runtime import Function

    fn = Function("returns-declare-probe")
    with pytest.raises(ValueError, match="returns="):
        fn.route("GET", "/x", public=True, responses=(200,), returns={201: "kopru.auth.models:Revoked"})
    with pytest.raises(ValueError, match="module:Class"):
        fn.route("GET", "/y", public=True, responses=(200,), returns="Revoked")


def test_a_route_answering_two_successes_differently_gets_a_schema_for_each():
    from kopru.runtime import Function
    from kopru_tools.openapi import success_content

    fn = Function("returns-mapping-probe")

    @fn.route("PUT", "/things/{id}", public=True, responses=(200, 201, 204),
              returns={200: "kopru.auth.models:Revoked", 201: "kopru.auth.models:JwkSet"})
    async def put(call):
        return {}

    (rdoc,) = fn.docs.values()
    schemas: dict = {}
    assert success_content(rdoc, 200, schemas) == {"application/json": {"schema": {"$ref": "#/components/schemas/Revoked"}}}
    assert success_content(rdoc, 201, schemas) == {"application/json": {"schema": {"$ref": "#/components/schemas/JwkSet"}}}
    assert {"Revoked", "JwkSet", "Jwk"} <= set(schemas)
