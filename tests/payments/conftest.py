"""What the payment tests share: a buyer, a basket, and a tenant with iyzico keys (the
iyzico simulator fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import IYZICO_API_KEY as API_KEY, IYZICO_SECRET as SECRET
from tests.helpers import bearer

TCKN = "10000000146"
BUYER = {"name": "Ayşe", "surname": "Yılmaz", "identity_number": TCKN, "email": "ayse@example.com.tr",
         "phone": "+905321234567", "address": "Barbaros Bulvarı 1, Beşiktaş", "city": "İstanbul",
         "ip": "85.34.78.112"}


def payment_body(**kw) -> dict:
    b = {"amount": "150.00", "items": [
        {"id": "kitap-1", "name": "Kitap", "category": "Kitap", "price": "100.00"},
        {"id": "defter-2", "name": "Defter", "category": "Kırtasiye", "price": "50.00"}],
        "buyer": dict(BUYER), "return_url": "https://magaza.example/odeme/sonuc?sepet=42"}
    b.update(kw)
    return b


@pytest.fixture
async def tenant(client, onboard, iyzico):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "secret_key": SECRET})
    assert r.status_code == 200, r.text
    assert SECRET not in r.text and API_KEY not in r.text
    t["notification_url"] = r.json()["notification_url"]
    return t
