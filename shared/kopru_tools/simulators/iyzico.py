"""An iyzico simulator: an ASGI app speaking the endpoints, IYZWSv2 authentication, bodies,
signatures and error codes of iyzico's payment API as kopru.connectors.iyzico documents
them, the hosted checkout page and a 3-D Secure bank page, and V3-signed merchant
notifications, for `kopru dev` and the tests.

    sim = IyzicoSimulator()
    sim.add_merchant("api-key", "secret-key", notification_url="http://127.0.0.1:8080/...")
    with serve(sim) as base_url:                        # uvicorn on 127.0.0.1, a free port
        ...IyzicoClient("api-key", "secret-key", base_url)...
        sim.complete(token)                             # the buyer pays on the hosted page -> {"token": token}
        sim.complete(token, error_code="10051")         # ...or the bank declines
        sim.complete_3ds(payment_id, md_status="1")     # the bank's 3-D Secure page -> the callback's fields
        sim.fail_next(error_code="50000")               # next call: iyzico's rate-limit answer
        sim.fail_next(error_code="10051", endpoint="threeds.auth")   # the bank declines the next 3DS auth
        sim.fail_next(http_status=500, endpoint="checkoutform.initialize")  # HTTP 500, nothing taken
        sim.fail_next(drop=True, endpoint="payment.refund")  # processed, then the connection drops
        sim.fail_next(delay=2.0)                        # processed, answered 2 s later

What it does, like iyzico:
- IYZWSv2 over the raw body bytes as received (signatures.py): an unknown API key or an
  unreadable Authorization header answers 1001 "api bilgileri bulunamadı", a signature
  that does not verify (or an x-iyzi-rnd that is not the signed random key) 1000 "Geçersiz
  imza", both `status: failure` in an HTTP 200 (as observed on iyzico's sandbox).
- Every success answer carries the `signature` the SDKs verify (same fields, same order);
  failures carry `errorCode` (a string), `errorMessage` (by `locale`), `errorGroup`.
- Checkout form: initialize checks the basket (the items must sum to `price`: 5062; a
  missing callbackUrl 23, buyer e-mail 3, identity number 8, other mandatory parts 24) and
  answers a token, `paymentPageUrl` = {base}/_sim/checkout?token=..., `tokenExpireTime`
  1800 and a `checkoutFormContent` script. The page has pay / decline buttons; paying
  answers an auto-submitting form POSTing `token` to the callbackUrl, as iyzico's page does.
- Direct 3-D Secure: initialize checks the card (Luhn: 12; CVC: 15), keeps nothing of it
  but the last four digits, and answers `threeDSHtmlContent` (base64) whose form posts to
  {base}/_sim/3ds; completing that page POSTs status, paymentId, conversationData,
  conversationId, mdStatus and its signature to the callbackUrl (iyzipay-php
  callbackUrl_Signature_Validation.php). iyzico's sandbox test cards that end in a bank
  error (4111111111111129 10051, 4129111111111111 10005, ... see TEST_CARDS) do so at auth;
  4131111111111117 / 4141111111111115 end 3-D Secure with mdStatus 0 / 4.
- No deduplication on conversationId (iyzico has no idempotency key): two initializes with
  the same conversationId are two tokens, two payments.
- After a payment completes (paid or failed) a notification is POSTed to the merchant's
  notification_url, X-IYZ-SIGNATURE-V3 signed, with iyzico's documented body
  (CHECKOUT_FORM_AUTH: paymentConversationId, merchantId, token, status, iyziReferenceCode,
  iyziEventType, iyziEventTime, iyziPaymentId; THREE_DS_AUTH: paymentId instead of token),
  from a background thread, retried on a non-2xx: 3 attempts in all, like iyzico (which
  waits 10-15 s, then 15 minutes between attempts; here `notify_delay` and
  `notify_retry_delays`, short by default).

Where iyzico's documents are silent, what it does (and the client accepts either way):
- An unknown paymentId / paymentConversationId / token, or one of another merchant:
  `status: failure`, errorCode 5086. A refund over what remains refundable: 5093. Cancel or
  refund of a payment not paid, already cancelled, or (cancel) already partly refunded, and
  3DS auth of a payment whose 3-D Secure did not succeed or that was already authorised:
  5115 (codes.py).
- Retrieving a checkout form not paid yet: `status: success` without paymentStatus or
  paymentId, signed (the fields absent count as ""). A failed payment on a read
  (retrieve, detail): `status: success`, paymentStatus FAILURE, its errorCode, signed.
  A failed 3DS auth answers `status: failure` with the bank code (and the paymentId).
- A decline on the hosted page ends that form (the callback is posted, the payment is
  FAILURE); iyzico may let the buyer try another card on the same page.
- Cancel is allowed on a paid payment until it is cancelled or refunded in part; after
  that refund only. Refunds (v2, by paymentId) add up to the paid price (`paidPrice`).
- /payment/detail by paymentConversationId with several payments: the latest.
- The rate-limit answer (50000) comes with HTTP 429 (iyzico documents only the body).

Card data sent to it is never stored or shown: a payment keeps the last four digits only,
and /_simulator/calls shows those masked. It keeps no buyer data. It logs nothing.
"""

from __future__ import annotations

