"""What the credit-report tests share (the NOT-KKB partner simulator fixture `credit_sim` is
in tests/conftest.py): a tenant with its partner account saved, a consent for
the credit_report purpose, and a small real PDF."""

from __future__ import annotations

import base64
import io

import pytest

from tests.conftest import CREDIT_API_KEY as API_KEY, CREDIT_CUSTOMER as CUSTOMER
from tests.helpers import bearer

TCKN = "10000000146"
OTHER_TCKN = "10000000078"
VKN = "1234567890"  # passes kopru.tenancy.identifiers.vkn_valid
PHONE = "+905321234567"


@pytest.fixture
async def tenant(client, onboard, credit_sim):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/credit-partner",
                                              headers=bearer(t["token"]),
                                              json={"customer_code": CUSTOMER, "api_key": API_KEY})
    assert r.status_code == 200, r.text
    assert API_KEY not in r.text and r.json()["secrets_set"] == ["api_key"]
    return t


def consent_body(subject: dict | None = None, **over) -> dict:
    body = {"subject": subject or {"tckn": TCKN, "phone": PHONE}, "purpose": "credit_report",
            "legal_basis": "explicit_consent", "data_categories": ["identity", "financial"], "channel": "web",
            "consent_text": "Findeks kredi ve çek raporumun alınmasına ve değerlendirilmesine açık rıza veriyorum.",
            "retention_days": 90}
    body.update(over)
    return body


async def consent(client, t, subject: dict | None = None, **over) -> dict:
    r = await client("consent-record").post("/consents", json=consent_body(subject, **over), headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    return r.json()


def creates(sim) -> list:
    return [c for c in sim.calls if c.endpoint == "report.create"]


def pdf_bytes(pages: int = 2, text: bool = True) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(width=595, height=842)
    w.add_metadata({"/Title": "Findeks Kredi Raporu (test)", "/Producer": "kopru tests"})
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
