"""`kopru dev`'s gateway serves the API description: /openapi.json (docs/openapi.json, or
the same document rendered from the registry in a tree without docs/, as an installed
package has) and /docs, a page that loads it."""

from __future__ import annotations

import json

import httpx

from tests.conftest import REPO


def _client(gateway):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://testserver")


async def test_openapi_json_is_the_committed_document(gateway):
    async with _client(gateway) as c:
        r = await c.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == (REPO / "docs" / "openapi.json").read_bytes()
    assert r.json()["openapi"].startswith("3.1")


async def test_openapi_json_without_a_docs_folder_is_rendered(gateway, monkeypatch, tmp_path):
    import kopru_tools.gateway as gw
    import kopru_tools.openapi as oa

    monkeypatch.setattr(oa, "OPENAPI_PATH", tmp_path / "missing" / "openapi.json")
    monkeypatch.setattr(gw, "_document", None)
    async with _client(gateway) as c:
        r = await c.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(gw, "_document", None)


async def test_docs_page_loads_the_description(gateway):
    async with _client(gateway) as c:
        r = await c.get("/docs")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        # the page names the description relative to itself, and that URL answers
        assert 'url: "openapi.json"' in page and 'href="openapi.json"' in page
        target = httpx.URL("http://testserver/docs").join("openapi.json")
        assert (await c.get(target.path)).status_code == 200
    assert "<title>Köprü API</title>" in page
