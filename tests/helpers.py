"""Helpers shared by the tests."""

from __future__ import annotations

import secrets


async def grant(client, cid: str, secret: str, **form) -> dict:
    r = await client("token").post(
        "/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=(cid, secret)
    )
    assert r.status_code == 200, r.text
    return r.json()


def tenant_body(**over) -> dict:
    body = {
        "name": "Anadolu Yazılım A.Ş.",
        "tax_number": "10000000146",
        "tax_office": "Kadıköy",
        "subdomain": "t-" + secrets.token_hex(4),
        "admin": {"email": "yonetici@anadolu.com.tr", "password": "çok-gizli-parola-123"},
    }
    body.update(over)
    return body


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
