"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
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


# the Netgsm account the `netgsm` simulator fixture (tests/conftest.py) knows
NETGSM_USER, NETGSM_PASSWORD = "8501234567", "s3cret-netgsm"


async def drain(apps, only: tuple[str, ...] | None = None):
    """Publish every pending outbox row to the in-process bus until none is left,
    delivering to the functions `only` names (default: every function in `apps`).
    Returns the bus (its dead_letters)."""
    from kopru_tools.eventing import asgi_senders

    return await drain_to(asgi_senders({n: a for n, a in dict(apps).items() if only is None or n in only}))


async def drain_to(senders: dict):
    """`drain` to the given senders (kopru.events.dispatcher.http_sender for a real
    function process, kopru_tools.eventing.asgi_senders for in-process apps)."""
    from kopru_tools.bus import InProcessBus
    from kopru.events.relay import Relay

    bus = InProcessBus(senders)
    relay = Relay(bus)
    try:
        while await relay.run_once():
            pass
    finally:
        await relay.dispose()
    return bus


def sender_auth(function: str, sender: str = "operator", ttl: int | None = None) -> dict:
    """The Authorization header of a Köprü sender (kopru.events.ingress) for POST /
    of `function`, as `kopru events token` prints it."""
    from kopru.events.ingress import issue

    return {"Authorization": f"Bearer {issue(function, sender, ttl)}"}


@contextlib.contextmanager
def pointed(var: str, url: str):
    """`var` (NETGSM_BASE_URL, NILVERA_BASE_URL, IYZICO_BASE_URL...) set to `url` for the
    block, the settings re-read on the way in and out, the old value put back."""
    import os

    from kopru.config import reset_settings

    old = os.environ.get(var)
    os.environ[var] = url
    reset_settings()
    try:
        yield url
    finally:
        if old is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old
        reset_settings()
