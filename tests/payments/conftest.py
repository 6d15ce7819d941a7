"""What the payment tests share: the iyzico simulator over loopback (IYZICO_BASE_URL at it),
with a recorder standing in for our notification URL, and a tenant with iyzico keys."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tests.helpers import bearer

API_KEY, SECRET = "sandbox-kopru-test-api-key", "sandbox-kopru-test-secret-key"
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


class Recorder:
    """A loopback endpoint standing in for our notification URL: keeps the exact bytes and
    headers iyzico (the simulator) sent, for the test to deliver to the function."""

    def __init__(self):
        self.got: list[tuple[bytes, dict[str, str]]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        with self.lock:
            self.got.append((body, {k.decode().lower(): v.decode() for k, v in scope["headers"]}))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait(self, n: int, timeout: float = 5.0):
        for _ in range(int(timeout / 0.02)):
            with self.lock:
                if len(self.got) >= n:
                    return list(self.got)
            await asyncio.sleep(0.02)
        raise AssertionError(f"{n} notifications expected, {len(self.got)} came")


@pytest.fixture(scope="module")
def iyzico(services):
    from kopru.config import reset_settings
    from kopru_tools.simulators.common import serve as serve_app
    from kopru_tools.simulators.iyzico import IyzicoSimulator, serve

    sim = IyzicoSimulator(notify_retry_delays=())
    rec = Recorder()
    with serve(sim) as url, serve_app(rec) as rec_url:
        sim.add_merchant(API_KEY, SECRET, notification_url=rec_url + "/notify")
        old = os.environ.get("IYZICO_BASE_URL")
        os.environ["IYZICO_BASE_URL"] = url
        reset_settings()
        sim.recorder = rec
        yield sim
        if old is None:
            os.environ.pop("IYZICO_BASE_URL", None)
        else:
            os.environ["IYZICO_BASE_URL"] = old
        reset_settings()


@pytest.fixture
async def tenant(client, onboard, iyzico):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "secret_key": SECRET})
    assert r.status_code == 200, r.text
    assert SECRET not in r.text and API_KEY not in r.text
    t["notification_url"] = r.json()["notification_url"]
    return t