import base64
import hmac
import html
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from kopru.connectors.iyzico import codes
from kopru.connectors.iyzico.codes import CANCEL, CF_INITIALIZE, CF_RETRIEVE, DETAIL, REFUND, TDS_AUTH, TDS_INITIALIZE
from kopru.connectors.iyzico.signatures import (
    CF_INITIALIZE_FIELDS,
    CF_RETRIEVE_FIELDS,
    PAYMENT_FIELDS,
    REFUND_FIELDS,
    SIGNATURE_HEADER,
    TDS_INITIALIZE_FIELDS,
    iyzws_v2_signature,
    notification_signature,
    parse_iyzws_v2,
    sign_fields,
    threeds_callback_signature,
)
from kopru_tools.simulators.common import Simulator, control, error_page, runner
from kopru_tools.simulators.common import quiet_serve as serve, quiet_start as start  # noqa: F401  (re-exported)

CF_PAY = "checkoutform.pay"  # the buyer pays on the hosted page (not an API call; for fail_next)
TDS_PAY = "threeds.pay"  # the buyer completes the bank's 3-D Secure page
ENDPOINTS = codes.ENDPOINTS + (CF_PAY, TDS_PAY)
TOKEN_EXPIRE = 1800
CURRENCIES = ("TRY", "USD", "EUR", "GBP", "IRR", "NOK", "RUB", "CHF")
# iyzico's sandbox cards that end in an error (its GitBook, sss/teknik-sorular/test-kartlari.md)
TEST_CARDS = {
    "4111111111111129": "10051", "4129111111111111": "10005", "4128111111111112": "10012",
    "4127111111111113": "10041", "4126111111111114": "10043", "4125111111111115": "10054",
    "4124111111111116": "10084", "4123111111111117": "10057", "4122111111111118": "10058",
    "4121111111111119": "10034", "4120111111111110": "10041", "4130111111111118": "10202",
    "4151111111111393": "10093",
}
TEST_CARD_MD = {"4131111111111117": 0, "4141111111111115": 4}
NO_REVERSAL_CARD = "5406670000000009"  # "success but cannot be cancelled, refunded"
CENT = Decimal("0.01")


# -- state ---------------------------------------------------------------------------------------

@dataclass
class SimMerchant:
    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    notification_url: str | None = None
    label: str = "merchant"
    merchant_id: int = 3382172


@dataclass
class SimItem:
    item_id: str
    price: Decimal
    paid_price: Decimal = Decimal(0)
    transaction_id: str = ""


@dataclass
class SimPayment:
    merchant: str = field(repr=False)  # api key
    kind: str  # "hosted" | "direct"
    conversation_id: str | None
    basket_id: str | None
    price: Decimal
    paid_price: Decimal
    currency: str
    callback_url: str = field(repr=False)
    items: list[SimItem] = field(default_factory=list)
    installment: int = 1
    token: str | None = field(default=None, repr=False)
    payment_id: str | None = None
    payment_status: str | None = None  # None (form not paid yet), INIT_THREEDS, CALLBACK_THREEDS, SUCCESS, FAILURE
    md_status: int | None = None
    fraud_status: int | None = None
    error_code: str | None = None
    last_four: str | None = None
    card_error: str | None = None  # a sandbox test card's bank code, at auth
    card_md: int | None = None
    no_reversal: bool = False
    conversation_data: str = ""
    refunded: Decimal = Decimal(0)
    refunds: int = 0
    cancelled: bool = False
    reference_code: str = ""
    created_at: float = field(default_factory=time.time)

    @property
    def refundable(self) -> Decimal:
        return self.paid_price - self.refunded


@dataclass(frozen=True)
class SimCall:
    endpoint: str
    merchant: str | None
    http_status: int
    code: str | None = None
    payment_id: str | None = None
    conversation_id: str | None = None
    card: str | None = None  # "************1234": the last four digits only


def _dec(v: Any) -> Decimal | None:
    if v is None or isinstance(v, (bool, float)):
        return None if not isinstance(v, float) else _dec(repr(v))
    try:
        d = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _num(d: Decimal | None) -> float | int | None:
    """An amount in a JSON answer, as iyzico writes it (a number)."""
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else float(d)


