"""Shared pieces of the KVKK tests."""

from __future__ import annotations

import pytest

from tests.helpers import bearer

# one person, in the forms callers send
PHONE = "+905321234567"
PHONE_FORMS = ("05321234567", "+90 532 123 45 67", "00905321234567", "5321234567", "(0532) 123-4567")
EMAIL = "Ayşe.Yılmaz@Example.com"
TCKN = "10000000146"

# every table a consent request may write
WRITTEN = ("tenant_keys", "data_subjects", "consent_texts", "consents", "audit_log", "outbox")


def consent_body(**over) -> dict:
    body = {
        "subject": {"phone": PHONE, "email": "ayse@example.com"},
        "purpose": "marketing",
        "legal_basis": "explicit_consent",
        "data_categories": ["contact"],
        "channel": "web",
        "consent_text": "Kampanya ve duyurular için SMS ve e-posta almayı kabul ediyorum.",
        "retention_days": 365,
        "iys": {"type": "MESAJ", "recipient_type": "BIREYSEL", "source": "HS_WEB"},
    }
    body.update(over)
    return body


def counts(db, tenant_id) -> dict[str, int]:
    return {t: db.execute(f"select count(*) from {t} where tenant_id = %s", (str(tenant_id),)).fetchone()[0]
            for t in WRITTEN}


@pytest.fixture
def consents_api(client):
    """Calls into the consent-record function with a tenant's token."""

    class Api:
        c = client("consent-record")

        async def record(self, token, body=None, **kw):
            return await self.c.post("/consents", json=consent_body() if body is None else body,
                                     headers={**bearer(token), **kw.pop("headers", {})}, **kw)

        async def withdraw(self, token, consent_id, body=None):
            return await self.c.post(f"/consents/{consent_id}/withdraw", json=body, headers=bearer(token))

        async def history(self, token, subject):
            return await self.c.get("/consents", params={"subject": subject}, headers=bearer(token))

    return Api()
