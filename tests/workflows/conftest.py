"""What the workflow tests share: a shop with iyzico and Netgsm settings (the simulators'
fixtures are in tests/conftest.py; no invoice chain), a paid payment through the real
routes, a workflow saved through the real route, and the webhook receiver of
tests/webhooks (private addresses allowed for it)."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import NETGSM_PASSWORD, NETGSM_USER, bearer
from tests.payments.conftest import API_KEY, SECRET, payment_body
from tests.webhooks.conftest import private, receiver  # noqa: F401  (fixtures)

SUCCEEDED = "kopru.payment.succeeded.v1"
FLOW = ("workflows", "sms-send")  # what drain delivers to: no payment chain


@pytest.fixture
async def shop(client, onboard, iyzico, netgsm):
    t = await onboard()
    for p, body in (("netgsm", {"usercode": NETGSM_USER, "password": NETGSM_PASSWORD, "msgheader": "KOPRU"}),
                    ("iyzico", {"api_key": API_KEY, "secret_key": SECRET})):
        r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/{p}", headers=bearer(t["token"]),
                                                  json=body)
        assert r.status_code == 200, (p, r.text)
    return t


async def pay(client, t, iyzico, db, amount: str) -> str:
    """A payment of `amount` TRY made and succeeded through the real routes (the callback)."""
    from tests.payments.test_payments import callback_path, token_of

    body = payment_body(amount=amount, items=[{"id": "sepet-1", "name": "Sepet", "category": "Genel", "price": amount}])
    r = await client("payment").post("/payments", json=body, headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    out = r.json()
    r = await client("payment").post(callback_path(db, out["id"]), data=iyzico.complete(token_of(out)),
                                     follow_redirects=False)
    assert "status=succeeded" in r.headers["location"]
    return out["id"]


def sms_step(message: str, **over) -> dict:
    """sms.send to the payment's buyer, the message a JMESPath join over the event."""
    inp = {"to_payment_buyer": "data.payment_id",
           "message": f"join('', ['{message} ', data.amount, ' TL'])", "kind": {"const": "transactional"}}
    inp.update(over)
    return {"action": "sms.send", "input": inp}


def big_payment_workflow(*steps, name: str = "Büyük ödemeye SMS") -> dict:
    return {"name": name,
            "trigger": {"type": SUCCEEDED, "filter": [{"exact": {"data.currency": "TRY"}}],
                        "condition": "to_number(data.amount) >= `1000`"},
            "steps": list(steps)}


async def save(client, t, body: dict, token: str | None = None):
    return await client("workflows").post("/workflows", json=body, headers=bearer(token or t["token"]))


def nonce() -> str:
    return uuid.uuid4().hex[:8]
