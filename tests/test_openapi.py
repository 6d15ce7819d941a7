"""docs/openapi.json is rendered from the registry and the request models; it must
match the code and be a valid OpenAPI 3.1 document."""

import json

from openapi_spec_validator import validate

from kopru.runtime.openapi import OPENAPI_PATH, render, render_text
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
