"""The OpenAPI description, rendered from the function registry and the request
models, so it cannot drift from the code (`kopru openapi` writes docs/openapi.json;
a test fails when the committed file differs)."""

from __future__ import annotations

import importlib
import json
from typing import Any

from kopru.config import REPO_ROOT

OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.json"
TOKEN_URL = "/function/token/oauth2/token"  # the token function's route behind the gateway

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `title` in Turkish unless Accept-Language prefers English.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "stable error code (kopru.errors.CATALOG)"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "type": {"type": "string"}, "code": {"type": "string"},
            "message": {"type": "string"}}}},
    },
}
OAUTH_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _model(ref: str, mode: str = "validation") -> dict[str, Any]:
    mod, _, name = ref.partition(":")
    cls = getattr(importlib.import_module(mod), name)
    if cls.__name__ != name:
        raise ValueError(f"{ref}: name the model by its class name ({cls.__name__}), components are named by it")
    return cls.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)


def _component(schemas: dict[str, Any], ref: str, mode: str = "validation") -> dict[str, str]:
    """The model `ref` and the models it nests as components; a $ref to it. One name, one
    schema: a nested model whose class name another area's model already took (two
    `Address` models) is named after its area instead (`PaymentsAddress`), never
    overwritten; a route's own model must have a name of its own."""
    schema = _model(ref, mode)
    mod, _, name = ref.partition(":")
    defs = schema.pop("$defs", {})
    renamed = {}
    for k, v in defs.items():
        if k in schemas and schemas[k] != _renamed(v, renamed):
            renamed[k] = mod.split(".")[1].title() + k if mod.startswith("kopru.") else mod.replace(".", "_") + k
    defs = {renamed.get(k, k): _renamed(v, renamed) for k, v in defs.items()}
    for k, v in [*defs.items(), (name, _renamed(schema, renamed))]:
        if k in schemas and schemas[k] != v:
            raise ValueError(f"two different schemas are named {k} (the last from {ref}): rename one model")
        schemas[k] = v
    return {"$ref": f"#/components/schemas/{name}"}


