"""The real entry points, as separate processes: `kopru dev` on its embedded
defaults, and one function under `functions-framework --asgi` as its image runs it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.helpers import sender_auth

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not up within {timeout}s")


def test_kopru_dev_on_embedded_defaults(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "KOPRU_MASTER_KEY", "NETGSM_BASE_URL",
                        "NILVERA_BASE_URL", "IYZICO_BASE_URL", "BULUTFON_BASE_URL", "ARVENTO_BASE_URL",
                        "CREDIT_PARTNER_BASE_URL", "WHATSAPP_BASE_URL")}
    env["KOPRU_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([str(BIN / "kopru"), "dev", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        took = wait_for(f"http://127.0.0.1:{port}/function/tenant-onboarding/healthz", proc, 60)
        assert took < 30, f"dev took {took:.1f}s to answer"
        # dev.json: the gateway and every provider's simulator, with its inspection route
        dev_json = tmp_path / "data" / "dev.json"
        deadline = time.monotonic() + 30
        while not dev_json.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        dev = json.loads(dev_json.read_text())
        assert dev["gateway"] == f"http://127.0.0.1:{port}" and dev["pid"] == proc.pid
        assert set(dev["providers"]) == {"netgsm", "nilvera", "iyzico", "bulutfon", "credit_partner", "arvento",
                                         "whatsapp"}
        for sim in dev["providers"].values():
            assert sim["simulator"] is True and sim["base_url"].startswith("http://127.0.0.1:")
            got = httpx.get(sim["calls"], timeout=5)
            assert got.status_code == 200 and got.json()["calls"] == []  # nothing sent yet
        # the operator client printed once works against the gateway
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]  # a clean stop, not a torn-down loop
    lines = out.splitlines()
    assert any(l.startswith("kopru dev ready at http://127.0.0.1:") for l in lines)
    assert sum("KOPRU_OPERATOR_CLIENT_SECRET=" in l for l in lines) == 1
    assert any(l.startswith("netgsm simulator at http://127.0.0.1:") for l in lines)  # no real Netgsm configured
    assert any(l.startswith("nilvera simulator at http://127.0.0.1:") for l in lines)  # nor a real integrator
    assert any(l.startswith("iyzico simulator at http://127.0.0.1:") for l in lines)  # nor a real payment gateway
    assert any(l.startswith("bulutfon simulator at http://127.0.0.1:") for l in lines)  # nor a real PBX
    assert any(l.startswith("arvento simulator at http://127.0.0.1:") for l in lines)  # nor a real Arvento
    assert not (tmp_path / "data" / "dev.json").exists()  # gone with it
    # Ctrl-C stopped the embedded PostgreSQL too
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists(), err[-3000:]


def _serve_function(source: str, services) -> tuple[subprocess.Popen, int]:
    from kopru.auth.crypto import master_key

    port = free_port()
    env = dict(os.environ)
    env.update(DATABASE_URL=services["app_url"], KOPRU_MASTER_KEY=__import__("base64").b64encode(master_key()).decode())
    proc = subprocess.Popen(
        [str(BIN / "functions-framework"), "--asgi", "--source", source, "--target", "handle",
         "--port", str(port), "--host", "127.0.0.1"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(f"http://127.0.0.1:{port}/healthz", proc, 30)
    return proc, port


def test_function_under_functions_framework(services, operator):
    proc, port = _serve_function("functions/token/main.py", services)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/oauth2/token", data={"grant_type": "client_credentials"},
                       auth=(operator["client_id"], operator["client_secret"]), timeout=10)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        r = httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=10)
        assert r.status_code == 200 and r.json()["keys"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_tenant_onboarding_under_functions_framework(services, onboard):
    """functions/tenant_onboarding/main.py as its image serves it: a tenant reads itself."""
    import asyncio

    t = await onboard()
    proc, port = await asyncio.to_thread(_serve_function, "functions/tenant_onboarding/main.py", services)
    try:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(f"http://127.0.0.1:{port}/tenants/{t['id']}", headers={"Authorization": f"Bearer {t['token']}"})
            assert r.status_code == 200 and r.json()["subdomain"] == t["tenant"]["subdomain"]
            # POST / over real HTTP: no sender token, 401; a Köprü sender's (same master key), then parsed
            r = await c.post(f"http://127.0.0.1:{port}/", content=b"not an event")
            assert r.status_code == 401 and r.json()["code"] == "cloudevent.unauthenticated"
            r = await c.post(f"http://127.0.0.1:{port}/", content=b"not an event", headers=sender_auth("tenant-onboarding"))
            assert r.status_code == 400 and r.json()["code"] == "cloudevent.malformed"
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 20)


def test_kopru_dev_finishes_what_it_starts(tmp_path):
    """As a person would: a taken port is refused before anything starts; links point at
    the port dev serves on; an SMS goes queued -> sent -> delivered with no manual step
    (the simulator delivers by itself; `kopru sms poll-reports`, run beside dev, finds
    dev's simulator through dev.json); a restart keeps the same operator client."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "KOPRU_MASTER_KEY", "NETGSM_BASE_URL",
                        "NILVERA_BASE_URL", "KOPRU_PUBLIC_URL", "KOPRU_OPERATOR_CLIENT_ID", "KOPRU_OPERATOR_CLIENT_SECRET")}
    env.update(KOPRU_DATA_DIR=str(tmp_path / "data"), NETGSM_SIM_DELIVER_AFTER="0.5")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        r = subprocess.run([str(BIN / "kopru"), "dev", "--port", str(port)], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "in use" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "data" / "operator.json").exists()  # nothing minted

    def start():
        proc = subprocess.Popen([str(BIN / "kopru"), "dev", "--port", str(port)], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(f"http://127.0.0.1:{port}/function/tenant-onboarding/healthz", proc, 60)
        return proc

    def stop(proc):
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-2000:]
        return out

    gw = f"http://127.0.0.1:{port}/function"
    proc = start()
    try:
        op = json.loads((tmp_path / "data" / "operator.json").read_text())
        assert oct((tmp_path / "data" / "operator.json").stat().st_mode & 0o777) == "0o600"
        with httpx.Client(timeout=10) as h:
            tok = h.post(f"{gw}/token/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(op["client_id"], op["client_secret"])).json()["access_token"]
            t = h.post(f"{gw}/tenant-onboarding/tenants", headers={"Authorization": f"Bearer {tok}"}, json={
                "name": "Dev Deneme A.Ş.", "tax_number": "4540536920", "tax_office": "Kadıköy", "subdomain": "devdeneme",
                "plan": "enterprise",
                "admin": {"email": "yonetici@dev.com.tr", "password": "çok-gizli-parola-123"}}).json()
            ttok = h.post(f"{gw}/token/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(t["client_id"], t["client_secret"])).json()["access_token"]
            auth = {"Authorization": f"Bearer {ttok}"}
            tid = t["tenant"]["id"]
            s = h.put(f"{gw}/tenant-onboarding/tenants/{tid}/integrations/netgsm", headers=auth,
                      json={"usercode": "kopru-dev", "password": "kopru-dev", "msgheader": "KOPRU"})
            assert s.status_code == 200, s.text
            assert s.json()["report_url"].startswith(f"http://127.0.0.1:{port}/function/sms-report/")
            sms = h.post(f"{gw}/sms-send/sms", headers=auth,
                         json={"to": "0532 123 45 67", "message": "Merhaba", "kind": "transactional"}).json()
            deadline = time.monotonic() + 30
            while h.get(f"{gw}/sms-send/sms/{sms['id']}", headers=auth).json()["status"] != "sent":
                assert time.monotonic() < deadline, "never sent"
                time.sleep(0.2)
            time.sleep(0.6)  # the simulator's handset receives it
            polled = subprocess.run([str(BIN / "kopru"), "sms", "poll-reports"], env=env, cwd=REPO,
                                    capture_output=True, text=True, timeout=120)
            assert polled.returncode == 0 and json.loads(polled.stdout.splitlines()[-1])["delivered"] == 1, polled.stderr
            got = h.get(f"{gw}/sms-send/sms/{sms['id']}", headers=auth).json()
            assert [x["status"] for x in got["history"]] == ["queued", "sending", "sent", "delivered"]
            # a revoked token, before the restart
            assert h.post(f"{gw}/token/oauth2/revoke", data={"token": ttok},
                          auth=(t["client_id"], t["client_secret"])).status_code == 200
            assert h.get(f"{gw}/tenant-onboarding/tenants/{tid}", headers=auth).status_code == 401
        first_out = stop(proc)
        assert sum("KOPRU_OPERATOR_CLIENT_SECRET=" in line for line in first_out.splitlines()) == 1
        proc = start()  # again: the same operator, no new secret printed
        with httpx.Client(timeout=10) as h:
            assert h.post(f"{gw}/token/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(op["client_id"], op["client_secret"])).status_code == 200
            # revoked stays revoked across the restart
            r = h.get(f"{gw}/tenant-onboarding/tenants/{tid}", headers=auth)
            assert r.status_code == 401 and r.json()["code"] == "auth.token_revoked"
        again = stop(proc)
        assert "KOPRU_OPERATOR_CLIENT_SECRET=" not in again and op["client_id"] in again
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kopru_dev_runs_the_payment_chain_by_itself(tmp_path):
    """On `kopru dev`, as a tenant would: pay -> the simulator's buyer pays and its browser
    comes back by itself -> succeeded -> an e-Arşiv invoice valid by GİB's XSD and
    schematron -> accepted (`kopru einvoice poll`, run beside dev as a schedule would) ->
    an SMS at the Netgsm simulator whose link opens the invoice's HTML."""
    import re
    from urllib.parse import urlsplit

    from kopru.einvoice.validate import validate

    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "KOPRU_MASTER_KEY", "NETGSM_BASE_URL",
                        "NILVERA_BASE_URL", "IYZICO_BASE_URL", "ARVENTO_BASE_URL", "KOPRU_PUBLIC_URL",
                        "KOPRU_OPERATOR_CLIENT_ID", "KOPRU_OPERATOR_CLIENT_SECRET")}
    env.update(KOPRU_DATA_DIR=str(tmp_path / "data"), IYZICO_SIM_PAY_AFTER="0.3", NETGSM_SIM_DELIVER_AFTER="0.5",
               NILVERA_SIM_VKN="4540536920")
    proc = subprocess.Popen([str(BIN / "kopru"), "dev", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gw = f"http://127.0.0.1:{port}/function"

    def until(fn, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            got = fn()
            if got:
                return got
            assert time.monotonic() < deadline, what
            time.sleep(0.25)

    try:
        wait_for(f"{gw}/tenant-onboarding/healthz", proc, 90)
        op = json.loads((tmp_path / "data" / "operator.json").read_text())
        until(lambda: (tmp_path / "data" / "dev.json").exists(), "no dev.json", 30)
        dev = json.loads((tmp_path / "data" / "dev.json").read_text())
        assert dev["providers"]["iyzico"]["simulator"] is True
        with httpx.Client(timeout=30) as h:
            tok = h.post(f"{gw}/token/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(op["client_id"], op["client_secret"])).json()["access_token"]
            t = h.post(f"{gw}/tenant-onboarding/tenants", headers={"Authorization": f"Bearer {tok}"}, json={
                "name": "Dev Mağaza A.Ş.", "tax_number": "4540536920", "tax_office": "Kadıköy", "subdomain": "devmagaza",
                "plan": "enterprise", "admin": {"email": "yonetici@dev.com.tr", "password": "çok-gizli-parola-123"}}).json()
            ttok = h.post(f"{gw}/token/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(t["client_id"], t["client_secret"])).json()["access_token"]
            auth = {"Authorization": f"Bearer {ttok}"}
            tid = t["tenant"]["id"]
            for provider, body in (
                    ("nilvera", {"api_key": "kopru-dev-nilvera", "series": "DEV",
                                 "address": {"street": "Moda Cad. 1", "district": "Kadıköy", "city": "İstanbul"}}),
                    ("netgsm", {"usercode": "kopru-dev", "password": "kopru-dev", "msgheader": "KOPRU"}),
                    ("iyzico", {"api_key": "kopru-dev-iyzico", "secret_key": "kopru-dev-iyzico-secret",
                                "invoice": True, "invoice_sms": True, "website": "https://devmagaza.example",
                                "carrier_name": "Hızlı Kargo A.Ş.", "carrier_tax_number": "1234567890"})):
                r = h.put(f"{gw}/tenant-onboarding/tenants/{tid}/integrations/{provider}", headers=auth, json=body)
                assert r.status_code == 200, (provider, r.text)
            r = h.post(f"{gw}/payment/payments", headers=auth, json={
                "amount": "120.00", "items": [{"id": "k1", "name": "Kitap", "category": "Kitap", "price": "120.00"}],
                "buyer": {"name": "Ayşe", "surname": "Yılmaz", "identity_number": "10000000146",
                          "email": "ayse@example.com.tr", "phone": "+905321234567", "address": "Moda Cad. 5",
                          "district": "Kadıköy", "city": "İstanbul", "ip": "85.34.78.112"},
                "return_url": "https://devmagaza.example/sonuc"})
            assert r.status_code == 201, r.text
            pid = r.json()["id"]
            assert r.json()["payment_page_url"].startswith(dev["providers"]["iyzico"]["base_url"])
            pay = until(lambda: (p := h.get(f"{gw}/payment/payments/{pid}", headers=auth).json())["invoice_id"] and p,
                        "never paid and invoiced")
            assert pay["status"] == "succeeded"
            inv = pay["invoice_id"]
            xml = h.get(f"{gw}/einvoice-submit/einvoices/{inv}/xml", headers=auth)
            assert xml.status_code == 200
            report = validate(xml.content)
            assert report.valid and not report.errors, report.findings

            def accepted():
                subprocess.run([str(BIN / "kopru"), "einvoice", "poll"], env=env, cwd=REPO, capture_output=True,
                               timeout=120)
                return h.get(f"{gw}/einvoice-submit/einvoices/{inv}", headers=auth).json()["status"] == "accepted"

            until(accepted, "the invoice was never accepted", 120)
            number = h.get(f"{gw}/einvoice-submit/einvoices/{inv}", headers=auth).json()["number"]
            sim = dev["providers"]["netgsm"]["base_url"]
            msg = until(lambda: [m for m in h.get(f"{sim}/_simulator/messages").json()["messages"]
                                 if number in m["msg"]], "the invoice SMS never reached Netgsm")
            assert len(msg) == 1 and msg[0]["no"] == "5321234567"
            link = re.search(r"https?://\S+", msg[0]["msg"]).group(0)
            assert urlsplit(link).port == port
            page = h.get(link)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert number in page.text and "Yılmaz" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
