"""`kopru dev`'s gateway: every function in one process, OpenFaaS-style routes.

    /function/<name>/<route>   -> the function's own route
    POST /function/<name>/     -> a CloudEvent for the function
    GET /healthz               -> liveness: the process answers
    GET /readyz                -> readiness: 200 while every supervised background loop
                                  (relay, dispatcher, schedules) is up, else 503
    GET /openapi.json          -> the OpenAPI description (docs/openapi.json; rendered from the
                                  registry when the tree has no docs/, as an installed one)
    GET /docs                  -> a page that shows it (Swagger UI, from its CDN, in a browser)

Each function is the same functions-framework ASGI app its image serves.
"""

from __future__ import annotations

import json
from typing import Any


class Gateway:
    def __init__(self, apps: dict[str, Any], health: Any = None):
        self.apps = apps
        self.health = health  # a kopru.events.supervisor.Health; default: the process's registry

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    from kopru.db import dispose

                    await dispose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/healthz":
            return await _json(send, 200, {"status": "ok", "functions": sorted(self.apps)})
        if path == "/metrics":
            from kopru_tools.metrics import exposition

            got = exposition()
            if got is not None:
                body, ctype = got
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
                                        (b"cache-control", b"no-store")]})
                return await send({"type": "http.response.body", "body": body})
        if path == "/openapi.json":
            body = openapi_document()
            return await _raw(send, 200, body, "application/json")
        if path == "/docs":
            return await _raw(send, 200, DOCS_PAGE.encode(), "text/html; charset=utf-8")
        if path == "/readyz":
            from kopru.errors import negotiate_language
            from kopru.events.supervisor import readiness

            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            status, body, extra = readiness(self.health, negotiate_language(headers.get("accept-language")))
            return await _json(send, status, body, extra.pop("Content-Type"), extra)
        for known in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            # RFC 8414 section 3: an issuer with a path (/function/token) has its metadata at
            # the well-known name followed by that path
            if path == known + "/function/token" and "token" in self.apps:
                inner = dict(scope, path=known, raw_path=known.encode(),
                             root_path=scope.get("root_path", "") + "/function/token")
                return await self.apps["token"](inner, receive, send)
        parts = path.split("/", 3)  # "", "function", name, rest
        if len(parts) >= 3 and parts[1] == "function" and parts[2] in self.apps:
            rest = "/" + (parts[3] if len(parts) == 4 else "")
            prefix = f"/function/{parts[2]}"
            inner = dict(scope, path=rest, raw_path=rest.encode(), root_path=scope.get("root_path", "") + prefix)
            return await self.apps[parts[2]](inner, receive, send)
        return await _json(send, 404, {
            "type": "https://docs.kopru.dev/problems/request.not_found", "title": "İstenen adres bulunamadı.",
            "status": 404, "code": "request.not_found",
        }, "application/problem+json")


DOCS_PAGE = """<!doctype html>
<html lang="tr">
<head>
<meta charset="utf-8">
<title>Köprü API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<noscript>The API description: <a href="openapi.json">openapi.json</a></noscript>
<div id="swagger-ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
<script>
window.onload = function () {
  window.ui = SwaggerUIBundle({url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                               servers: [{url: window.location.origin}]});
};
</script>
</body>
</html>
"""

_document: bytes | None = None


def openapi_document() -> bytes:
    """docs/openapi.json as committed; in a tree without it (an installed package), the same
    document rendered from the registry (a test keeps the two equal)."""
    global _document
    if _document is None:
        from kopru_tools.openapi import OPENAPI_PATH, render_text

        _document = (OPENAPI_PATH.read_bytes() if OPENAPI_PATH.is_file() else render_text().encode())
    return _document


async def _raw(send, status: int, data: bytes, ctype: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode()),
        (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "body": data})


async def _json(send, status: int, body: dict, ctype: str = "application/json",
                extra: dict[str, str] | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def build_gateway() -> Gateway:
    from functions_framework.aio import create_asgi_app

    from kopru.runtime.registry import function_sources

    apps = {name: create_asgi_app(target="handle", source=str(src)) for name, src in function_sources().items()}
    return Gateway(apps)