def _renamed(node: Any, names: dict[str, str]) -> Any:
    if not names:
        return node
    if isinstance(node, dict):
        out = {k: _renamed(v, names) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/") and ref[21:] in names:
            out["$ref"] = "#/components/schemas/" + names[ref[21:]]
        return out
    if isinstance(node, list):
        return [_renamed(v, names) for v in node]
    return node


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def success_content(doc, status: int, schemas: dict[str, Any]) -> dict[str, Any]:
    """The `content` of a 2xx answer: a JSON body's model (the route's `returns=`, rendered
    for output: what the code answers), a text body (HTML, XML) as a string, any other
    media type as bytes. A JSON route that declares no model gets no schema (a test
    refuses that)."""
    if is_json(doc.content):
        ref = dict(doc.returns).get(status)
        return {doc.content: {"schema": _component(schemas, ref, "serialization")} if ref else {}}
    if doc.content.startswith("text/") or doc.content.endswith("/xml") or doc.content.endswith("+xml"):
        return {doc.content: {"schema": {"type": "string"}}}
    return {doc.content: {"schema": {"type": "string", "format": "binary"}}}


def _link(function: str, target: str, params: tuple, body: Any) -> dict[str, Any]:
    """An OpenAPI link: to "METHOD /path" of the same function or "<function> METHOD /path"."""
    parts = target.split(" ")
    if len(parts) == 3:
        function, parts = parts[0], parts[1:]
    link: dict[str, Any] = {"operationId": operation_id(function, *parts)}
    if params:
        link["parameters"] = dict(params)
    if body is not None:
        link["requestBody"] = body
    return link


def operation_id(function: str, method: str, path: str) -> str:
    return f"{function}.{method.lower()}.{path.strip('/').replace('/', '.').replace('{', '').replace('}', '')}"


def statuses(doc, path: str) -> list[int]:
    """What a route may answer: what it declares, and what the runtime answers for any
    route of its shape before (or around) the handler: a body's 400 (malformed JSON, bad
    Unicode, too deep, a bad Idempotency-Key), 413, 415 and 422; a bearer route's 401, 403
    and 429; a path parameter's 404."""
    out = set(doc.responses)
    if doc.body or doc.form:
        out |= {400, 413, 415, 422}
    if doc.auth == "bearer":
        out |= {401, 403, 429}
    if "{" in path:
        out.add(404)
    if doc.query:
        out.add(422)
    if any(q[0] == "cursor" for q in doc.query):
        out.add(400)  # request.invalid_cursor
    return sorted(out)


def render() -> dict[str, Any]:
    from kopru.errors import CATALOG
    from kopru.runtime.registry import functions, load_module

    from kopru.auth.scopes import SCOPES

    paths: dict[str, Any] = {}
    used_scopes: set[str] = set()
    schemas: dict[str, Any] = {"Problem": PROBLEM, "OAuthError": OAUTH_ERROR}
    for info in functions().values():
        fn = load_module(info.source).fn
        for route, doc in sorted(fn.docs.items(), key=lambda kv: (kv[0].path, kv[0].method)):
            op: dict[str, Any] = {
                "operationId": operation_id(info.name, route.method, route.path),
                "summary": doc.summary,
                "tags": [info.name],
                "responses": {},
            }
            params = [p.strip("{}") for p in route.path.split("/") if p.startswith("{")]
            if params:
                op["parameters"] = [{"name": p, "in": "path", "required": True,
                                     "schema": {"type": "string", "format": "uuid"} if p == "id" else {"type": "string"}}
                                    for p in params]
            for name, required, schema, description in doc.query:
                op.setdefault("parameters", []).append({"name": name, "in": "query", "required": required,
                                                        "description": description, "schema": dict(schema)})
            if doc.auth == "bearer":
                op["security"] = [{"oauth2": [doc.security_scope]}]
                used_scopes.add(doc.security_scope)
            elif doc.auth == "client":
                op["security"] = [{"clientBasic": []}, {}]
            else:
                op["security"] = []
            if doc.body:
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": _component(schemas, doc.body)}}}
            if doc.auth == "client" and doc.form:
                # the form the route reads (kopru.auth.forms): one schema, or one per grant
                schema = _model(doc.form)
                for k, v in schema.pop("$defs", {}).items():
                    schemas[k] = v
                if "grant" in schema.get("properties", {}):
                    schema = {"oneOf": schema["properties"]["grant"]["oneOf"],
                              "discriminator": schema["properties"]["grant"].get("discriminator")}
                    schema = {k: v for k, v in schema.items() if v}
                name = doc.form.partition(":")[2]
                schemas[name] = schema
                op["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
                    "schema": {"$ref": f"#/components/schemas/{name}"}}}}
            for status in statuses(doc, route.path):
                if 300 <= status < 400:
                    op["responses"][str(status)] = {"description": "See Other" if status == 303 else "Redirect",
                                                    "headers": {"Location": {"required": True,
                                                                             "schema": {"type": "string"}}}}
                elif status < 400:
                    op["responses"][str(status)] = ({"description": "No content"} if status == 204 else
                        {"description": {200: "OK", 201: "Created", 202: "Accepted"}.get(status, "Success"),
                         "content": success_content(doc, status, schemas)})
                    if doc.links and status != 204:
                        op["responses"][str(status)]["links"] = {
                            name: _link(info.name, target, params, body) for name, target, params, body in doc.links}
                elif doc.auth == "client" and status not in (413, 415):
                    op["responses"][str(status)] = {"description": "RFC 6749 error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}}
                else:
                    codes = sorted(c for c, spec in CATALOG.items() if spec.status == status)
                    op["responses"][str(status)] = {"description": "Problem: " + ", ".join(codes),
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            paths.setdefault(f"/function/{info.name}{route.path}", {})[route.method.lower()] = op
        if info.consumes:
            paths[f"/function/{info.name}/"] = {"post": {
                "operationId": f"{info.name}.cloudevent", "summary": "Deliver a CloudEvent (binary or structured mode)",
                "tags": [info.name], "security": [{"senderToken": []}],
                "description": "Consumes: " + ", ".join(info.consumes),
                "responses": {"204": {"description": "Handled"},
                              **{str(status): {"description": why, "content": {"application/problem+json": {
                                  "schema": {"$ref": "#/components/schemas/Problem"}}}}
                                 for status, why in ((400, "Malformed, unknown type or bad data (not retried)"),
                                                     (401, "No verifiable sender token: cloudevent.unauthenticated"),
                                                     (413, "Problem: request.too_large"))}}}}
    ids = {op["operationId"] for ops in paths.values() for op in ops.values()}
    for ops in paths.values():
        for op in ops.values():
            for resp in op["responses"].values():
                for name, link in resp.get("links", {}).items():
                    if link["operationId"] not in ids:
                        raise ValueError(f"{op['operationId']}: link {name} names no operation ({link['operationId']})")
    unknown = used_scopes - set(SCOPES)
    if unknown:
        raise ValueError(f"routes use scopes missing from kopru.auth.scopes: {sorted(unknown)}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Köprü", "version": "0.1.0",
                 "description": "Every function behind one gateway (`kopru dev`, or OpenFaaS's), at /function/<name>/<route>. "
                                "On Knative each function is its own service and the /function/<name> prefix is dropped."},
        "servers": [{"url": "http://127.0.0.1:8080", "description": "kopru dev"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": "Bearer access tokens (JWT) from the token function. A tenant client gets tokens for its "
                                   "own tenant; `platform:admin` belongs to platform operators and passes every scope check.",
                    "flows": {"clientCredentials": {
                        # relative: resolved against the server (OpenAPI 3.1 §4.3); on Knative: /oauth2/token of the token service
                        "tokenUrl": TOKEN_URL,
                        "scopes": {name: f"{sc.en} — {sc.tr}" for name, sc in SCOPES.items()},
                    }},
                },
                "clientBasic": {"type": "http", "scheme": "basic"},
                "senderToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "A CloudEvent sender's token (kopru.events.ingress): the platform's HS256 "
                                               "token for the function (`kopru events token --function NAME`), or "
                                               "Knative Eventing's OIDC token for the function's audience."},
            },
        },
    }


def render_text() -> str:
    return json.dumps(render(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"
