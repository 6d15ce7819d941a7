"""What the calls tests share: the Bulutfon simulator over loopback (BULUTFON_BASE_URL at
it), a tenant with Bulutfon settings saved through the real route (checked against the
simulator) and its own PBX account there, whose webhooks the simulator posts to the
`calls` function in process (the URL PUT .../integrations/bulutfon answered)."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import bearer, pointed

LINE = "908508850000"
HOOK_USER, HOOK_PASSWORD = "kopru-hooks", "kanca-parolasi-0123456789"


@pytest.fixture(scope="module")
def bulutfon():
    from kopru_tools.simulators.bulutfon import BulutfonSimulator, serve

    sim = BulutfonSimulator()
    with serve(sim) as url, pointed("BULUTFON_BASE_URL", url):
        yield sim


class Pbx:
    """A tenant's account at the simulator and the way its webhooks reach the function."""

    def __init__(self, sim, client, tenant: dict, api_key: str, webhook_url: str):
        self.sim, self.client, self.tenant, self.api_key, self.webhook_url = sim, client, tenant, api_key, webhook_url

    @property
    def path(self) -> str:
        return self.webhook_url.split("/function/calls", 1)[1]

    async def post(self, url: str, *, json=None, data=None, headers=None):
        """The simulator's POST, delivered to the calls function in process."""
        r = await self.client("calls").post(url.split("/function/calls", 1)[1], json=json, data=data,
                                            headers=headers)
        if not r.is_success:
            print("WEBHOOK", r.status_code, r.text)
        return r

    async def push(self) -> int:
        return await self.sim.push_due(post=self.post)

    def call_in(self, caller: str, **kw) -> str:
        return self.sim.incoming_call(LINE, caller, api_key=self.api_key, **kw)


@pytest.fixture
async def pbx(client, onboard, bulutfon):
    t = await onboard()
    key = "bf-" + uuid.uuid4().hex
    bulutfon.add_account(key, [LINE], ["1001", "1002"])
    r = await client("tenant-onboarding").put(
        f"/tenants/{t['id']}/integrations/bulutfon", headers=bearer(t["token"]),
        json={"api_key": key, "line": LINE, "webhook_username": HOOK_USER, "webhook_password": HOOK_PASSWORD})
    assert r.status_code == 200, r.text
    out = r.json()
    assert key not in r.text and HOOK_PASSWORD not in r.text
    assert out["secrets_set"] == ["api_key", "webhook_password"]
    bulutfon.add_webhook(key, LINE, out["webhook_url"], username=HOOK_USER, password=HOOK_PASSWORD)
    return Pbx(bulutfon, client, t, key, out["webhook_url"])