def _luhn(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


# -- the simulator -----------------------------------------------------------------------------------

class IyzicoSimulator(Simulator):
    DROP_HEAD = b'{"status":"success","'

    def __init__(self, *, pay_after: float | None = None, notify_delay: float = 0.0,
                 notify_retry_delays: tuple[float, ...] = (0.2, 0.5)) -> None:
        """`pay_after`: seconds after which a started payment is paid by itself (the dev
        buyer): the hosted form paid, or the 3-D Secure page passed, and the browser's
        callback POSTed to the callbackUrl by the simulator. `notify_delay` before the first
        notification attempt, `notify_retry_delays` before each further one."""
        self.pay_after = pay_after
        self.notify_delay = notify_delay
        self.notify_retry_delays = notify_retry_delays
        self._merchants: dict[str, SimMerchant] = {}
        super().__init__([
            Route("/payment/iyzipos/checkoutform/initialize/auth/ecom", self._cf_initialize, methods=["POST"]),
            Route("/payment/iyzipos/checkoutform/initialize/ecom", self._cf_initialize, methods=["POST"]),
            Route("/payment/iyzipos/checkoutform/auth/ecom/detail", self._cf_retrieve, methods=["POST"]),
            Route("/payment/3dsecure/initialize", self._tds_initialize, methods=["POST"]),
            Route("/payment/3dsecure/auth", self._tds_auth, methods=["POST"]),
            Route("/payment/detail", self._detail, methods=["POST"]),
            Route("/payment/cancel", self._cancel, methods=["POST"]),
            Route("/v2/payment/refund", self._refund, methods=["POST"]),
            Route("/_sim/checkout", self._checkout_page, methods=["GET", "POST"]),
            Route("/_sim/3ds", self._threeds_page, methods=["GET", "POST"]),
            Route("/_simulator/fail-next", self._control_fail_next, methods=["POST"]),
            Route("/_simulator/complete", self._control_complete, methods=["POST"]),
        ])

    def _reset_state(self) -> None:
        super()._reset_state()
        self._payments: list[SimPayment] = []
        self._notifications: list[dict[str, Any]] = []
        self._callbacks: list[dict[str, Any]] = []
        self._ids = itertools.count(22480001)
        self._tx_ids = itertools.count(66680001)
        self._timers: list[threading.Timer] = []

    # -- configuration and inspection (thread-safe: the app runs in uvicorn's thread) -----------

    def add_merchant(self, api_key: str, secret_key: str, notification_url: str | None = None,
                     label: str | None = None) -> SimMerchant:
        with self._lock:
            m = SimMerchant(api_key, secret_key, notification_url, label or f"merchant-{len(self._merchants) + 1}",
                            3382172 + len(self._merchants))
            self._merchants[api_key] = m
        return m

    def fail_next(self, error_code: str | int | None = None, http_status: int | None = None, times: int = 1,
                  endpoint: str | None = None, delay: float = 0.0, drop: bool = False) -> None:
        """The next `times` calls (to `endpoint`, one of ENDPOINTS; any when None) fail:
        with iyzico `error_code` (`status: failure` in an HTTP 200, 429 for 50000, or
        `http_status`), not processed; except a bank code on threeds.auth / checkoutform.pay /
        threeds.pay, which is the bank refusing that payment (it ends FAILURE). A bare
        `http_status` (e.g. 500) answers an error page, nothing processed. With only `delay`
        the call is processed and answered late; with `drop` processed, then the connection
        is closed mid-answer."""
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError("unknown endpoint")
        self._inject(endpoint, times, code=None if error_code is None else str(error_code), http_status=http_status,
                     delay=delay, drop=drop)

    def reset(self) -> None:
        """Forget payments, failures, calls, notifications and callbacks (merchants stay)."""
        with self._lock:
            for t in self._timers:
                t.cancel()
            self._reset_state()

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Every notification attempt: url, attempt, event_type, payment_id, conversation_id,
        status, http_status (or error), body (ids only), signature."""
        with self._lock:
            return [dict(n) for n in self._notifications]

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """Browser callbacks the simulator POSTed itself (pay_after): url, fields, http_status."""
        with self._lock:
            return [dict(c) for c in self._callbacks]

    @property
    def payments(self) -> list[SimPayment]:
        with self._lock:
            return [replace(p, items=list(p.items)) for p in self._payments]

    def payment(self, payment_id: str | None = None, *, token: str | None = None) -> SimPayment | None:
        with self._lock:
            p = self._find(payment_id=payment_id, token=token)
            return replace(p, items=list(p.items)) if p else None

    def wait_notifications(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The notification attempts once there are at least `n` (or when `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.notifications
            if len(got) >= n:
                return got
            time.sleep(0.02)
        return self.notifications

    # -- the buyer's side (what the browser does) -------------------------------------------------

    def complete(self, token: str, error_code: str | int | None = None) -> dict[str, str]:
        """The buyer finishes the hosted checkout form: paid, or declined with bank
        `error_code`. Returns the fields the page POSTs to the callbackUrl ({"token": ...});
        the notification goes out in the background."""
        f = self._take_failure(CF_PAY) if error_code is None else None
        code = str(error_code) if error_code is not None else (f.code if f else None)
        with self._lock:
            p = self._find(token=token)
            if p is None or p.kind != "hosted":
                raise KeyError("no such checkout form")
            if p.payment_status is not None:
                raise ValueError("this checkout form is finished")
            p.payment_id = self._new_id()
            p.md_status = 1
            p.reference_code = str(uuid.uuid4())
            self._settle(p, code)
            merchant = self._merchants[p.merchant]
            body = self._notification_body(p, merchant)
        self._notify(merchant, body)
        return {"token": token}

    def complete_3ds(self, payment_id: str, md_status: str | int = "1") -> dict[str, str]:
        """The buyer passes (mdStatus 1) or fails the bank's 3-D Secure page. Returns the
        fields POSTed to the callbackUrl: status, paymentId, conversationData,
        conversationId, mdStatus, signature."""
        md = int(md_status)
        f = self._take_failure(TDS_PAY)
        with self._lock:
            p = self._find(payment_id=str(payment_id))
            if p is None or p.kind != "direct":
                raise KeyError("no such payment")
            if p.payment_status != "INIT_THREEDS":
                raise ValueError("3-D Secure already completed")
            if p.card_md is not None and md == 1:
                md = p.card_md
            p.md_status = md
            if f is not None and f.code and codes.is_bank_code(f.code):
                p.card_error = f.code
            if md == 1:
                p.payment_status = "CALLBACK_THREEDS"
            else:
                p.payment_status = "FAILURE"
            fields = {"status": "success" if md == 1 else "failure", "paymentId": p.payment_id,
                      "conversationData": p.conversation_data, "conversationId": p.conversation_id or "",
                      "mdStatus": str(md)}
            fields["signature"] = threeds_callback_signature(self._merchants[p.merchant].secret_key, fields)
        return fields

    # -- helpers (under the lock) -----------------------------------------------------------------

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _find(self, *, payment_id: str | None = None, token: str | None = None, conversation_id: str | None = None,
              merchant: str | None = None) -> SimPayment | None:
        for p in reversed(self._payments):  # the latest first
            if merchant is not None and p.merchant != merchant:
                continue
            if payment_id is not None and p.payment_id == payment_id:
                return p
            if token is not None and p.token is not None and hmac.compare_digest(p.token, token):
                return p
            if conversation_id is not None and p.conversation_id == conversation_id and p.payment_id is not None:
                return p
        return None

    def _settle(self, p: SimPayment, code: str | None) -> None:
        """A payment's outcome: paid (items get their transaction ids) or failed with `code`."""
        if code:
            p.payment_status = "FAILURE"
            p.error_code = code
            p.fraud_status = -1 if code in ("6000", "6001") else None
            return
        p.payment_status = "SUCCESS"
        p.fraud_status = 1
        total = Decimal(0)
        for i, it in enumerate(p.items):
            share = p.paid_price - total if i == len(p.items) - 1 else \
                (it.price * p.paid_price / p.price).quantize(CENT)
            it.paid_price = share
            it.transaction_id = str(next(self._tx_ids))
            total += share

    def _notification_body(self, p: SimPayment, m: SimMerchant) -> dict[str, Any]:
        body: dict[str, Any] = {"paymentConversationId": p.conversation_id, "merchantId": m.merchant_id}
        if p.kind == "hosted":
            body.update(token=p.token, status=p.payment_status, iyziReferenceCode=p.reference_code,
                        iyziEventType="CHECKOUT_FORM_AUTH")
        else:
            body.update(paymentId=int(p.payment_id), status=p.payment_status, iyziReferenceCode=p.reference_code,
                        iyziEventType="THREE_DS_AUTH")
        body.update(iyziEventTime=int(time.time() * 1000), iyziPaymentId=int(p.payment_id))
        return body

    def _record(self, endpoint: str, merchant: SimMerchant | None, status: int, code: str | None = None,
                payment_id: str | None = None, conversation_id: str | None = None, card: str | None = None) -> None:
        self._note(SimCall(endpoint, merchant.label if merchant else None, status, code, payment_id, conversation_id,
                           ("*" * 12 + card) if card else None))

    # -- background work: notifications and the dev buyer ------------------------------------------

    def _notify(self, merchant: SimMerchant, body: dict[str, Any]) -> None:
        if not merchant.notification_url:
            return
        raw = json.dumps(body, separators=(",", ":")).encode()
        sig = notification_signature(merchant.secret_key, body)
        url = merchant.notification_url

        def run() -> None:
            import httpx

            time.sleep(self.notify_delay)
            delays = (0.0,) + tuple(self.notify_retry_delays)
            for attempt, wait in enumerate(delays, start=1):
                time.sleep(wait)
                rec = {"url": url, "attempt": attempt, "event_type": body["iyziEventType"],
                       "payment_id": str(body["iyziPaymentId"]), "conversation_id": body.get("paymentConversationId"),
                       "status": body["status"], "body": dict(body), "signature": sig}
                try:
                    with httpx.Client(timeout=10.0) as h:
                        r = h.post(url, content=raw, headers={"Content-Type": "application/json",
                                                              SIGNATURE_HEADER: sig})
                    rec["http_status"] = r.status_code
                except httpx.HTTPError as e:
                    rec["error"] = type(e).__name__
                with self._lock:
                    self._notifications.append(rec)
                if 200 <= rec.get("http_status", 0) < 300:
                    return

        threading.Thread(target=run, name="iyzico-sim-notify", daemon=True).start()

    def _post_callback(self, url: str, fields: dict[str, str]) -> None:
        """What the buyer's browser does with the auto-submitting form: POST it."""
        import httpx

        rec: dict[str, Any] = {"url": url, "fields": dict(fields)}
        try:
            with httpx.Client(timeout=10.0, follow_redirects=False) as h:
                rec["http_status"] = h.post(url, data=fields).status_code
        except httpx.HTTPError as e:
            rec["error"] = type(e).__name__
        with self._lock:
            self._callbacks.append(rec)

    def _schedule(self, fn: Callable[[], None]) -> None:
        if self.pay_after is None:
            return
        t = threading.Timer(self.pay_after, fn)
        t.daemon = True
        with self._lock:
            self._timers.append(t)
        t.start()

    def _auto_pay_form(self, token: str) -> None:
        try:
            fields = self.complete(token)
        except (KeyError, ValueError):
            return  # paid, declined or gone meanwhile
        p = self.payment(token=token)
        if p is not None:
            self._post_callback(p.callback_url, fields)

    def _auto_pass_3ds(self, payment_id: str) -> None:
        try:
            fields = self.complete_3ds(payment_id, "1")
        except (KeyError, ValueError):
            return
        p = self.payment(payment_id)
        if p is not None:
            self._post_callback(p.callback_url, fields)

    # -- request plumbing ----------------------------------------------------------------------------

    async def _guard(self, endpoint: str, request: Request):
        """Injected failure, then IYZWSv2, then the JSON body. Returns (failure-or-None,
        merchant, body, early-response)."""
        raw = await request.body()
        f = self._take_failure(endpoint)
        if f is not None and f.http_status is not None and f.code is None:
            await self._delay(f)
            self._record(endpoint, None, f.http_status)
            return f, None, None, error_page(f.http_status)
        merchant, code = self._authenticate(request, raw)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = None
        locale = body.get("locale") if isinstance(body, dict) else None
        conv = body.get("conversationId") if isinstance(body, dict) else None
        if code is not None:
            return f, None, None, self._error(endpoint, None, code, locale, conv)
        if not isinstance(body, dict):
            return f, merchant, None, self._error(endpoint, merchant, "11", None, None)
        if f is not None and f.code is not None and not (endpoint == TDS_AUTH and codes.is_bank_code(f.code)):
            await self._delay(f)
            status = f.http_status or (429 if f.code == codes.RATE_LIMITED else 200)
            return f, merchant, body, self._error(endpoint, merchant, f.code, locale, conv, status=status)
        return f, merchant, body, None

    def _authenticate(self, request: Request, raw: bytes) -> tuple[SimMerchant | None, str | None]:
        auth = parse_iyzws_v2(request.headers.get("authorization"))
        if auth is None:
            return None, "1001"
        with self._lock:
            merchants = list(self._merchants.values())
        found = None
        for m in merchants:  # compare with every key, in constant time each
            if hmac.compare_digest(m.api_key.encode(), auth.api_key.encode()):
                found = m
        if found is None:
            return None, "1001"
        rnd_header = request.headers.get("x-iyzi-rnd")
        want = iyzws_v2_signature(found.secret_key, auth.random_key, request.url.path, raw)
        if not hmac.compare_digest(want.encode(), auth.signature.lower().encode("ascii", "replace")) or \
                (rnd_header is not None and rnd_header != auth.random_key):
            return None, "1000"
        return found, None

    def _base(self, request: Request, body: dict) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "success", "locale": body.get("locale") or "tr",
                               "systemTime": int(time.time() * 1000)}
        if body.get("conversationId") is not None:
            out["conversationId"] = str(body["conversationId"])
        return out

    def _error(self, endpoint: str, merchant: SimMerchant | None, code: str, locale: Any, conv: Any, *,
               status: int = 200, extra: dict | None = None, payment_id: str | None = None,
               card: str | None = None) -> Response:
        spec = codes.spec(code) if code in codes.CODES else None
        en = str(locale or "tr").lower() == "en"
        message = (spec.en if en else spec.tr) if spec else ("Request Limit Exceeded" if code == "50000" else "Hata")
        if code == codes.RATE_LIMITED:
            message = "Request Limit Exceeded"
        body: dict[str, Any] = {"status": "failure", "errorCode": code, "errorMessage": message,
                                "locale": str(locale or "tr"), "systemTime": int(time.time() * 1000)}
        if spec is not None and spec.group:
            body["errorGroup"] = spec.group
        if conv is not None:
            body["conversationId"] = str(conv)
        body.update(extra or {})
        self._record(endpoint, merchant, status, code, payment_id, str(conv) if conv is not None else None, card)
        return JSONResponse(body, status_code=status)

    def _ok(self, endpoint: str, merchant: SimMerchant, body: dict, *, payment_id: str | None = None,
            card: str | None = None) -> Response:
        self._record(endpoint, merchant, 200, None, payment_id, body.get("conversationId"), card)
        return JSONResponse(body)

    # -- request checks -------------------------------------------------------------------------------

    @staticmethod
    def _basket(body: dict) -> tuple[Decimal, Decimal, str, list[SimItem]]:
        if not body.get("callbackUrl"):
            raise _Refused("23")
        buyer = body.get("buyer")
        if not isinstance(buyer, dict):
            raise _Refused("24")
        if not buyer.get("email"):
            raise _Refused("3")
        if not buyer.get("identityNumber"):
            raise _Refused("8")
        if not isinstance(body.get("billingAddress"), dict):
            raise _Refused("24")
        price, paid = _dec(body.get("price")), _dec(body.get("paidPrice"))
        if price is None or paid is None or price <= 0 or paid <= 0:
            raise _Refused("24" if body.get("price") is None or body.get("paidPrice") is None else "11")
        currency = str(body.get("currency") or "TRY")
        if currency not in CURRENCIES:
            raise _Refused("11")
        items = body.get("basketItems")
        if not isinstance(items, list) or not items:
            raise _Refused("24")
        out = []
        for it in items:
            ip = _dec(it.get("price")) if isinstance(it, dict) else None
            if ip is None or ip <= 0 or not it.get("id"):
                raise _Refused("11")
            out.append(SimItem(str(it["id"]), ip))
        if sum((i.price for i in out), Decimal(0)) != price:
            raise _Refused("5062")
        return price, paid, currency, out

    # -- answers ----------------------------------------------------------------------------------------

    def _payment_body(self, request: Request, req: dict, p: SimPayment, secret: str, *, with_token: bool) -> dict:
        out = self._base(request, req)
        out.setdefault("conversationId", p.conversation_id)
        out.update(price=_num(p.price), paidPrice=_num(p.paid_price), installment=p.installment, currency=p.currency,
                   basketId=p.basket_id)
        if p.payment_id is not None and p.payment_status is not None:
            out.update(paymentId=p.payment_id, paymentStatus=p.payment_status, fraudStatus=p.fraud_status,
                       mdStatus=p.md_status, phase="AUTH")
            if p.last_four:
                out["lastFourDigits"] = p.last_four
            if p.payment_status == "SUCCESS":
                out["authCode"] = f"mock{p.payment_id[-5:]}"
                out["itemTransactions"] = [
                    {"itemId": it.item_id, "paymentTransactionId": it.transaction_id, "transactionStatus": 2,
                     "price": _num(it.price), "paidPrice": _num(it.paid_price)} for it in p.items]
            if p.error_code:
                spec = codes.spec(p.error_code)
                en = str(req.get("locale") or "tr").lower() == "en"
                out.update(errorCode=p.error_code, errorMessage=(spec.en if en else spec.tr) if spec else None,
                           errorGroup=spec.group if spec else None)
        if with_token:
            out["token"] = p.token
            out["signature"] = sign_fields(secret, out, CF_RETRIEVE_FIELDS)
        else:
            out["signature"] = sign_fields(secret, out, PAYMENT_FIELDS)
        return out

    # -- endpoints --------------------------------------------------------------------------------------

    async def _cf_initialize(self, request: Request) -> Response:
        f, m, body, early = await self._guard(CF_INITIALIZE, request)
        if early is not None:
            return early
        conv = body.get("conversationId")
        try:
            price, paid, currency, items = self._basket(body)
        except _Refused as r:
            return self._error(CF_INITIALIZE, m, r.code, body.get("locale"), conv)
        token = str(uuid.uuid4())
        p = SimPayment(m.api_key, "hosted", None if conv is None else str(conv), _s(body.get("basketId")), price, paid,
                       currency, str(body["callbackUrl"]), items, token=token)
        with self._lock:
            self._payments.append(p)
        base = str(request.base_url).rstrip("/")
        page = f"{base}/_sim/checkout?token={token}"
        out = self._base(request, body)
        out.update(token=token, tokenExpireTime=TOKEN_EXPIRE, paymentPageUrl=page,
                   checkoutFormContent=(f'<script type="text/javascript">if (typeof iyziInit == \'undefined\') '
                                        f'{{window.location.href = "{page}";}}</script>'))
        out["signature"] = sign_fields(m.secret_key, out, CF_INITIALIZE_FIELDS)
        self._schedule(lambda: self._auto_pay_form(token))
        return await self._finish(f, self._ok(CF_INITIALIZE, m, out))

    async def _cf_retrieve(self, request: Request) -> Response:
        f, m, body, early = await self._guard(CF_RETRIEVE, request)
        if early is not None:
            return early
        token = body.get("token")
        with self._lock:
            p = self._find(token=str(token), merchant=m.api_key) if token else None
            p = replace(p, items=list(p.items)) if p else None
        if p is None or p.kind != "hosted":
            return self._error(CF_RETRIEVE, m, "24" if not token else "5086", body.get("locale"),
                               body.get("conversationId"))
        out = self._payment_body(request, body, p, m.secret_key, with_token=True)
        return await self._finish(f, self._ok(CF_RETRIEVE, m, out, payment_id=p.payment_id))

    async def _tds_initialize(self, request: Request) -> Response:
        f, m, body, early = await self._guard(TDS_INITIALIZE, request)
        if early is not None:
            return early
        conv = body.get("conversationId")
        card = body.get("paymentCard")
        number = str(card.get("cardNumber") or "").replace(" ", "") if isinstance(card, dict) else ""
        last4 = number[-4:] if number.isdigit() and len(number) >= 4 else None
        try:
            if not isinstance(card, dict) or not card.get("cardHolderName"):
                raise _Refused("24")
            if not _luhn(number):
                raise _Refused("12")
            cvc = str(card.get("cvc") or "")
            if not (cvc.isdigit() and 3 <= len(cvc) <= 4):
                raise _Refused("15")
            price, paid, currency, items = self._basket(body)
        except _Refused as r:
            return self._error(TDS_INITIALIZE, m, r.code, body.get("locale"), conv, card=last4)
        with self._lock:
            pid = self._new_id()
            p = SimPayment(m.api_key, "direct", None if conv is None else str(conv), _s(body.get("basketId")), price,
                           paid, currency, str(body["callbackUrl"]), items, installment=int(body.get("installment") or 1),
                           payment_id=pid, payment_status="INIT_THREEDS", last_four=last4,
                           card_error=TEST_CARDS.get(number), card_md=TEST_CARD_MD.get(number),
                           no_reversal=number == NO_REVERSAL_CARD, reference_code=str(uuid.uuid4()))
            self._payments.append(p)
        del number, card  # nothing of the card is kept but the last four digits
        base = str(request.base_url).rstrip("/")
        page = (f'<!doctype html><html><head><meta charset="utf-8"><title>3-D Secure</title></head><body>'
                f'<form id="iyzico-3ds-form" action="{base}/_sim/3ds" method="post">'
                f'<input type="hidden" name="paymentId" value="{pid}"></form>'
                f'<script type="text/javascript">document.getElementById("iyzico-3ds-form").submit();</script>'
                f'</body></html>')
        out = self._base(request, body)
        out.update(paymentId=pid, threeDSHtmlContent=base64.b64encode(page.encode()).decode())
        out["signature"] = sign_fields(m.secret_key, out, TDS_INITIALIZE_FIELDS)
        self._schedule(lambda: self._auto_pass_3ds(pid))
        return await self._finish(f, self._ok(TDS_INITIALIZE, m, out, payment_id=pid, card=last4))

    async def _tds_auth(self, request: Request) -> Response:
        f, m, body, early = await self._guard(TDS_AUTH, request)
        if early is not None:
            return early
        pid = _s(body.get("paymentId"))
        locale, conv = body.get("locale"), body.get("conversationId")
        with self._lock:
            p = self._find(payment_id=pid, merchant=m.api_key) if pid else None
            if p is None or p.kind != "direct":
                code, snap = ("24" if not pid else "5086"), None
            elif p.payment_status != "CALLBACK_THREEDS":
                code, snap = "5115", None
            else:
                decline = f.code if (f is not None and f.code) else p.card_error
                p.conversation_data = str(body.get("conversationData") or "")
                self._settle(p, decline)
                code, snap = None, replace(p, items=list(p.items))
                note = self._notification_body(p, self._merchants[p.merchant])
        if snap is None:
            return self._error(TDS_AUTH, m, code, locale, conv, payment_id=pid)
        self._notify(m, note)
        if snap.payment_status == "FAILURE":
            resp = self._error(TDS_AUTH, m, snap.error_code, locale, conv, payment_id=pid,
                               extra={"paymentId": snap.payment_id, "paymentStatus": "FAILURE", "mdStatus": snap.md_status})
            return await self._finish(f, resp)
        out = self._payment_body(request, body, snap, m.secret_key, with_token=False)
        return await self._finish(f, self._ok(TDS_AUTH, m, out, payment_id=pid))

    async def _detail(self, request: Request) -> Response:
        f, m, body, early = await self._guard(DETAIL, request)
        if early is not None:
            return early
        pid, pconv = _s(body.get("paymentId")), _s(body.get("paymentConversationId"))
        with self._lock:
            p = self._find(payment_id=pid, merchant=m.api_key) if pid else \
                self._find(conversation_id=pconv, merchant=m.api_key) if pconv else None
            p = replace(p, items=list(p.items)) if p else None
        if p is None:
            return self._error(DETAIL, m, "24" if not (pid or pconv) else "5086", body.get("locale"),
                               body.get("conversationId"), payment_id=pid)
        out = self._payment_body(request, body, p, m.secret_key, with_token=False)
        return await self._finish(f, self._ok(DETAIL, m, out, payment_id=p.payment_id))

    async def _cancel(self, request: Request) -> Response:
        f, m, body, early = await self._guard(CANCEL, request)
        if early is not None:
            return early
        pid = _s(body.get("paymentId"))
        locale, conv = body.get("locale"), body.get("conversationId")
        if not pid or not body.get("ip"):
            return self._error(CANCEL, m, "24", locale, conv, payment_id=pid)
        with self._lock:
            p = self._find(payment_id=pid, merchant=m.api_key)
            if p is None:
                code = "5086"
            elif p.payment_status != "SUCCESS" or p.cancelled or p.refunded > 0 or p.no_reversal:
                code = "5115"
            else:
                code = None
                p.cancelled = True
                snap = replace(p)
        if code is not None:
            return self._error(CANCEL, m, code, locale, conv, payment_id=pid)
        out = self._base(request, body)
        out.update(paymentId=pid, price=_num(snap.paid_price), currency=snap.currency, authCode=f"mock{pid[-5:]}",
                   hostReference=f"mock{pid}iyzihostrfn", cancelHostReference=f"mock{pid}cancelrfn")
        return await self._finish(f, self._ok(CANCEL, m, out, payment_id=pid))

    async def _refund(self, request: Request) -> Response:
        f, m, body, early = await self._guard(REFUND, request)
        if early is not None:
            return early
        pid = _s(body.get("paymentId"))
        locale, conv = body.get("locale"), body.get("conversationId")
        amount = _dec(body.get("price"))
        if not pid or not body.get("ip") or body.get("price") is None:
            return self._error(REFUND, m, "24", locale, conv, payment_id=pid)
        if amount is None or amount <= 0 or amount.as_tuple().exponent < -2:
            return self._error(REFUND, m, "11", locale, conv, payment_id=pid)
        with self._lock:
            p = self._find(payment_id=pid, merchant=m.api_key)
            if p is None:
                code = "5086"
            elif p.payment_status != "SUCCESS" or p.cancelled or p.no_reversal:
                code = "5115"
            elif body.get("currency") not in (None, p.currency):
                code = "11"
            elif amount > p.refundable:
                code = "5093"
            else:
                code = None
                p.refunded += amount
                p.refunds += 1
                snap = replace(p)
        if code is not None:
            return self._error(REFUND, m, code, locale, conv, payment_id=pid)
        out = self._base(request, body)
        out.update(paymentId=pid, price=_num(amount), currency=snap.currency, authCode=f"mock{pid[-5:]}",
                   hostReference=f"mock{pid}r{snap.refunds}")
        out["signature"] = sign_fields(m.secret_key, out, REFUND_FIELDS)
        return await self._finish(f, self._ok(REFUND, m, out, payment_id=pid))

    # -- the pages a browser sees (not iyzico's API) -----------------------------------------------------

    async def _checkout_page(self, request: Request) -> Response:
        """GET: the hosted checkout page (pay / decline). POST: the buyer's choice; answers
        the auto-submitting form that POSTs `token` to the merchant's callbackUrl."""
        if request.method == "GET":
            token = request.query_params.get("token") or ""
            p = self.payment(token=token) if token else None
            if p is None:
                return HTMLResponse("<!doctype html><p>Ödeme formu bulunamadı.</p>", status_code=404)
            if p.payment_status is not None:
                return HTMLResponse("<!doctype html><p>Bu ödeme formu tamamlandı.</p>", status_code=409)
            options = "".join(f'<option value="{c}">{c} {html.escape(s.tr)}</option>'
                              for c, s in codes.BANK.items())
            t = html.escape(token, quote=True)
            return HTMLResponse(
                f'<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>iyzico ödeme (simülatör)</title>'
                f'</head><body><h1>iyzico ödeme formu (simülatör)</h1>'
                f'<p>Tutar: {html.escape(str(p.paid_price))} {html.escape(p.currency)}</p>'
                f'<form method="post"><input type="hidden" name="token" value="{t}">'
                f'<button name="action" value="pay">Öde</button></form>'
                f'<form method="post"><input type="hidden" name="token" value="{t}">'
                f'<select name="error_code">{options}</select>'
                f'<button name="action" value="decline">Banka reddetsin</button></form></body></html>')
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        action = (form.get("action") or ["pay"])[0]
        code = (form.get("error_code") or [None])[0] if action == "decline" else None
        if code is not None and code not in codes.BANK:
            return HTMLResponse("<!doctype html><p>Geçersiz hata kodu.</p>", status_code=400)
        try:
            fields = self.complete(token, error_code=code)
        except KeyError:
            return HTMLResponse("<!doctype html><p>Ödeme formu bulunamadı.</p>", status_code=404)
        except ValueError:
            return HTMLResponse("<!doctype html><p>Bu ödeme formu tamamlandı.</p>", status_code=409)
        p = self.payment(token=token)
        return HTMLResponse(_autosubmit(p.callback_url, fields))

    async def _threeds_page(self, request: Request) -> Response:
        """The bank's 3-D Secure page: the first POST (from threeDSHtmlContent) shows it; the
        buyer's choice answers the auto-submitting form to the merchant's callbackUrl."""
        form = parse_qs((await request.body()).decode("utf-8", "replace")) if request.method == "POST" else {}
        pid = (form.get("paymentId") or [request.query_params.get("paymentId") or ""])[0]
        action = (form.get("action") or [None])[0]
        p = self.payment(pid) if pid else None
        if p is None or p.kind != "direct":
            return HTMLResponse("<!doctype html><p>İşlem bulunamadı.</p>", status_code=404)
        if action is None:
            v = html.escape(pid, quote=True)
            return HTMLResponse(
                f'<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>3-D Secure (simülatör)</title>'
                f'</head><body><h1>Banka doğrulaması (simülatör)</h1><form method="post">'
                f'<input type="hidden" name="paymentId" value="{v}">'
                f'<button name="action" value="pass">Doğrula</button>'
                f'<button name="action" value="fail">Doğrulama başarısız</button></form></body></html>')
        try:
            fields = self.complete_3ds(pid, "1" if action == "pass" else "0")
        except ValueError:
            return HTMLResponse("<!doctype html><p>Bu doğrulama tamamlandı.</p>", status_code=409)
        return HTMLResponse(_autosubmit(p.callback_url, fields))

    # -- control and inspection (not iyzico's API) -----------------------------------------------------

    async def _control_fail_next(self, request: Request) -> Response:
        """Dev control: {"error_code": "10051", "endpoint": "checkoutform.pay", "http_status":
        500, "times": 1, "delay": 0, "drop": false}."""
        def act(b: Any) -> None:
            if not isinstance(b, dict):
                raise ValueError
            code = b.get("error_code")
            if code is not None and not str(code).isdigit():
                raise ValueError
            status = b.get("http_status")
            self.fail_next(error_code=code, http_status=int(status) if status is not None else None,
                           times=int(b.get("times", 1)), endpoint=b.get("endpoint"), delay=float(b.get("delay", 0)),
                           drop=bool(b.get("drop", False)))

        return await control(request, act, "give error_code, http_status, times, endpoint, delay, drop")

    async def _control_complete(self, request: Request) -> Response:
        """Dev control: {"token": "...", "error_code": null|"10051"}: the buyer pays (or the
        bank declines) the hosted form now; answers the callback fields."""
        try:
            b = await request.json()
            token = b["token"]
            code = b.get("error_code")
            if code is not None and str(code) not in codes.BANK:
                raise ValueError
            fields = self.complete(str(token), error_code=code)
        except KeyError:
            return JSONResponse({"error": "no such checkout form"}, status_code=404)
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"error": "give token and an optional bank error_code; the form must be open"},
                                status_code=400)
        return JSONResponse(fields)


