"""The chain an SME runs, in process with every provider a simulator over loopback: paid at
iyzico -> an e-Arşiv invoice (internet sale: the website, iyzico as the payment agent, the
carrier) valid by GİB's XSD and schematron, numbered in the tenant's series, sent to
Nilvera -> accepted -> an SMS at Netgsm to the buyer with a link whose HTML shows the
invoice. Each step once under redelivery; a step that cannot happen says why."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from tests.helpers import NETGSM_PASSWORD, NETGSM_USER, bearer, drain, pointed
from tests.payments.conftest import API_KEY, BUYER, SECRET, TCKN, payment_body  # noqa: F401

VKN = "4540536920"
NILVERA_KEY = "nv-kopru-chain-4b1e2f3a5c6d7e8f90"
ADDRESS = {"street": "Barbaros Bulvarı No: 1", "district": "Beşiktaş", "city": "İstanbul", "postal_code": "34353"}
CHAIN = ("payment-chain", "einvoice-submit", "sms-send")


@pytest.fixture(scope="module")
def nilvera(services):
    from kopru_tools.simulators.nilvera import NilveraSimulator, serve

    sim = NilveraSimulator()
    sim.add_account(NILVERA_KEY, VKN, name="Zincir Mağaza A.Ş.")
    with serve(sim) as url, pointed("NILVERA_BASE_URL", url):
        yield sim


@pytest.fixture
async def shop(client, onboard, iyzico, nilvera, netgsm):
    from kopru import redis as kredis
    from kopru.einvoice.service import forget_cached_users

    await forget_cached_users()
    kredis._clients.clear()
    t = await onboard(name="Zincir Mağaza A.Ş.", tax_number=VKN, tax_office="Beşiktaş")
    put = lambda p, body: client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/{p}",
                                                           headers=bearer(t["token"]), json=body)
    for p, body in (("nilvera", {"api_key": NILVERA_KEY, "series": "ZNC", "address": ADDRESS}),
                    ("netgsm", {"usercode": NETGSM_USER, "password": NETGSM_PASSWORD, "msgheader": "KOPRU"}),
                    ("iyzico", {"api_key": API_KEY, "secret_key": SECRET, "invoice": True, "invoice_sms": True,
                                "website": "https://zincir.example", "carrier_name": "Hızlı Kargo A.Ş.",
                                "carrier_tax_number": "1234567890"})):
        r = await put(p, body)
        assert r.status_code == 200, (p, r.text)
    return t


async def pay(client, t, iyzico, db, **kw) -> str:
    from tests.payments.test_payments import callback_path, token_of

    r = await client("payment").post("/payments", json=payment_body(**kw), headers=bearer(t["token"]))
    assert r.status_code == 201, r.text
    out = r.json()
    fields = iyzico.complete(token_of(out))
    r = await client("payment").post(callback_path(db, out["id"]), data=fields, follow_redirects=False)
    assert "status=succeeded" in r.headers["location"]
    return out["id"]


async def read(client, t, pid):
    r = await client("payment").get(f"/payments/{pid}", headers=bearer(t["token"]))
    assert r.status_code == 200, r.text
    return r.json()


async def test_paid_invoiced_accepted_texted_with_a_link_to_the_invoice(client, apps, shop, iyzico, nilvera, netgsm, db):
    from kopru.einvoice.service import poll_statuses
    from kopru.einvoice.validate import validate
    from kopru.payments.chain import invoice_payment

    pid = await pay(client, shop, iyzico, db)
    await drain(apps, only=CHAIN)
    got = await read(client, shop, pid)
    inv_id = got["invoice_id"]
    assert inv_id, got
    row = db.execute("select number, profile, kind, status, payable_amount, xml, customer_tax_number from einvoices "
                     "where id = %s", (inv_id,)).fetchone()
    number, profile, kind, status, payable, xml, tckn = row
    assert (profile, kind, tckn) == ("EARSIVFATURA", "earsiv", TCKN)
    assert re.fullmatch(r"ZNC20\d{2}000000001", number)
    assert payable == Decimal("150.00")  # KDV-inclusive basket: 83.33 + 41.67 net, 20 % KDV, exactly what was paid
    report = validate(bytes(xml))
    assert report.valid and not report.errors, report.findings
    text = bytes(xml).decode()
    assert "zincir.example" in text and "iyzico" in text and "1234567890" in text  # the internet sale
    # a redelivered succeeded event makes no second invoice
    assert await invoice_payment(shop["id"], __import__("uuid").UUID(pid)) == "done"
    assert db.execute("select count(*) from einvoices where tenant_id = %s", (str(shop["id"]),)).fetchone()[0] == 1

    for _ in range(6):  # Nilvera's e-Arşiv: waiting -> succeed -> reported
        await poll_statuses()
        if db.execute("select status from einvoices where id = %s", (inv_id,)).fetchone()[0] == "accepted":
            break
    assert db.execute("select status from einvoices where id = %s", (inv_id,)).fetchone()[0] == "accepted"
    await drain(apps, only=CHAIN)
    msgs = [m for m in netgsm.messages if m.no == BUYER["phone"][3:] and number in m.msg]
    assert len(msgs) == 1, [m.msg for m in netgsm.messages][-3:]
    link = re.search(r"https?://\S+", msgs[0].msg).group(0)
    u = urlsplit(link)
    assert u.path.startswith("/function/einvoice-submit/")
    r = await client("einvoice-submit").get(u.path.removeprefix("/function/einvoice-submit") +
                                            ("?" + u.query if u.query else ""))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    assert number in r.text and "Yılmaz" in r.text and "150,00" in r.text
    hist = [h["code"] for h in (await read(client, shop, pid))["history"] if h["code"]]
    assert "chain.invoiced" in hist and "chain.invoice_texted" in hist
    # redelivery of the accepted event texts nobody twice
    from kopru.payments.chain import text_invoice

    await text_invoice(shop["id"], __import__("uuid").UUID(inv_id))
    await drain(apps, only=CHAIN)
    assert len([m for m in netgsm.messages if m.no == BUYER["phone"][3:] and number in m.msg]) == 1

    # money back: the invoice is not touched, and the payment says what the tenant must do
    r = await client("payment").post(f"/payments/{pid}/refunds", json={"amount": "150.00"}, headers=bearer(shop["token"]))
    assert r.status_code == 202 and r.json()["status"] == "succeeded", r.text
    await drain(apps, only=CHAIN)
    notes = [h for h in (await read(client, shop, pid))["history"] if h["code"] == "invoice.return_manual"]
    assert len(notes) == 1 and "gider pusulası" in notes[0]["words"]["tr"]


async def test_no_invoice_for_an_unpaid_basket(client, apps, shop, iyzico, db):
    from tests.payments.test_payments import callback_path, token_of

    out = (await client("payment").post("/payments", json=payment_body(), headers=bearer(shop["token"]))).json()
    fields = iyzico.complete(token_of(out), error_code="10051")
    await client("payment").post(callback_path(db, out["id"]), data=fields, follow_redirects=False)
    await drain(apps, only=CHAIN)
    got = await read(client, shop, out["id"])
    assert got["status"] == "failed" and got["invoice_id"] is None
    assert db.execute("select count(*) from einvoices where tenant_id = %s", (str(shop["id"]),)).fetchone()[0] == 0


async def test_without_nilvera_the_payment_says_why_no_invoice_came(client, apps, onboard, iyzico, db):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "secret_key": SECRET, "invoice": True})
    assert r.status_code == 200, r.text
    pid = await pay(client, t, iyzico, db)
    await drain(apps, only=CHAIN)
    got = await read(client, t, pid)
    assert got["invoice_id"] is None
    notes = [h for h in got["history"] if h["code"] == "chain.einvoice_not_configured"]
    assert len(notes) == 1 and notes[0]["words"]["en"].startswith("No invoice")


def test_the_net_of_a_kdv_inclusive_price_adds_back_up_exactly():
    from kopru.einvoice.models import q2
    from kopru.payments.chain import net_for

    exact = 0
    for cents in range(1, 20001, 7):
        gross = Decimal(cents) / 100
        for rate in (Decimal(20), Decimal(10), Decimal(1)):
            net = net_for(gross, rate)
            total = net + q2(net * rate / 100)
            assert gross - Decimal("0.01") <= total <= gross, (gross, rate, net)  # never invoiced above what was paid
            exact += total == gross
            # when a net reaching the price exists, that is the one chosen
            if total != gross:
                assert all(n + q2(n * rate / 100) != gross for n in (net + Decimal("0.01") * k for k in range(-3, 4))
                           if n >= 0), (gross, rate)
    assert exact > 0.8 * 3 * len(range(1, 20001, 7))


async def test_a_workflow_step_issues_the_payments_invoice_once(client, apps, onboard, iyzico, nilvera, netgsm, db):
    """The `einvoice.issue` action: a tenant without the chain's opt-in asks for the invoice
    from its own workflow; a redelivered event and the step run again still give one invoice."""
    from kopru import redis as kredis
    from kopru.einvoice.service import forget_cached_users

    await forget_cached_users()
    kredis._clients.clear()
    t = await onboard(name="Zincir Mağaza A.Ş.", tax_number=VKN, tax_office="Beşiktaş")
    for p, body in (("nilvera", {"api_key": NILVERA_KEY, "series": "WFL", "address": ADDRESS}),
                    ("iyzico", {"api_key": API_KEY, "secret_key": SECRET})):  # no chain opt-in
        r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/{p}", headers=bearer(t["token"]),
                                                  json=body)
        assert r.status_code == 200, (p, r.text)
    r = await client("workflows").post("/workflows", headers=bearer(t["token"]), json={"name": "Ödemeye fatura", "trigger": {"type": "kopru.payment.succeeded.v1"},
        "steps": [{"action": "einvoice.issue", "input": {"payment_id": "data.payment_id"}}]})
    assert r.status_code == 201, r.text
    pid = await pay(client, t, iyzico, db)
    await drain(apps, only=("workflows", "payment-chain", "einvoice-submit"))
    got = await read(client, t, pid)
    assert got["invoice_id"], got
    count = "select count(*) from einvoices where tenant_id = %s"
    assert db.execute(count, (str(t["id"]),)).fetchone()[0] == 1
    runs = db.execute("select status, step from workflow_runs where tenant_id = %s", (str(t["id"]),)).fetchall()
    assert [r[0] for r in runs] == ["succeeded"], runs
    # the step again (a crash before its record): the same invoice, not a second
    from kopru.auth.principal import TenantContext
    from kopru.workflows.actions import EinvoiceIssueIn, einvoice_run

    import uuid

    again = await einvoice_run(TenantContext(t["id"], "test", None), EinvoiceIssueIn(payment_id=pid), key="k",
                               event={}, run_id=uuid.uuid4(), index=0)
    assert again == {"invoice_id": got["invoice_id"]}
    assert db.execute(count, (str(t["id"]),)).fetchone()[0] == 1


async def test_a_carrier_number_that_is_no_vkn_or_tckn_is_refused_when_saved(client, onboard, iyzico, db):
    t = await onboard()
    r = await client("tenant-onboarding").put(f"/tenants/{t['id']}/integrations/iyzico", headers=bearer(t["token"]),
                                              json={"api_key": API_KEY, "secret_key": SECRET, "invoice": True,
                                                    "carrier_name": "Hızlı Kargo", "carrier_tax_number": "1234567891"})
    assert r.status_code == 422 and r.json()["code"] == "einvoice.internet_sale_carrier_invalid", r.text
    assert db.execute("select count(*) from tenant_integrations where tenant_id = %s and provider = 'iyzico'",
                      (str(t["id"]),)).fetchone()[0] == 0
