"""What the vehicle tests share: the Arvento simulator over loopback HTTP with a short rate
limit (WINDOW_S), Köprü's own interval just above it, and a fleet: a tenant whose Arvento
settings were saved through the real route, with its own simulator account and vehicles."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import bearer, pointed

WINDOW_S = 0.5  # the simulator's limit per account (Arvento's is about 30 s)
INTERVAL_S = 0.6  # KOPRU_ARVENTO_MIN_INTERVAL_S for the tests
DEPOT = (41.0082, 28.9784)
FAR = (41.0500, 29.0300)  # ~5.5 km from the depot


@pytest.fixture(scope="module")
def arvento(services):
    from kopru_tools.simulators.arvento import ArventoSimulator, serve

    sim = ArventoSimulator(window_s=WINDOW_S)
    with serve(sim) as url, pointed("ARVENTO_BASE_URL", url), pointed("KOPRU_ARVENTO_MIN_INTERVAL_S", str(INTERVAL_S)):
        sim.url = url
        yield sim


@pytest.fixture
def fleet(client, onboard, arvento):
    """make(n_vehicles=2) -> tenant dict with `username`, `label`, `nodes` (each at FAR)."""

    async def make(n: int = 2, at=FAR) -> dict:
        t = await onboard()
        user, password, label = f"filo-{uuid.uuid4().hex[:8]}", "dogru-parola", uuid.uuid4().hex[:8]
        arvento.add_account(user, password, label=label)
        nodes = [f"N{uuid.uuid4().hex[:10].upper()}" for _ in range(n)]
        for i, node in enumerate(nodes):
            arvento.add_vehicle(user, node, plate=f"34 KPR {i:03d}", driver="Sürücü Adı", at=at)
        r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/arvento",
                                                  headers=bearer(t["token"]),
                                                  json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        assert password not in r.text and r.json()["secrets_set"] == ["password"]
        return {**t, "username": user, "password": password, "label": label, "nodes": nodes}

    return make