def _s(v: Any) -> str | None:
    if v is None or isinstance(v, bool):
        return None
    s = str(v).strip()
    return s or None


def _autosubmit(url: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(str(v), quote=True)}">'
                     for k, v in fields.items())
    return (f'<!doctype html><html><head><meta charset="utf-8"></head><body>'
            f'<form id="callback" method="post" action="{html.escape(url, quote=True)}">{inputs}</form>'
            f'<script type="text/javascript">document.getElementById("callback").submit();</script></body></html>')


DEV_API_KEY = "kopru-dev-iyzico"
DEV_SECRET_KEY = "kopru-dev-iyzico-secret"


def dev_simulator() -> IyzicoSimulator:
    """The simulator for `kopru dev`: one merchant (kopru-dev-iyzico / kopru-dev-iyzico-secret)
    whose buyer pays every started payment after IYZICO_SIM_PAY_AFTER seconds (5 by default):
    the simulator posts the browser's callback itself and sends the notification (to a
    notification URL set with `add_merchant`, none by default)."""
    from kopru.config import settings

    sim = IyzicoSimulator(pay_after=settings().iyzico_sim_pay_after)
    sim.add_merchant(DEV_API_KEY, DEV_SECRET_KEY, label="dev")
    return sim


main = runner(dev_simulator, "iyzico-simulator", 8097)  # python -m kopru_tools.simulators.iyzico [--port N]


if __name__ == "__main__":
    main()
