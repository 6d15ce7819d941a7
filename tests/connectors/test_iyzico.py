"""iyzico connector against the iyzico simulator served on loopback over real HTTP
(uvicorn in a thread, httpx on the wire: no mock transport), plus the signature schemes
against independent computations, iyzico's own Python SDK and the worked vectors iyzico
publishes in its SDK samples."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru.connectors import iyzico
from kopru.connectors.iyzico import (
    AuthError,
    BadNotification,
    Declined,
    InvalidRequest,
    IyzicoClient,
    PaymentNotFound,
    PermanentError,
    RetryPolicy,
    SignatureMismatch,
    TransientError,
    codes,
)
from kopru.connectors.words import describe
from kopru.logs import JsonFormatter
from kopru_tools.simulators.iyzico import IyzicoSimulator, serve

REPO = Path(__file__).resolve().parents[2]
API_KEY = "sandbox-kopru-test-api-key-0a1b2c3d"
SECRET = "sandbox-kopru-test-secret-9f8e7d6c5b4a"
OTHER_KEY, OTHER_SECRET = "sandbox-other-api-key", "sandbox-other-secret-key"
TCKN = "74300864791"
BUYER_NAME, BUYER_SURNAME = "Ayşegül", "Çağlayan-Öztürk"
EMAIL = "aysegul.caglayan@example.com.tr"
CARD = "5528790000000008"  # iyzico's sandbox Halkbank MasterCard
CVC = "123"
IP = "85.34.78.112"


def checkout_request(conv: str = "conv-1", *, price: str = "100.0", paid: str = "110.5",
                     items: tuple[str, ...] = ("30.0", "70.0"), callback: str = "https://shop.example/cb") -> dict:
    """A checkout form request as iyzico documents it (iyzipay-python samples/initialize_checkout_form.py)."""
    address = {"contactName": f"{BUYER_NAME} {BUYER_SURNAME}", "city": "İstanbul", "country": "Turkey",
               "address": "Nidakule Göztepe, Merdivenköy Mah. Bora Sok. No:1", "zipCode": "34732"}
    return {
        "locale": "tr", "conversationId": conv, "price": price, "paidPrice": paid, "currency": "TRY",
        "basketId": "B67832", "paymentGroup": "PRODUCT", "callbackUrl": callback, "enabledInstallments": [1, 2, 3],
        "buyer": {"id": "BY789", "name": BUYER_NAME, "surname": BUYER_SURNAME, "gsmNumber": "+905350000000",
                  "email": EMAIL, "identityNumber": TCKN, "registrationAddress": address["address"],
                  "ip": IP, "city": "İstanbul", "country": "Turkey"},
        "shippingAddress": address, "billingAddress": address,
        "basketItems": [{"id": f"BI{i + 1}", "name": f"Ürün {i + 1}", "category1": "Genel", "itemType": "PHYSICAL",
                         "price": p} for i, p in enumerate(items)],
    }


def threeds_request(conv: str = "conv-3ds", card: str = CARD, **kw) -> dict:
    r = checkout_request(conv, **kw)
    r.pop("enabledInstallments")
    r.update(installment=1, paymentChannel="WEB", paymentCard={
        "cardHolderName": f"{BUYER_NAME} {BUYER_SURNAME}", "cardNumber": card, "expireMonth": "12",
        "expireYear": "2030", "cvc": CVC, "registerCard": "0"})
    return r


# -- a merchant endpoint: receives the notifications and the browser callbacks --------------------------

class Merchant:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order (then 200)

        async def receive(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
                status = self.statuses.pop(0) if self.statuses else 200
            return Response("ok" if status < 300 else "no", status_code=status)

        self.app = Starlette(routes=[Route("/iyzico/notify", receive, methods=["POST"]),
                                     Route("/iyzico/callback", receive, methods=["POST"])])

    def at(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.received if r["path"] == path]


@pytest.fixture(scope="module")
def merchant():
    m = Merchant()
    with serve(m.app) as url:
        m.url = url
        yield m


@pytest.fixture(scope="module")
def sim(merchant):
    s = IyzicoSimulator()
    s.add_merchant(API_KEY, SECRET, notification_url=merchant.url + "/iyzico/notify", label="shop")
    s.add_merchant(OTHER_KEY, OTHER_SECRET, label="other")
    return s


@pytest.fixture(scope="module")
def base_url(sim):
    with serve(sim) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh(sim, merchant):
    sim.reset()
    with merchant.lock:
        merchant.received.clear()
        merchant.statuses.clear()
    yield
    sim.clear_failures()


FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
async def client(base_url):
    async with IyzicoClient(API_KEY, SECRET, base_url, timeout=3.0, read_retry=FAST) as c:
        yield c


def calls(sim, endpoint: str) -> list:
    return [c for c in sim.calls if c.endpoint == endpoint]


async def paid_form(client, sim, conv: str = "conv-1", **kw):
    init = await client.checkout_form_initialize(checkout_request(conv, **kw))
    sim.complete(init.token)
    return init, await client.checkout_form_retrieve(init.token, conversation_id=conv)


async def threeds_payment(client, sim, conv: str = "conv-3ds", card: str = CARD):
    tds = await client.threeds_initialize(threeds_request(conv, card))
    cb = sim.complete_3ds(tds.payment_id)
    return tds, cb


# -- IYZWSv2 -------------------------------------------------------------------------------------------

RND = "123456789"
BODY = b'{"locale":"tr","conversationId":"123456789","binNumber":"554960"}'


def test_the_iyzws_v2_header_is_iyzicos_formula_and_what_the_official_sdk_computes():
    """The formula written out (iyzico's docs "HMACSHA256 Auth"; iyzipay-php IyziAuthV2Generator):
    Authorization: IYZWSv2 base64("apiKey:" + key + "&randomKey:" + rnd + "&signature:" + hex(HMAC-SHA256(secret, rnd + path + body)))."""
    path = "/payment/bin/check"
    mac = hmac.new(SECRET.encode(), RND.encode() + path.encode() + BODY, hashlib.sha256).hexdigest()
    expected = "IYZWSv2 " + base64.b64encode(f"apiKey:{API_KEY}&randomKey:{RND}&signature:{mac}".encode()).decode()
    assert iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path, BODY) == expected
    # the query string is not signed (iyzipay-python: url.split('?')[0])
    assert iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path + "?x=1", BODY) == expected
    # iyzico's own Python SDK (pypi iyzipay 1.0.46), for the same inputs
    from iyzipay.iyzipay_resource import IyzipayResource

    sdk = IyzipayResource.generate_v2_hash(API_KEY, path, SECRET, RND, BODY.decode())
    assert "IYZWSv2 " + sdk == expected
    header = IyzipayResource().get_http_header_v2(path + "?locale=tr", {"api_key": API_KEY, "secret_key": SECRET},
                                                  RND, BODY.decode())
    assert header["Authorization"] == expected
    # a Turkish body, as UTF-8 bytes
    body = json.dumps({"name": "Ayşe Öz"}, ensure_ascii=False).encode()
    assert "IYZWSv2 " + IyzipayResource.generate_v2_hash(API_KEY, path, SECRET, RND, body.decode()) == \
        iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path, body)


async def test_the_client_signs_the_exact_bytes_it_sends_with_its_random_key(base_url, sim):
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as pool:
        async with IyzicoClient(API_KEY, SECRET, base_url, random_key=lambda: RND, http=pool) as c:
            await c.checkout_form_initialize(checkout_request())
    (req,) = seen
    body = req.content
    path = "/payment/iyzipos/checkoutform/initialize/auth/ecom"
    mac = hmac.new(SECRET.encode(), (RND + path).encode() + body, hashlib.sha256).hexdigest()
    assert req.url.path == path and req.headers["x-iyzi-rnd"] == RND
    assert req.headers["authorization"] == "IYZWSv2 " + base64.b64encode(
        f"apiKey:{API_KEY}&randomKey:{RND}&signature:{mac}".encode()).decode()
    assert json.loads(body) == checkout_request()  # the caller's request, as JSON
    assert [c.http_status for c in sim.calls] == [200]


async def test_the_simulator_refuses_a_bad_signature_an_unknown_key_and_a_changed_body(base_url, sim):
    path = "/payment/detail"
    body = json.dumps({"locale": "tr", "paymentId": "1"}).encode()
    async with httpx.AsyncClient() as h:
        async def post(auth, content=body, rnd=RND):
            r = await h.post(base_url + path, content=content, headers={
                "Authorization": auth, "x-iyzi-rnd": rnd, "Content-Type": "application/json"})
            return r.status_code, r.json()

        st, wrong_secret = await post(iyzico.iyzws_v2_header(API_KEY, "not-the-secret", RND, path, body))
        assert (st, wrong_secret["status"], wrong_secret["errorCode"]) == (200, "failure", "1000")
        _, unknown = await post(iyzico.iyzws_v2_header("no-such-key", SECRET, RND, path, body))
        assert unknown["errorCode"] == "1001"
        _, changed = await post(iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path, body), body.replace(b'"1"', b'"2"'))
        assert changed["errorCode"] == "1000"
        _, other_rnd = await post(iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path, body), rnd="another")
        assert other_rnd["errorCode"] == "1000"
        _, none = await post("Bearer x")
        assert none["errorCode"] == "1001"
        _, good = await post(iyzico.iyzws_v2_header(API_KEY, SECRET, RND, path, body))
        assert good["errorCode"] == "5086"  # authenticated: only the payment is unknown
    assert [c.code for c in sim.calls] == ["1000", "1001", "1000", "1000", "1001", "5086"]
    async with IyzicoClient(API_KEY, "not-the-secret", base_url, read_retry=FAST) as bad:
        with pytest.raises(AuthError) as ei:
            await bad.payment_detail(payment_id="1")
    assert (ei.value.code, ei.value.retryable, ei.value.tr) == ("iyzico.1000", False, codes.CODES["1000"].tr)
    assert len(sim.calls) == 7  # an auth error is not retried


# -- X-IYZ-SIGNATURE-V3 and the 3DS callback: iyzico's published vectors --------------------------------

# iyzico/iyzipay-php, samples/webhook_Signature_Validation.php (commit 168839f9ccb2aebaa2cb9f07b883b1b2bb0cf87a):
# "Sample X-Iyz-Signature-V3 Calculation", one for CO Form / Pay with iyzico, one for direct payments.
V3_SECRET = "sandbox-UuLnD7wZa0a3DmytfIrwHQqAMfqCNJrs"
V3_HOSTED_BODY = (b'{"paymentConversationId":"conversationId","merchantId":3382172,"token":"e828c62d-fd12-4b1'
                  b'a-ad5a-380f15fe6596","status":"SUCCESS","iyziReferenceCode":"77e1635c-6b39-475a-8b7b-ca15ad0cd4ac"'
                  b',"iyziEventType":"CHECKOUT_FORM_AUTH","iyziEventTime":1721825036103,"iyziPaymentId":22483975}')
V3_HOSTED_SIG = "4031c575763486a2d2bf3f7ace0baebfcd6bed65393ab4df3fe80c00d5fd6878"
V3_DIRECT_BODY = (b'{"paymentConversationId":"conversationId","merchantId":3382172,"paymentId":22484059,"stat'
                  b'us":"SUCCESS","iyziReferenceCode":"a9af8e6b-4401-4928-b6b8-40419aaa3d0f","iyziEventType":"API_AUTH'
                  b'","iyziEventTime":1721825828467,"iyziPaymentId":22484059}')
V3_DIRECT_SIG = "92c7a72b7741bc83eb696066605c894778c87297b2c88d6037670666230e18ae"
# iyzico/iyzipay-php, samples/callbackUrl_Signature_Validation.php (same commit): the 3DS callback's signature
CB_SECRET = "jLc7GQHD2pyJoqXDeEcTnGHYtP7Ai5jl"
CB_FIELDS = {"status": "success", "paymentId": "22484292", "conversationData": "", "conversationId": "",
             "mdStatus": "1", "signature": "a4f73b80bb32a6ef8358090bbd8609a49a7b53f463048f8ef147496e236d04f0"}


def test_both_published_v3_vectors_verify():
    hosted = iyzico.verify_notification(V3_SECRET, V3_HOSTED_BODY, V3_HOSTED_SIG)
    assert (hosted.event_type, hosted.payment_id, hosted.token, hosted.conversation_id, hosted.status, hosted.kind,
            hosted.merchant_id, hosted.event_time, hosted.reference_code) == (
        "CHECKOUT_FORM_AUTH", "22483975", "e828c62d-fd12-4b1a-ad5a-380f15fe6596", "conversationId", "SUCCESS", "hosted",
        "3382172", 1721825036103, "77e1635c-6b39-475a-8b7b-ca15ad0cd4ac")
    direct = iyzico.verify_notification(V3_SECRET, V3_DIRECT_BODY, V3_DIRECT_SIG.upper())  # hex in either case
    assert (direct.event_type, direct.payment_id, direct.token, direct.kind) == ("API_AUTH", "22484059", None, "direct")
    # the sample's own description: HMAC key = the secret key, message = the concatenation (secret first)
    msg = V3_SECRET + "API_AUTH" + "22484059" + "conversationId" + "SUCCESS"
    assert hmac.new(V3_SECRET.encode(), msg.encode(), hashlib.sha256).hexdigest() == V3_DIRECT_SIG


@pytest.mark.parametrize("body,sig", [
    (V3_HOSTED_BODY, V3_DIRECT_SIG),                                              # another notification's signature
    (V3_HOSTED_BODY, "0" * 64),                                                   # forged
    (V3_HOSTED_BODY.replace(b'"SUCCESS"', b'"FAILURE"'), V3_HOSTED_SIG),           # a changed status
    (V3_DIRECT_BODY.replace(b'"paymentId":22484059', b'"paymentId":22484058'), V3_DIRECT_SIG),  # a changed payment
    (V3_HOSTED_BODY.replace(b"conversationId\"", b"conversationIx\"", 1), V3_HOSTED_SIG),
    (V3_HOSTED_BODY, None), (V3_HOSTED_BODY, ""), (V3_HOSTED_BODY, "zz" * 32),      # missing / malformed
    (b"not json", V3_HOSTED_SIG), (b"[1, 2]", V3_HOSTED_SIG), (b'{"status": "SUCCESS"}', V3_HOSTED_SIG),
])
def test_a_forged_changed_or_malformed_notification_is_refused(body, sig):
    with pytest.raises(BadNotification) as ei:
        iyzico.verify_notification(V3_SECRET, body, sig)
    assert ei.value.code == "iyzico.bad_signature" and "conversationId" not in str(ei.value)
    with pytest.raises(BadNotification):
        iyzico.verify_notification("another-secret", V3_HOSTED_BODY, V3_HOSTED_SIG)


def test_the_published_3ds_callback_vector_verifies_and_a_changed_one_does_not():
    cb = iyzico.verify_threeds_callback(CB_SECRET, CB_FIELDS)
    assert (cb.payment_id, cb.md_status, cb.authenticated, cb.signed) == ("22484292", "1", True, True)
    for k, v in (("mdStatus", "0"), ("paymentId", "22484293"), ("status", "failure")):
        with pytest.raises(BadNotification):
            iyzico.verify_threeds_callback(CB_SECRET, {**CB_FIELDS, k: v})
    unsigned = {k: v for k, v in CB_FIELDS.items() if k != "signature"}
    with pytest.raises(BadNotification):
        iyzico.verify_threeds_callback(CB_SECRET, unsigned)
    assert iyzico.verify_threeds_callback(CB_SECRET, unsigned, required=False).signed is False


def test_response_signatures_render_amounts_as_iyzicos_sdks_do():
    from kopru.connectors.iyzico.signatures import amount_text

    assert [amount_text(Decimal(x)) for x in ("1.0", "1.20", "10", "0.50", "100.00", "1E+2")] == \
        ["1", "1.2", "10", "0.5", "100", "100"]
    # iyzipay-python samples: ':'.join([paymentId, currency, basketId, conversationId, strip_zero(str(paidPrice)), ...])
    from iyzipay.iyzipay_resource import IyzipayResource

    params = ["11", "TRY", "B67832", "123456789", IyzipayResource.strip_zero(str(1.2)), IyzipayResource.strip_zero(str(1.0))]
    assert iyzico.response_signature(SECRET, ["11", "TRY", "B67832", "123456789", Decimal("1.20"), Decimal("1.0")]) == \
        IyzipayResource.calculate_hmac_sha256_signature(params, SECRET)


# -- checkout form -------------------------------------------------------------------------------------

async def test_initialize_complete_retrieve_is_paid_with_a_verified_signature(client, sim, merchant):
    init = await client.checkout_form_initialize(checkout_request())
    assert init.payment_page_url.startswith(client.base_url + "/_sim/checkout?token=")
    assert init.token_expire_time == 1800 and init.conversation_id == "conv-1" and init.token not in repr(init)
    pending = await client.checkout_form_retrieve(init.token, conversation_id="conv-1")
    assert pending.pending and not pending.paid and pending.payment_id is None and pending.signed
    assert sim.complete(init.token) == {"token": init.token}
    pay = await client.checkout_form_retrieve(init.token, conversation_id="conv-1")
    assert pay.paid and pay.signed and not pay.under_review and pay.payment_status == "SUCCESS"
    assert (pay.price, pay.paid_price, pay.currency, pay.basket_id, pay.conversation_id, pay.installment) == (
        Decimal("100"), Decimal("110.5"), "TRY", "B67832", "conv-1", 1)
    assert [(i, p) for i, _, p in pay.item_transactions] == [("BI1", Decimal("33.15")), ("BI2", Decimal("77.35"))]
    assert all(t for _, t, _ in pay.item_transactions)
    assert len(calls(sim, codes.CF_INITIALIZE)) == 1 and len(calls(sim, codes.CF_RETRIEVE)) == 2
    # no card, no buyer on the result
    for name in ("card", "buyer", "identity", "email", "name"):
        assert not any(name in f for f in pay.__dataclass_fields__)
    # the notification: V3-signed, iyzico's hosted-form body
    attempts = sim.wait_notifications(1)
    (got,) = merchant.at("/iyzico/notify")
    note = iyzico.verify_notification(SECRET, got["body"], got["headers"]["x-iyz-signature-v3"])
    assert (note.event_type, note.payment_id, note.token, note.conversation_id, note.status) == (
        "CHECKOUT_FORM_AUTH", pay.payment_id, init.token, "conv-1", "SUCCESS")
    assert attempts[0]["http_status"] == 200 and len(attempts) == 1


async def test_two_initializes_with_the_same_conversation_id_are_two_tokens(client, sim):
    a = await client.checkout_form_initialize(checkout_request("same"))
    b = await client.checkout_form_initialize(checkout_request("same"))
    assert a.token != b.token and len(calls(sim, codes.CF_INITIALIZE)) == 2
    sim.complete(a.token)
    sim.complete(b.token)
    first = await client.checkout_form_retrieve(a.token)
    second = await client.checkout_form_retrieve(b.token)
    assert first.paid and second.paid and first.payment_id != second.payment_id  # two charges: no dedupe
    assert (await client.payment_detail(conversation_id="same")).payment_id == second.payment_id  # the latest


async def test_a_declined_hosted_payment_is_a_failed_payment_with_its_bank_code(client, sim):
    init = await client.checkout_form_initialize(checkout_request("declined"))
    sim.complete(init.token, error_code="10051")
    pay = await client.checkout_form_retrieve(init.token)
    assert (pay.paid, pay.failed, pay.payment_status, pay.error_code) == (False, True, "FAILURE", "10051")
    err = pay.error
    assert isinstance(err, Declined) and err.bank_code == "10051" and err.tr == codes.BANK["10051"].tr
    assert pay.error_message and pay.error_message not in repr(pay)
    detail = await client.payment_detail(conversation_id="declined")
    assert detail.failed and detail.error_code == "10051"
    with pytest.raises(ValueError):
        sim.complete(init.token)  # the form is finished


async def test_the_hosted_page_posts_the_token_to_the_callback(client, sim, base_url, merchant):
    init = await client.checkout_form_initialize(checkout_request("page", callback=merchant.url + "/iyzico/callback"))
    async with httpx.AsyncClient() as h:
        page = await h.get(init.payment_page_url)
        assert page.status_code == 200 and "Öde" in page.text and TCKN not in page.text
        done = await h.post(base_url + "/_sim/checkout", data={"token": init.token, "action": "pay"})
        assert done.status_code == 200
        assert f'action="{merchant.url}/iyzico/callback"' in done.text and f'value="{init.token}"' in done.text
        again = await h.post(base_url + "/_sim/checkout", data={"token": init.token, "action": "pay"})
        assert again.status_code == 409
    assert (await client.checkout_form_retrieve(init.token)).paid


async def test_an_unknown_token_is_payment_not_found(client, sim):
    with pytest.raises(PaymentNotFound) as ei:
        await client.checkout_form_retrieve("00000000-0000-0000-0000-000000000000")
    assert (ei.value.code, ei.value.retryable) == ("iyzico.5086", False)
    assert len(calls(sim, codes.CF_RETRIEVE)) == 1  # not retried


async def test_another_merchants_token_is_not_found(base_url, client, sim):
    init = await client.checkout_form_initialize(checkout_request("mine"))
    async with IyzicoClient(OTHER_KEY, OTHER_SECRET, base_url) as other:
        with pytest.raises(PaymentNotFound):
            await other.checkout_form_retrieve(init.token)


async def test_a_validation_refusal_is_permanent_and_sent_once(client, sim):
    with pytest.raises(PermanentError) as ei:
        await client.checkout_form_initialize(checkout_request(price="100.0", items=("30.0", "60.0")))
    assert (ei.value.code, type(ei.value)) == ("iyzico.5062", PermanentError)
    assert describe(ei.value.code)["en"] == codes.CODES["5062"].en
    assert len(sim.calls) == 1


# -- direct 3-D Secure ----------------------------------------------------------------------------------

async def test_threeds_initialize_callback_auth_is_paid(client, sim, base_url):
    tds = await client.threeds_initialize(threeds_request("tds-ok"))
    assert tds.conversation_id == "tds-ok" and f'{base_url}/_sim/3ds' in tds.html and CARD not in tds.html
    cb = sim.complete_3ds(tds.payment_id)
    verified = iyzico.verify_threeds_callback(SECRET, cb)
    assert verified.authenticated and verified.payment_id == tds.payment_id
    pay = await client.threeds_auth(tds.payment_id, conversation_id="tds-ok", conversation_data=cb["conversationData"])
    assert pay.paid and pay.signed and pay.md_status == 1 and pay.payment_id == tds.payment_id
    assert (await client.payment_detail(payment_id=tds.payment_id)).paid
    (call,) = calls(sim, codes.TDS_INITIALIZE)
    assert call.card == "************0008"
    note = sim.wait_notifications(1)[0]
    assert (note["event_type"], note["payment_id"], note["status"]) == ("THREE_DS_AUTH", tds.payment_id, "SUCCESS")


@pytest.mark.parametrize("code", sorted(codes.BANK))
async def test_every_mapped_bank_code_is_declined_with_its_reason(client, sim, code):
    tds, _ = await threeds_payment(client, sim, f"decl-{code}")
    sim.fail_next(error_code=code, endpoint=codes.TDS_AUTH)
    with pytest.raises(Declined) as ei:
        await client.threeds_auth(tds.payment_id, conversation_id=f"decl-{code}")
    e = ei.value
    spec = codes.BANK[code]
    assert (e.code, e.bank_code, e.tr, e.en, e.retryable, e.payment_id) == (
        f"iyzico.{code}", code, spec.tr, spec.en, False, tds.payment_id)
    assert describe(e.code) == {"code": f"iyzico.{code}", "tr": spec.tr, "en": spec.en}
    assert len(calls(sim, codes.TDS_AUTH)) == 1
    assert (await client.payment_detail(payment_id=tds.payment_id)).error_code == code


async def test_iyzicos_sandbox_error_cards_decline_at_auth(client, sim):
    tds, _ = await threeds_payment(client, sim, "card-10051", card="4111111111111129")
    with pytest.raises(Declined) as ei:
        await client.threeds_auth(tds.payment_id, conversation_id="card-10051")
    assert ei.value.bank_code == "10051"
    tds = await client.threeds_initialize(threeds_request("md0", card="4131111111111117"))
    cb = sim.complete_3ds(tds.payment_id)
    assert (cb["status"], cb["mdStatus"]) == ("failure", "0")
    assert not iyzico.verify_threeds_callback(SECRET, cb).authenticated
    with pytest.raises(PermanentError) as ei:
        await client.threeds_auth(tds.payment_id, conversation_id="md0")
    assert ei.value.code == "iyzico.5115"


async def test_a_bad_card_number_is_refused_at_initialize(client, sim):
    with pytest.raises(PermanentError) as ei:
        await client.threeds_initialize(threeds_request(card="5528790000000009"))
    assert ei.value.code == "iyzico.12" and sim.payments == []


# -- payment detail --------------------------------------------------------------------------------------

async def test_payment_detail_by_conversation_id_and_not_found(client, sim):
    _, pay = await paid_form(client, sim, "detail-1")
    by_conv = await client.payment_detail(conversation_id="detail-1")
    by_id = await client.payment_detail(payment_id=pay.payment_id)
    assert by_conv.paid and by_conv.payment_id == pay.payment_id == by_id.payment_id and by_id.signed
    for kw in ({"conversation_id": "never-started"}, {"payment_id": "99999999"}):
        with pytest.raises(PaymentNotFound) as ei:
            await client.payment_detail(**kw)
        assert ei.value.code == "iyzico.5086"
    # a checkout form started but not paid has no payment yet
    await client.checkout_form_initialize(checkout_request("unpaid"))
    with pytest.raises(PaymentNotFound):
        await client.payment_detail(conversation_id="unpaid")
    with pytest.raises(InvalidRequest):
        await client.payment_detail()
    assert len(calls(sim, codes.DETAIL)) == 5


async def test_reads_are_retried_on_transient_errors(client, sim):
    _, pay = await paid_form(client, sim, "retry")
    sim.fail_next(http_status=503, times=2, endpoint=codes.DETAIL)
    assert (await client.payment_detail(payment_id=pay.payment_id)).paid
    assert [c.http_status for c in calls(sim, codes.DETAIL)] == [503, 503, 200]
    sim.fail_next(error_code="50000", times=3, endpoint=codes.DETAIL)
    with pytest.raises(TransientError) as ei:
        await client.payment_detail(payment_id=pay.payment_id)
    assert (ei.value.code, ei.value.ambiguous, ei.value.http_status) == ("iyzico.50000", False, 429)
    assert len(calls(sim, codes.DETAIL)) == 6


# -- refund and cancel -------------------------------------------------------------------------------------

async def test_refund_partial_then_full_then_over_the_amount(client, sim):
    _, pay = await paid_form(client, sim, "refund")
    part = await client.refund(pay.payment_id, Decimal("10.50"), conversation_id="refund", ip=IP)
    assert (part.payment_id, part.price, part.currency, part.conversation_id) == (pay.payment_id, Decimal("10.5"),
                                                                                  "TRY", "refund")
    rest = await client.refund(pay.payment_id, Decimal("100.00"), conversation_id="refund", ip=IP)
    assert rest.price == Decimal("100")  # 10.50 + 100.00 = the paid 110.50
    with pytest.raises(PermanentError) as ei:
        await client.refund(pay.payment_id, Decimal("0.01"), conversation_id="refund", ip=IP)
    assert (ei.value.code, ei.value.retryable) == ("iyzico.5093", False)
    assert sim.payment(pay.payment_id).refunded == Decimal("110.50")
    assert len(calls(sim, codes.REFUND)) == 3


async def test_a_single_refund_over_the_paid_amount_is_refused(client, sim):
    _, pay = await paid_form(client, sim, "over")
    with pytest.raises(PermanentError) as ei:
        await client.refund(pay.payment_id, Decimal("110.51"), conversation_id="over", ip=IP)
    assert ei.value.code == "iyzico.5093" and sim.payment(pay.payment_id).refunded == 0
    full = await client.refund(pay.payment_id, Decimal("110.5"), conversation_id="over", ip=IP)
    assert full.price == Decimal("110.5")


async def test_refund_of_an_unpaid_or_unknown_payment(client, sim):
    tds = await client.threeds_initialize(threeds_request("unpaid-3ds"))
    with pytest.raises(PermanentError) as ei:
        await client.refund(tds.payment_id, Decimal("1"), conversation_id="unpaid-3ds", ip=IP)
    assert ei.value.code == "iyzico.5115"
    with pytest.raises(PaymentNotFound):
        await client.refund("12345", Decimal("1"), conversation_id="x", ip=IP)


@pytest.mark.parametrize("bad", [1.5, Decimal("0"), Decimal("-1"), Decimal("1.001"), "abc", None])
async def test_a_bad_refund_amount_is_refused_before_sending(client, sim, bad):
    with pytest.raises(InvalidRequest) as ei:
        await client.refund("1", bad, conversation_id="x", ip=IP)
    assert ei.value.code == "iyzico.amount_invalid" and sim.calls == []


async def test_cancel_and_what_follows_it(client, sim):
    tds, _ = await threeds_payment(client, sim, "cancel")
    await client.threeds_auth(tds.payment_id, conversation_id="cancel")
    c = await client.cancel(tds.payment_id, conversation_id="cancel", ip=IP, reason="buyer_request",
                            description="müşteri vazgeçti")
    assert (c.payment_id, c.price, c.currency) == (tds.payment_id, Decimal("110.5"), "TRY")
    for again in (lambda: client.cancel(tds.payment_id, conversation_id="cancel", ip=IP),
                  lambda: client.refund(tds.payment_id, Decimal("1"), conversation_id="cancel", ip=IP)):
        with pytest.raises(PermanentError) as ei:
            await again()
        assert ei.value.code == "iyzico.5115"
    # after a refund only refunds: cancel is refused
    _, pay = await paid_form(client, sim, "cancel-after-refund")
    await client.refund(pay.payment_id, Decimal("1"), conversation_id="cancel-after-refund", ip=IP)
    with pytest.raises(PermanentError) as ei:
        await client.cancel(pay.payment_id, conversation_id="cancel-after-refund", ip=IP)
    assert ei.value.code == "iyzico.5115"
    with pytest.raises(InvalidRequest):
        await client.cancel(pay.payment_id, conversation_id="x", ip=IP, reason="because")


# -- failures: throttling, 5xx, drops, time-outs, tampering -------------------------------------------------

async def test_rate_limit_is_transient_and_not_ambiguous(client, sim):
    sim.fail_next(error_code="50000", endpoint=codes.CF_INITIALIZE)
    with pytest.raises(TransientError) as ei:
        await client.checkout_form_initialize(checkout_request())
    e = ei.value
    assert (e.code, e.iyzico_code, e.ambiguous, e.retryable, RetryPolicy.retryable(e)) == (
        "iyzico.50000", "50000", False, True, True)
    assert describe(e.code)["en"] == "iyzico's request limit was exceeded."
    assert len(sim.calls) == 1 and sim.payments == []


@pytest.mark.parametrize("fail", [{"http_status": 500}, {"http_status": 502}, {"drop": True}])
async def test_a_5xx_or_a_drop_on_initialize_is_ambiguous_and_sent_once(client, sim, fail):
    sim.fail_next(endpoint=codes.CF_INITIALIZE, **fail)
    with pytest.raises(TransientError) as ei:
        await client.checkout_form_initialize(checkout_request("amb"))
    assert ei.value.ambiguous and ei.value.retryable
    assert len(calls(sim, codes.CF_INITIALIZE)) == 1
    # a drop came after iyzico took it: the token exists; a 5xx took nothing
    assert len(sim.payments) == (1 if fail.get("drop") else 0)


async def test_a_dropped_refund_was_taken_and_is_ambiguous(client, sim):
    _, pay = await paid_form(client, sim, "drop-refund")
    sim.fail_next(drop=True, endpoint=codes.REFUND)
    with pytest.raises(TransientError) as ei:
        await client.refund(pay.payment_id, Decimal("5"), conversation_id="drop-refund", ip=IP)
    assert ei.value.ambiguous and len(calls(sim, codes.REFUND)) == 1
    assert sim.payment(pay.payment_id).refunded == Decimal("5")  # why the caller must not simply resend


async def test_a_timeout_on_auth_is_ambiguous(base_url, sim):
    async with IyzicoClient(API_KEY, SECRET, base_url, timeout=0.3) as c:
        tds, _ = await threeds_payment(c, sim, "slow")
        sim.fail_next(delay=1.0, endpoint=codes.TDS_AUTH)
        with pytest.raises(TransientError) as ei:
            await c.threeds_auth(tds.payment_id, conversation_id="slow")
    assert (ei.value.code, ei.value.ambiguous) == ("iyzico.timeout", True)
    await asyncio.sleep(0.9)
    assert sim.payment(tds.payment_id).payment_status == "SUCCESS"  # it was charged


async def test_connection_refused_is_transient_and_certainly_not_sent():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with IyzicoClient(API_KEY, SECRET, f"http://127.0.0.1:{port}") as c:
        with pytest.raises(TransientError) as ei:
            await c.cancel("1", conversation_id="x", ip=IP)
    assert (ei.value.code, ei.value.ambiguous) == ("iyzico.connection", False)


def tamper(app, change):
    """An ASGI proxy that lets `change(dict)` alter the simulator's JSON answers."""
    async def proxy(scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            return await app(scope, receive, send)
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    data = json.loads(b"".join(chunks))
                    change(data)
                    body = json.dumps(data).encode()
                    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                    await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)
    return proxy


async def test_a_tampered_answer_is_a_signature_mismatch(sim):
    def raise_the_amount(d):
        if "paidPrice" in d:
            d["paidPrice"] = 1.0
        if "token" in d and "paymentPageUrl" in d:
            d["token"] = d["token"][:-1] + ("0" if d["token"][-1] != "0" else "1")

    with serve(tamper(sim, raise_the_amount)) as url:
        async with IyzicoClient(API_KEY, SECRET, url, read_retry=FAST) as c:
            with pytest.raises(SignatureMismatch) as ei:
                await c.checkout_form_initialize(checkout_request("tamper"))
            assert (ei.value.code, ei.value.ambiguous, ei.value.retryable) == ("iyzico.signature_mismatch", True, True)
            assert len(calls(sim, codes.CF_INITIALIZE)) == 1  # never retried
            token = sim.payments[0].token
            sim.complete(token)
            with pytest.raises(SignatureMismatch):
                await c.checkout_form_retrieve(token)
            assert len(calls(sim, codes.CF_RETRIEVE)) == 3  # a read is asked again, then given up
    with serve(tamper(sim, lambda d: d.pop("signature", None))) as url:
        async with IyzicoClient(API_KEY, SECRET, url, read_retry=RetryPolicy(attempts=1)) as c:
            with pytest.raises(SignatureMismatch):
                await c.payment_detail(conversation_id="tamper")


# -- notifications, the dev buyer, control routes ----------------------------------------------------------

async def test_a_notification_is_retried_until_the_merchant_answers_2xx(client, sim, merchant):
    with merchant.lock:
        merchant.statuses[:] = [500, 503]
    init = await client.checkout_form_initialize(checkout_request("notify"))
    sim.complete(init.token)
    attempts = sim.wait_notifications(3)
    assert [a.get("http_status") for a in attempts] == [500, 503, 200]
    bodies = {r["body"] for r in merchant.at("/iyzico/notify")}
    assert len(bodies) == 1  # the same notification each time
    note = iyzico.verify_notification(SECRET, bodies.pop(), attempts[0]["signature"])
    assert note.token == init.token and note.status == "SUCCESS"


async def test_the_dev_buyer_pays_and_posts_the_callback_itself(merchant):
    sim = IyzicoSimulator(pay_after=0.2)
    sim.add_merchant(API_KEY, SECRET, notification_url=merchant.url + "/iyzico/notify")
    with serve(sim) as url:
        async with IyzicoClient(API_KEY, SECRET, url) as c:
            init = await c.checkout_form_initialize(checkout_request("dev", callback=merchant.url + "/iyzico/callback"))
            tds = await c.threeds_initialize(threeds_request("dev-3ds", callback=merchant.url + "/iyzico/callback"))
            for _ in range(100):
                if len(sim.callbacks) >= 2:
                    break
                await asyncio.sleep(0.05)
            posted = {cb["fields"].get("token") or cb["fields"]["paymentId"]: cb for cb in sim.callbacks}
            assert posted[init.token]["http_status"] == 200 and posted[init.token]["fields"] == {"token": init.token}
            cb3 = iyzico.verify_threeds_callback(SECRET, posted[tds.payment_id]["fields"])
            assert cb3.authenticated
            assert (await c.checkout_form_retrieve(init.token)).paid
            assert (await c.threeds_auth(tds.payment_id, conversation_id="dev-3ds")).paid
    forms = [r for r in merchant.at("/iyzico/callback")]
    assert any(f"token={init.token}".encode() in r["body"] for r in forms)


def test_the_dev_simulator_reads_its_pay_after_from_the_settings(monkeypatch):
    from kopru.config import reset_settings
    from kopru_tools.simulators import iyzico as simmod

    monkeypatch.setenv("IYZICO_SIM_PAY_AFTER", "1.5")
    reset_settings()
    try:
        sim = simmod.dev_simulator()
        assert sim.pay_after == 1.5 and simmod.DEV_API_KEY == "kopru-dev-iyzico"
    finally:
        monkeypatch.undo()
        reset_settings()
    assert simmod.dev_simulator().pay_after == 5.0


async def test_control_routes_and_the_read_only_call_list(client, sim, base_url):
    async with httpx.AsyncClient() as h:
        assert (await h.post(f"{base_url}/_simulator/fail-next", json={"error_code": "x"})).status_code == 400
        ok = await h.post(f"{base_url}/_simulator/fail-next", json={"error_code": "10051", "endpoint": "checkoutform.pay"})
        assert ok.status_code == 200
        init = await client.checkout_form_initialize(checkout_request("ctl"))
        assert (await h.post(f"{base_url}/_simulator/complete", json={"token": init.token})).json() == {"token": init.token}
        assert (await client.checkout_form_retrieve(init.token)).error_code == "10051"
        init2 = await client.checkout_form_initialize(checkout_request("ctl2"))
        r = await h.post(f"{base_url}/_simulator/complete", json={"token": init2.token, "error_code": "10054"})
        assert r.status_code == 200 and (await client.checkout_form_retrieve(init2.token)).error_code == "10054"
        assert (await h.post(f"{base_url}/_simulator/complete", json={"token": "nope"})).status_code == 404
        await client.threeds_initialize(threeds_request("ctl-3ds"))
        listed = (await h.get(f"{base_url}/_simulator/calls")).json()["calls"]
        assert (await h.post(f"{base_url}/_simulator/calls")).status_code == 405
    assert [c["endpoint"] for c in listed] == ["checkoutform.initialize", "checkoutform.retrieve",
                                               "checkoutform.initialize", "checkoutform.retrieve", "threeds.initialize"]
    assert listed[-1]["card"] == "************0008"
    text = json.dumps(listed) + repr(sim.payments) + repr(sim.calls)
    for secret in (CARD, CVC + '"', TCKN, BUYER_NAME, BUYER_SURNAME, EMAIL, API_KEY, SECRET):
        assert secret not in text


# -- configuration, logs, imports -------------------------------------------------------------------------

async def test_the_base_url_comes_from_the_environment(base_url, monkeypatch):
    from kopru.config import reset_settings

    monkeypatch.setenv("IYZICO_BASE_URL", base_url + "/")
    reset_settings()
    async with IyzicoClient(API_KEY, SECRET) as c:
        assert c.base_url == base_url
        with pytest.raises(PaymentNotFound):
            await c.payment_detail(payment_id="1")
    monkeypatch.delenv("IYZICO_BASE_URL")
    monkeypatch.setenv("DATABASE_URL", "postgresql://kopru@db.invalid/kopru")  # production data: production API
    reset_settings()
    c = IyzicoClient(API_KEY, SECRET)
    assert c.base_url == "https://api.iyzipay.com" and iyzico.SANDBOX_BASE_URL == "https://sandbox-api.iyzipay.com"
    await c.aclose()
    monkeypatch.undo()
    reset_settings()
    from kopru.errors import KopruError

    with pytest.raises(KopruError):  # kopru dev's embedded data never reaches the real iyzico
        IyzicoClient(API_KEY, SECRET)
    for key, secret in (("", SECRET), (API_KEY, ""), ("a b", SECRET), (API_KEY, "x&y")):
        with pytest.raises(InvalidRequest):
            IyzicoClient(key, secret, base_url)


async def test_no_key_card_tckn_or_name_in_logs_errors_or_reprs(base_url, sim, caplog, live_logs):
    caplog.set_level(logging.DEBUG)
    fmt = JsonFormatter()
    secrets = [API_KEY, SECRET, "IYZWSv2", CARD, TCKN, BUYER_NAME, BUYER_SURNAME, EMAIL]
    seen: list[str] = []
    async with IyzicoClient(API_KEY, SECRET, base_url, timeout=0.5, read_retry=FAST) as c:
        seen.append(repr(c))
        init = await c.checkout_form_initialize(checkout_request("logs"))
        seen.append(repr(init))
        sim.complete(init.token)
        seen.append(repr(await c.checkout_form_retrieve(init.token)))
        tds = await c.threeds_initialize(threeds_request("logs-3ds"))
        seen.append(repr(tds))
        sim.complete_3ds(tds.payment_id)
        for fail in ({"error_code": "10051"}, {"http_status": 500}, {"delay": 1.0}, {"drop": True}):
            sim.fail_next(endpoint=codes.TDS_INITIALIZE, **fail)
            with pytest.raises(iyzico.IyzicoError) as ei:
                await c.threeds_initialize(threeds_request("logs-fail"))
            seen += [str(ei.value), repr(ei.value), repr(ei.value.__cause__)]
        with pytest.raises(PermanentError) as ei:
            await c.threeds_initialize(threeds_request(card="4111111111111112"))
        seen += [str(ei.value), repr(ei.value)]
        with pytest.raises(InvalidRequest) as ei:
            await c.checkout_form_initialize({"buyer": {"identityNumber": TCKN}, "bad": object()})
        seen.append(str(ei.value))
    async with IyzicoClient(API_KEY, SECRET + "x", base_url) as bad:
        with pytest.raises(AuthError) as ei:
            await bad.checkout_form_initialize(checkout_request("logs-auth"))
        seen += [str(ei.value), repr(ei.value)]
    seen += [repr(sim.payments), repr(sim.calls)] + live_logs
    records = [r for r in caplog.records if r.name.startswith(("kopru", "httpx", "httpcore"))]
    assert any(r.getMessage() == "iyzico.call" for r in records)
    assert any(r.getMessage() == "iyzico.call_failed" for r in records)
    for r in records:
        seen += [fmt.format(r), repr(r.__dict__)]
    blob = "\n".join(seen)
    for s in secrets + [init.token]:
        assert s not in blob, s
    lines = [json.loads(x) for x in live_logs]
    ok = next(x for x in lines if x["msg"] == "iyzico.call" and x["endpoint"] == codes.CF_RETRIEVE)
    assert ok["payment_status"] == "SUCCESS" and ok["http_status"] == 200 and "duration_ms" in ok
    assert len(ok["trace_id"]) == 32  # logged inside the CLIENT span
    failed = next(x for x in lines if x["msg"] == "iyzico.call_failed" and x.get("iyzico_code") == "10051")
    assert failed["outcome"] == "permanent" and failed["endpoint"] == codes.TDS_INITIALIZE


def test_importing_the_connector_loads_no_http_client():
    code = ("import sys, kopru.connectors.iyzico; "
            "print(sorted(m for m in ('httpx', 'starlette', 'uvicorn', 'iyzipay') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


SPAN_CHECK = textwrap.dedent('''
    import asyncio, json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from kopru.connectors.iyzico import IyzicoClient, PaymentNotFound
    from kopru_tools.simulators.iyzico import IyzicoSimulator, serve

    sim = IyzicoSimulator()
    sim.add_merchant("k", "s")

    async def main(url):
        async with IyzicoClient("k", "s", url) as c:
            try:
                await c.payment_detail(payment_id="1")
            except PaymentNotFound:
                pass

    with serve(sim) as url:
        asyncio.run(main(url))
    print(json.dumps([[s.name, s.kind.name] for s in exporter.get_finished_spans()]))
''')


def test_each_call_is_a_client_span():
    out = subprocess.run([sys.executable, "-c", SPAN_CHECK], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KOPRU_LOG_LEVEL": "ERROR"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["iyzico payment.detail", "CLIENT"]]


def test_every_code_has_turkish_and_english_text_and_a_class():
    for code, spec in {**codes.CODES, **codes.TRANSPORT}.items():
        assert spec.tr and spec.en and spec.kind in (codes.DECLINED, codes.PERMANENT, codes.AUTH, codes.TRANSIENT,
                                                     codes.NOT_FOUND), code
        assert describe(f"iyzico.{code}") == {"code": f"iyzico.{code}", "tr": spec.tr, "en": spec.en}
    for code in ("10051", "10005", "10012", "10034", "10054", "10084", "10057", "10058", "10093", "6001"):
        assert codes.CODES[code].kind == codes.DECLINED
    assert (codes.CODES["1000"].kind, codes.CODES["1001"].kind, codes.CODES["50000"].kind) == (
        codes.AUTH, codes.AUTH, codes.TRANSIENT)
    assert describe("iyzico.4242")["en"] == "The provider's code is not in our tables."
