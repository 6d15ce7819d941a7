"""Cursor pages on every list route (kopru.pages): `?limit=1..100 (50)&cursor=` and
`next_cursor`. Pages cover every row exactly once, in order; another tenant's rows never
appear; a forged, garbage or borrowed cursor is 400 `request.invalid_cursor` in Turkish
and English; a limit out of range is 422. Every list route is paged and documented so."""

from __future__ import annotations

import pytest

from tests.helpers import bearer
from tests.kvkk.conftest import consent_body, consents_api  # noqa: F401 (a fixture)

GARBAGE = ("bm90LWEtY3Vyc29y", "%%%", "", "x" * 600, "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiYSJdAAAAAAAAAAAAAAAAAAAAAA")
PURPOSES = ("marketing", "transactional", "service_delivery", "analytics", "profiling")


async def _walk(get, limit: int, key: str) -> tuple[list, int]:
    seen, cursor, pages = [], None, 0
    while True:
        r = await get({"limit": limit, **({"cursor": cursor} if cursor is not None else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body[key]) <= limit
        seen += body[key]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 50


async def _refused(get, extra: dict | None = None):
    for bad in GARBAGE:
        for lang, word in (("tr", "imleci"), ("en", "cursor")):
            r = await get({**(extra or {}), "cursor": bad}, lang)
            assert r.status_code == 400, (bad, r.text)
            body = r.json()
            assert body["code"] == "request.invalid_cursor" and word in body["title"], body
            assert r.headers["content-type"].startswith("application/problem+json")
            assert bad[:20] not in r.text or not bad  # never echoed
    for limit in ("0", "101", "x", "-1", "1e2"):
        r = await get({**(extra or {}), "limit": limit}, "en")
        assert r.status_code == 422 and r.json()["code"] == "request.validation_failed", (limit, r.text)


async def test_api_clients_a_page_at_a_time_only_the_tenants_own(client, onboard):
    a, b = await onboard(), await onboard()
    c = client("tenant-onboarding")
    for t in (a, b):
        for i in range(4):
            r = await c.post(f"/tenants/{t['id']}/clients", headers=bearer(t["token"]), json={"name": f"app {i}"})
            assert r.status_code == 201, r.text

    def getter(t):
        async def get(params, lang="tr"):
            return await c.get(f"/tenants/{t['id']}/clients", params=params,
                               headers={**bearer(t["token"]), "Accept-Language": lang})
        return get

    seen, pages = await _walk(getter(a), 2, "clients")
    ids = [x["client_id"] for x in seen]
    assert len(ids) == len(set(ids)) == 5 and pages == 3  # the default client and four more
    assert a["client_id"] in ids and b["client_id"] not in ids
    stamps = [x["created_at"] for x in seen]
    assert stamps == sorted(stamps)
    whole = (await getter(a)({}))
    assert [x["client_id"] for x in whole.json()["clients"]] == ids and whole.json()["next_cursor"] is None
    await _refused(getter(a))
    # a cursor a's list gave is no cursor for b's list
    first = (await getter(a)({"limit": 1})).json()["next_cursor"]
    r = await getter(b)({"limit": 1, "cursor": first})
    assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor"


async def test_a_subjects_consents_a_page_at_a_time_only_the_tenants_own(onboard, consents_api):
    a, b = await onboard(), await onboard()
    for t in (a, b):
        for purpose in PURPOSES:
            r = await consents_api.record(t["token"], consent_body(purpose=purpose, iys=None,
                                                                   legal_basis="explicit_consent"))
            assert r.status_code == 201, r.text
    subject = r.json()["subject_id"]  # b's subject; a has its own for the same phone
    c = consents_api.c

    def getter(t, subj):
        async def get(params, lang="tr"):
            return await c.get("/consents", params={"subject": subj, **params},
                               headers={**bearer(t["token"]), "Accept-Language": lang})
        return get

    seen, pages = await _walk(getter(a, "+905321234567"), 2, "consents")
    assert [x["purpose"] for x in seen] == list(PURPOSES) and pages == 3
    assert len({x["id"] for x in seen}) == len(PURPOSES)
    # b's subject id names nobody in a's tenant
    r = await getter(a, subject)({})
    assert r.status_code == 404 and r.json()["code"] == "subject.not_found"
    await _refused(getter(a, "+905321234567"))
    # a cursor for a's subject is no cursor for b's
    first = (await getter(a, "+905321234567")({"limit": 1})).json()["next_cursor"]
    r = await getter(b, subject)({"limit": 1, "cursor": first})
    assert r.status_code == 400 and r.json()["code"] == "request.invalid_cursor"
    page = (await getter(b, subject)({"limit": 2})).json()
    assert len(page["consents"]) == 2 and {h["consent_id"] for h in page["history"]} == {x["id"] for x in page["consents"]}


def test_every_list_route_is_paged_and_documented():
    """A GET without a path parameter at its end that answers a list: limit and cursor in
    its query, next_cursor and 400/422 documented."""
    from kopru_tools.openapi import render

    doc = render()
    lists = {"/function/tenant-onboarding/tenants", "/function/tenant-onboarding/tenants/{id}/clients",
             "/function/consent-record/consents"}
    for path in lists:
        op = doc["paths"][path]["get"]
        q = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
        assert q["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
        assert q["cursor"]["schema"]["maxLength"] == 512 and not q["cursor"]["required"]
        assert {"200", "400", "422"} <= set(op["responses"]), path
    # no list route slips in unpaged: a GET on a collection (a path that also takes POST to
    # create) is a list, and is paged (a payments or webhooks list added later included)
    for path, ops in doc["paths"].items():
        if "get" in ops and "post" in ops and not path.startswith("/function/whatsapp/whatsapp/webhooks/"):
            # (Meta's webhook is one callback URL: the verification GET and the notification POST, no list)
            names = {p["name"] for p in ops["get"].get("parameters", []) if p["in"] == "query"}
            assert {"limit", "cursor"} <= names, f"GET {path} lists a collection: page it (query=PAGED)"


def test_cursor_catalog_entry_has_both_languages():
    from kopru.errors import CATALOG

    spec = CATALOG["request.invalid_cursor"]
    assert spec.status == 400 and "imleci" in spec.tr and "cursor" in spec.en


@pytest.mark.parametrize("arity", [1, 2])
def test_a_cursor_is_bound_to_its_list(services, arity):
    from kopru import pages
    from kopru.errors import KopruError

    values = ("2026-01-01T00:00:00+00:00", "x")[:arity]
    cur = pages.encode("clients:a", *values)
    assert pages.decode("clients:a", cur, arity) == list(values)
    for scope, n in (("clients:b", arity), ("tenants", arity), ("clients:a", arity + 1)):
        with pytest.raises(KopruError) as e:
            pages.decode(scope, cur, n)
        assert e.value.code == "request.invalid_cursor"
    # one byte changed anywhere: refused
    for i in range(len(cur)):
        forged = cur[:i] + ("A" if cur[i] != "A" else "B") + cur[i + 1:]
        with pytest.raises(KopruError):
            pages.decode("clients:a", forged, arity)
