"""iyzico REST client: hosted checkout form, direct 3-D Secure, payment detail, cancel and
refund, with IYZWSv2 authentication and verified response signatures.

What was read (2026):
- iyzico's SDKs: github.com/iyzico/iyzipay-python (1.0.46, `iyzipay/iyzipay_resource.py`,
  `samples/*.py`), iyzipay-php (`src/Iyzipay/IyziAuthV2Generator.php`, `samples/*.php`),
  iyzipay-java (`IyziAuthV2Generator`, `ResponseSignatureGenerator`, `model/*.java` and
  `src/test/java/com/iyzipay/sample/*`), iyzipay-node: endpoints, request and response
  fields, the IYZWSv2 scheme and which response fields each SDK verifies a `signature`
  over (signatures.py has the details).
- https://docs.iyzico.com: error codes, webhook (X-IYZ-SIGNATURE-V3, first notification
  10-15 s after the payment, then every 15 minutes until a 2xx, at most 3 attempts),
  limiters (`{"status": "failure", "errorCode": 50000, "errorMessage": "Request Limit
  Exceeded"}`), fraud (6000/6001; `fraudStatus` 1 approved, 0 under review, -1 refused).
- iyzico's GitBook (github.com/iyzico-kurtulussahin/iyzico.gitbook): the bank and
  validation error tables, the payment detail and refund answers with sample bodies,
  the sandbox's error-producing test cards.

Endpoints used here (all POST, JSON, IYZWSv2):
    /payment/iyzipos/checkoutform/initialize/auth/ecom  -> {token, paymentPageUrl, tokenExpireTime, checkoutFormContent, signature}
        (the API reference's path and iyzipay-java's; iyzipay-python posts to .../initialize/ecom)
    /payment/iyzipos/checkoutform/auth/ecom/detail      {token}  -> the payment, signed with its token
    /payment/3dsecure/initialize                        -> {paymentId, threeDSHtmlContent (base64), signature}
    /payment/3dsecure/auth                              {paymentId, conversationData} -> the payment
    /payment/detail                                     {paymentId | paymentConversationId} -> the payment
    /payment/cancel                                     {paymentId, ip, reason, description} -> {paymentId, price, currency}
    /v2/payment/refund                                  {paymentId, price, ip, currency} -> {paymentId, price, currency, signature}
Every answer has `status` "success" or "failure"; a failure carries `errorCode` (a string,
"10051"; the limiter's example has a number), `errorMessage`, `errorGroup`.

Where the sources are silent, and what was chosen:
- HTTP status of a failure: iyzico answers `status: failure` in an HTTP 200 (a sandbox
  observation: an invalid signature on /payment/bin/check is HTTP 200 with 1000); the
  client reads `status`/`errorCode` whatever the HTTP status, and treats 401/403 as an
  auth error, 408/429 and 5xx as transient when the body says nothing else.
- The body is serialized once (compact, ASCII-only JSON: nothing about its encoding can
  differ between what is signed and what is sent), signed and sent as those bytes.
- A failure answer carries no signature (the SDKs verify only on success). On the read
  calls a failure that names a payment (paymentStatus FAILURE, a bank code) is returned as
  an unpaid `Payment` (an unsigned answer can only say "not paid"); on the side-effecting
  calls a bank code raises `Declined`.
- Which errorCode iyzico gives for an unknown paymentId/conversationId/token is not
  documented: 5086 is taken as "not found" (codes.py); anything else stays a
  PermanentError, never wrongly "never existed".
- A success answer without a signature, or with one that does not verify, raises
  `SignatureMismatch` (ambiguous). Cancel answers are not signed by iyzico (no SDK
  verifies one); they are checked for the payment id asked about.
- iyzico has no idempotency key and, as far as any source says, does not deduplicate on
  conversationId: this client never retries a side-effecting call; it retries the reads
  (checkout form retrieve, payment detail) a few times on a transient error.

Logging: one line per call (`iyzico.call` / `iyzico.call_failed`) with the endpoint, HTTP
status, iyzico code, payment id, conversation id (the merchant's own reference), payment
status, sizes and duration; never the API key, the secret, the Authorization header, a
body, a checkout token, card data or buyer data.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable

from kopru.connectors.common import (
    READ_RETRY,  # noqa: F401  (re-exported)
    HttpConnector,
    RetryPolicy,  # noqa: F401  (re-exported)
    read_retry,
    traced_call,
    transport_errors,
)
from kopru.connectors.iyzico import codes
from kopru.connectors.iyzico.codes import (
    CANCEL,
    CF_INITIALIZE,
    CF_RETRIEVE,
    DETAIL,
    REFUND,
    SIDE_EFFECTS,
    TDS_AUTH,
    TDS_INITIALIZE,
)
from kopru.connectors.iyzico.errors import (
    AuthError,
    Declined,
    InvalidRequest,
    IyzicoError,
    PaymentNotFound,
    PermanentError,
    SignatureMismatch,
    TransientError,
)
from kopru.connectors.iyzico.signatures import (
    CF_INITIALIZE_FIELDS,
    CF_RETRIEVE_FIELDS,
    PAYMENT_FIELDS,
    REFUND_FIELDS,
    TDS_INITIALIZE_FIELDS,
    iyzws_v2_header,
    verify_fields,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kopru.connectors.iyzico")

DEFAULT_BASE_URL = "https://api.iyzipay.com"
SANDBOX_BASE_URL = "https://sandbox-api.iyzipay.com"
BASE_URL_ENV = "IYZICO_BASE_URL"
PATHS = {
    CF_INITIALIZE: "/payment/iyzipos/checkoutform/initialize/auth/ecom",
    CF_RETRIEVE: "/payment/iyzipos/checkoutform/auth/ecom/detail",
    TDS_INITIALIZE: "/payment/3dsecure/initialize",
    TDS_AUTH: "/payment/3dsecure/auth",
    DETAIL: "/payment/detail",
    CANCEL: "/payment/cancel",
    REFUND: "/v2/payment/refund",
}
SUCCESS, FAILURE = "SUCCESS", "FAILURE"  # paymentStatus
MAX_BODY_BYTES = 1024 * 1024
_RND = string.ascii_letters + string.digits


def base_url_from_env() -> str:
    """IYZICO_BASE_URL (through kopru.config), else iyzico's production API (never on kopru
    dev's embedded data: kopru.connectors.common.base_url)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().iyzico_base_url, DEFAULT_BASE_URL, BASE_URL_ENV)


def new_random_key() -> str:
    """A fresh IYZWSv2 random key (iyzipay-python uses 8 alphanumerics; more here)."""
    return "".join(secrets.choice(_RND) for _ in range(16))


# -- results ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckoutFormInit:
    """A hosted checkout form: send the buyer to `payment_page_url` (or embed
    `checkout_form_content`); the token identifies it until `token_expire_time` seconds."""

    token: str = field(repr=False)  # whoever holds it can open the payment page
    payment_page_url: str | None = field(repr=False)
    token_expire_time: int | None
    conversation_id: str | None
    checkout_form_content: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ThreeDSInit:
    """A direct 3-D Secure payment started: show `html` (the bank's page, decoded from
    `threeDSHtmlContent`) to the buyer; the bank POSTs the outcome to the callbackUrl."""

    payment_id: str
    conversation_id: str | None
    html: str = field(repr=False)


@dataclass(frozen=True)
class Payment:
    """A payment as iyzico reports it (retrieve, detail, 3DS auth). Ids and amounts only:
    no card number, no card holder, no buyer data. `status` is the answer's ("success" /
    "failure"), `payment_status` the payment's (SUCCESS, FAILURE, INIT_THREEDS,
    CALLBACK_THREEDS, ...; None when a checkout form has not been paid yet). `fraud_status`
    1 approved, 0 under review, -1 refused. `item_transactions` holds (itemId,
    paymentTransactionId, paidPrice) per basket item."""

    status: str
    payment_status: str | None
    payment_id: str | None
    conversation_id: str | None
    basket_id: str | None
    price: Decimal | None
    paid_price: Decimal | None
    currency: str | None
    installment: int | None = None
    fraud_status: int | None = None
    md_status: int | None = None
    token: str | None = field(default=None, repr=False)
    item_transactions: tuple[tuple[str | None, str | None, Decimal | None], ...] = ()
    error_code: str | None = None
    error_message: str | None = field(default=None, repr=False)
    signed: bool = False  # the answer's signature was verified

    @property
    def paid(self) -> bool:
        """Money was taken: a success answer, payment SUCCESS, not refused by the fraud check."""
        return self.status == "success" and self.payment_status == SUCCESS and self.fraud_status != -1

    @property
    def failed(self) -> bool:
        return self.status == "failure" or self.payment_status == FAILURE or self.fraud_status == -1

    @property
    def pending(self) -> bool:
        """Not finished yet (a checkout form not paid yet, a 3DS payment before auth)."""
        return not self.paid and not self.failed

    @property
    def under_review(self) -> bool:
        """Paid, but iyzico's fraud team reviews it (fraudStatus 0): hold the goods."""
        return self.paid and self.fraud_status == 0

    @property
    def error(self) -> IyzicoError | None:
        """The failure as the error a call would raise (Declined for a bank refusal), or None."""
        if not self.error_code:
            return None
        return _code_error(self.error_code, endpoint=DETAIL, http_status=None, side_effect=False,
                           message=self.error_message, payment_id=self.payment_id)


@dataclass(frozen=True)
class Cancellation:
    payment_id: str
    price: Decimal | None
    currency: str | None
    conversation_id: str | None = None
    host_reference: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Refund:
    payment_id: str
    price: Decimal | None
    currency: str | None
    conversation_id: str | None = None
    payment_transaction_id: str | None = None
    host_reference: str | None = field(default=None, repr=False)


# -- helpers ---------------------------------------------------------------------------------------

def _text(v: Any) -> str | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _dec(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def payment_from_response(body: dict, *, signed: bool = False) -> Payment:
    """iyzico's payment answer -> Payment (pure; no verification here)."""
    items = []
    for it in body.get("itemTransactions") or ():
        if isinstance(it, dict):
            items.append((_text(it.get("itemId")), _text(it.get("paymentTransactionId")), _dec(it.get("paidPrice"))))
    status = "success" if body.get("status") == "success" else "failure"
    return Payment(
        status=status, payment_status=_text(body.get("paymentStatus")), payment_id=_text(body.get("paymentId")),
        conversation_id=_text(body.get("conversationId")), basket_id=_text(body.get("basketId")),
        price=_dec(body.get("price")), paid_price=_dec(body.get("paidPrice")), currency=_text(body.get("currency")),
        installment=_int(body.get("installment")), fraud_status=_int(body.get("fraudStatus")),
        md_status=_int(body.get("mdStatus")), token=_text(body.get("token")), item_transactions=tuple(items),
        error_code=_text(body.get("errorCode")), error_message=_text(body.get("errorMessage")), signed=signed,
    )


def _invalid(code: str, tr: str, en: str) -> InvalidRequest:
    return InvalidRequest(f"iyzico.{code}", tr, en)


def _check_key(v: Any, name: str) -> str:
    if not isinstance(v, str) or not v.strip() or not v.isascii() or not v.isprintable() or any(c in v for c in " &:"):
        raise _invalid(f"{name}_missing", "iyzico API anahtarı ve gizli anahtarı gerekli.",
                       "An iyzico API key and secret key are required.")
    return v.strip()


def _check_id(v: Any, name: str, *, required: bool = True) -> str | None:
    if v is None and not required:
        return None
    s = _text(v) if not isinstance(v, str) else v.strip()
    if not s or len(s) > 128 or not s.isprintable():
        raise _invalid(f"{name}_invalid", f"{name} geçersiz.", f"The {name} is invalid.")
    return s


def _check_amount(v: Any) -> str:
    d = _dec(v) if not isinstance(v, float) else None  # a float is not an amount of money
    if d is None or d <= 0 or d.as_tuple().exponent < -2 or d > Decimal("1000000000"):
        raise _invalid("amount_invalid", "Tutar sıfırdan büyük, en fazla iki ondalık basamaklı bir Decimal olmalı.",
                       "The amount must be a positive Decimal with at most two decimal places.")
    return format(d, "f")


def _encode(request: Any) -> bytes:
    if not isinstance(request, dict):
        raise _invalid("request_invalid", "İstek bir JSON nesnesi (dict) olmalı.", "The request must be a JSON object (dict).")
    try:
        body = json.dumps(request, ensure_ascii=True, separators=(",", ":"), allow_nan=False,
                          default=_json_default).encode("ascii")
    except (TypeError, ValueError):
        raise _invalid("request_invalid", "İstek JSON'a çevrilemedi.", "The request could not be written as JSON.") from None
    if len(body) > MAX_BODY_BYTES:
        raise _invalid("request_too_large", "İstek çok büyük.", "The request is too large.")
    return body


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v, "f")  # iyzico takes amounts as decimal strings
    raise TypeError("not JSON")


# -- the client ------------------------------------------------------------------------------------

class IyzicoClient(HttpConnector):
    """One merchant's iyzico keys over one HTTP pool; `async with IyzicoClient(key, secret) as c:`.

    `base_url` defaults to $IYZICO_BASE_URL, else production (`SANDBOX_BASE_URL` is iyzico's
    sandbox). `random_key` is a callable returning the IYZWSv2 random key (tests fix it).
    `http` is an `httpx.AsyncClient` to share (not closed here). `timeout` bounds each call."""

    def __init__(self, api_key: str, secret_key: str, base_url: str | None = None, *, timeout: float = 15.0,
                 random_key: Callable[[], str] | None = None, http: "httpx.AsyncClient | None" = None,
                 read_retry: RetryPolicy = READ_RETRY) -> None:
        self._api_key = _check_key(api_key, "api_key")
        self._secret_key = _check_key(secret_key, "secret_key")
        self._random_key = random_key or new_random_key
        self.read_retry = read_retry
        self._connect(base_url or base_url_from_env(), timeout, http)

    # -- calls ---------------------------------------------------------------------------------

    async def checkout_form_initialize(self, request: dict) -> CheckoutFormInit:
        """Start a hosted checkout form with iyzico's request as built by the caller (locale,
        conversationId, price, paidPrice, currency, basketId, paymentGroup, callbackUrl,
        buyer, addresses, basketItems). Never retried here: each call makes a new token."""
        body = _encode(request)
        conv = _text(request.get("conversationId"))

        def handle(data):
            if not verify_fields(self._secret_key, data, CF_INITIALIZE_FIELDS):
                raise _mismatch(CF_INITIALIZE)
            token = _text(data.get("token"))
            if not token:
                raise _transport("bad_response", CF_INITIALIZE, ambiguous=True)
            return CheckoutFormInit(token, _text(data.get("paymentPageUrl")), _int(data.get("tokenExpireTime")),
                                    _text(data.get("conversationId")), _text(data.get("checkoutFormContent"))), {}

        return await self._call(CF_INITIALIZE, body, handle, fields={"conversation_id": conv})

    async def checkout_form_retrieve(self, token: str, *, conversation_id: str | None = None,
                                     locale: str = "tr") -> Payment:
        """The payment behind a checkout form token (after the browser callback or a
        notification). An unpaid form answers `pending`; PaymentNotFound for an unknown token."""
        tok = _check_id(token, "token")
        req = {"locale": locale, "token": tok}
        if conversation_id is not None:
            req = {"locale": locale, "conversationId": _check_id(conversation_id, "conversation_id"), "token": tok}

        def handle(data):
            pay = self._payment(CF_RETRIEVE, data, CF_RETRIEVE_FIELDS)
            if pay.token is not None and pay.token != tok:
                raise _transport("bad_response", CF_RETRIEVE, ambiguous=False)
            return pay, _payment_fields(pay)

        return await self._read(CF_RETRIEVE, _encode(req), handle, fields={"conversation_id": conversation_id})

    async def threeds_initialize(self, request: dict) -> ThreeDSInit:
        """Start a direct 3-D Secure payment (the request carries `paymentCard`: passed through
        once, never stored or logged). Never retried here."""
        body = _encode(request)
        conv = _text(request.get("conversationId"))

        def handle(data):
            if not verify_fields(self._secret_key, data, TDS_INITIALIZE_FIELDS):
                raise _mismatch(TDS_INITIALIZE, payment_id=_text(data.get("paymentId")))
            pid = _text(data.get("paymentId"))
            raw = data.get("threeDSHtmlContent")
            try:
                html = base64.b64decode(raw, validate=True).decode("utf-8") if isinstance(raw, str) else None
            except (ValueError, UnicodeDecodeError):
                html = None
            if not pid or html is None:
                raise _transport("bad_response", TDS_INITIALIZE, ambiguous=True)
            return ThreeDSInit(pid, _text(data.get("conversationId")), html), {"payment_id": pid}

        return await self._call(TDS_INITIALIZE, body, handle, fields={"conversation_id": conv})

    async def threeds_auth(self, payment_id: str, *, conversation_id: str | None,
                           conversation_data: str | None = None, locale: str = "tr") -> Payment:
        """Complete a 3-D Secure payment after the bank's callback said mdStatus 1. Raises
        Declined when the bank refuses. Never retried here (it charges the card)."""
        pid = _check_id(payment_id, "payment_id")
        req: dict[str, Any] = {"locale": locale}
        if conversation_id is not None:
            req["conversationId"] = _check_id(conversation_id, "conversation_id")
        req["paymentId"] = pid
        if conversation_data is not None:
            req["conversationData"] = str(conversation_data)

        def handle(data):
            pay = self._payment(TDS_AUTH, data, PAYMENT_FIELDS)
            if pay.payment_id != pid:
                raise _transport("bad_response", TDS_AUTH, ambiguous=True)
            return pay, _payment_fields(pay)

        return await self._call(TDS_AUTH, _encode(req), handle, fields={"payment_id": pid,
                                                                          "conversation_id": conversation_id})

    async def payment_detail(self, *, payment_id: str | None = None, conversation_id: str | None = None,
                             locale: str = "tr") -> Payment:
        """A payment by iyzico's paymentId or by the merchant's conversationId
        (paymentConversationId). PaymentNotFound when iyzico has none."""
        if (payment_id is None) == (conversation_id is None):
            raise _invalid("detail_key", "paymentId ya da conversationId'den yalnızca biri verilmeli.",
                           "Give exactly one of payment_id and conversation_id.")
        req: dict[str, Any] = {"locale": locale}
        if payment_id is not None:
            req["paymentId"] = _check_id(payment_id, "payment_id")
        else:
            cid = _check_id(conversation_id, "conversation_id")
            req["conversationId"] = cid
            req["paymentConversationId"] = cid

        def handle(data):
            pay = self._payment(DETAIL, data, PAYMENT_FIELDS)
            if payment_id is not None and pay.payment_id not in (None, req["paymentId"]):
                raise _transport("bad_response", DETAIL, ambiguous=False)
            return pay, _payment_fields(pay)

        return await self._read(DETAIL, _encode(req), handle, fields={"payment_id": payment_id,
                                                                        "conversation_id": conversation_id})

    async def cancel(self, payment_id: str, *, conversation_id: str | None, ip: str, reason: str | None = None,
                     description: str | None = None, locale: str = "tr") -> Cancellation:
        """Cancel a payment (the whole amount, typically the same day). `reason` one of
        double_payment, buyer_request, fraud, other. Never retried here."""
        pid = _check_id(payment_id, "payment_id")
        req: dict[str, Any] = {"locale": locale}
        if conversation_id is not None:
            req["conversationId"] = _check_id(conversation_id, "conversation_id")
        req.update(paymentId=pid, ip=_check_id(ip, "ip"))
        if reason is not None:
            if reason not in ("double_payment", "buyer_request", "fraud", "other"):
                raise _invalid("reason_invalid", "İptal nedeni double_payment, buyer_request, fraud ya da other olmalı.",
                               "The reason must be double_payment, buyer_request, fraud or other.")
            req["reason"] = reason
        if description is not None:
            req["description"] = str(description)[:500]

        def handle(data):
            got = _text(data.get("paymentId"))
            if got != pid:  # iyzico does not sign a cancel answer: at least it must be about this payment
                raise _transport("bad_response", CANCEL, ambiguous=True)
            c = Cancellation(got, _dec(data.get("price")), _text(data.get("currency")),
                             _text(data.get("conversationId")), _text(data.get("hostReference")))
            return c, {"payment_id": got}

        return await self._call(CANCEL, _encode(req), handle, fields={"payment_id": pid,
                                                                        "conversation_id": conversation_id})

    async def refund(self, payment_id: str, price: Decimal, *, conversation_id: str | None, ip: str,
                     currency: str = "TRY", locale: str = "tr") -> Refund:
        """Refund `price` of a paid payment (partly or in full, several times up to what was
        paid), POST /v2/payment/refund. Never retried here: a second call refunds again."""
        pid = _check_id(payment_id, "payment_id")
        amount = _check_amount(price)
        req: dict[str, Any] = {"locale": locale}
        if conversation_id is not None:
            req["conversationId"] = _check_id(conversation_id, "conversation_id")
        req.update(paymentId=pid, price=amount, ip=_check_id(ip, "ip"), currency=_check_id(currency, "currency"))

        def handle(data):
            if not verify_fields(self._secret_key, data, REFUND_FIELDS):
                raise _mismatch(REFUND, payment_id=pid)
            if _text(data.get("paymentId")) != pid:
                raise _transport("bad_response", REFUND, ambiguous=True)
            r = Refund(pid, _dec(data.get("price")), _text(data.get("currency")), _text(data.get("conversationId")),
                       _text(data.get("paymentTransactionId")), _text(data.get("hostReference")))
            return r, {"payment_id": pid}

        return await self._call(REFUND, _encode(req), handle, fields={"payment_id": pid,
                                                                        "conversation_id": conversation_id,
                                                                        "amount": amount})

    # -- machinery -------------------------------------------------------------------------------

    def _payment(self, endpoint: str, data: dict, signed_fields: tuple[str, ...]) -> Payment:
        """A read/auth answer with status success -> a verified Payment."""
        if not verify_fields(self._secret_key, data, signed_fields):
            raise _mismatch(endpoint, payment_id=_text(data.get("paymentId")))
        return payment_from_response(data, signed=True)

    async def _read(self, endpoint: str, body: bytes, handle: Callable, **kw: Any) -> Any:
        return await read_retry(self.read_retry, lambda: self._call(endpoint, body, handle, **kw), TransientError)

    async def _call(self, endpoint: str, body: bytes, handle: Callable, *, fields: dict | None = None) -> Any:
        side_effect = endpoint in SIDE_EFFECTS
        path = PATHS[endpoint]
        f: dict[str, Any] = {"endpoint": endpoint, "request_bytes": len(body),
                             **{k: v for k, v in (fields or {}).items() if v is not None}}

        def request():
            rnd = self._random_key()
            headers = {"Authorization": iyzws_v2_header(self._api_key, self._secret_key, rnd, path, body),
                       "x-iyzi-rnd": rnd, "Content-Type": "application/json", "Accept": "application/json",
                       "x-iyzi-client-version": "kopru-iyzico-1"}
            return self._http.request("POST", self.base_url + path, content=body, headers=headers,
                                      timeout=self._timeout)

        def answer(resp):
            data = _json_object(resp, endpoint, side_effect)
            if data is None or data.get("status") != "success":
                failed = self._failure(endpoint, resp, data, side_effect)
                if isinstance(failed, Payment):
                    result, more = failed, _payment_fields(failed)
                else:
                    raise failed
            else:
                if resp.status_code >= 300:  # "success" in an error status: not to be trusted
                    raise _transport("bad_response", endpoint, ambiguous=side_effect, http_status=resp.status_code)
                result, more = handle(data)
            f.update(more)
            return result

        return await traced_call(log, "iyzico", endpoint, f, request, answer, side_effect=side_effect,
                                 errors=IyzicoError, transient=TransientError, transport=_transport,
                                 on_error=_error_fields, error_type=True, chain=False)

    def _failure(self, endpoint: str, resp: "httpx.Response", data: dict | None,
                 side_effect: bool) -> IyzicoError | Payment:
        """A non-success answer -> the error to raise, or (reads) the unpaid payment it reports."""
        status = resp.status_code
        code = _text(data.get("errorCode")) if data else None
        message = _text(data.get("errorMessage")) if data else None
        pid = _text(data.get("paymentId")) if data else None
        if data is not None and data.get("status") == "failure" and code is not None:
            spec = codes.spec(code) if code in codes.CODES else None
            if (endpoint in (CF_RETRIEVE, DETAIL) and spec is not None and spec.kind == codes.DECLINED
                    and (pid or data.get("paymentStatus") or data.get("token"))):
                return payment_from_response(data)  # a payment that failed: data, not an error
            return _code_error(code, endpoint=endpoint, http_status=status, side_effect=side_effect, message=message,
                               payment_id=pid, group=_text(data.get("errorGroup")))
        if status >= 500:
            return _transport("http_5xx", endpoint, ambiguous=side_effect, http_status=status, code=f"http_{status}")
        if status in (408, 429):
            return _transport(f"http_{status}", endpoint, ambiguous=False, http_status=status)
        if status in (401, 403):
            s = codes.TRANSPORT[f"http_{status}"]
            return AuthError(f"iyzico.http_{status}", s.tr, s.en, endpoint=endpoint, http_status=status)
        if data is None or data.get("status") != "failure":
            return _transport("bad_response", endpoint, ambiguous=side_effect, http_status=status)
        s = codes.TRANSPORT["failure"]
        return PermanentError("iyzico.failure", s.tr, s.en, endpoint=endpoint, http_status=status,
                              iyzico_message=message)


def _error_fields(e: IyzicoError, f: dict[str, Any]) -> None:
    if e.iyzico_code:
        f["iyzico_code"] = e.iyzico_code
    if e.payment_id:
        f["payment_id"] = e.payment_id


def _payment_fields(p: Payment) -> dict[str, Any]:
    out: dict[str, Any] = {"payment_status": p.payment_status, "status": p.status}
    if p.payment_id:
        out["payment_id"] = p.payment_id
    if p.error_code:
        out["iyzico_code"] = p.error_code
    if p.fraud_status is not None:
        out["fraud_status"] = p.fraud_status
    return out


_transport = transport_errors(codes.TRANSPORT, TransientError, "iyzico.")


def _mismatch(endpoint: str, *, payment_id: str | None = None) -> SignatureMismatch:
    s = codes.TRANSPORT["signature_mismatch"]
    return SignatureMismatch("iyzico.signature_mismatch", s.tr, s.en, endpoint=endpoint, payment_id=payment_id)


def _code_error(code: str, *, endpoint: str, http_status: int | None, side_effect: bool, message: str | None = None,
                payment_id: str | None = None, group: str | None = None) -> IyzicoError:
    """iyzico's errorCode -> the error of its class."""
    spec = codes.spec(code) if str(code) in codes.CODES else None
    name = f"iyzico.{code}"
    kw = dict(endpoint=endpoint, http_status=http_status, iyzico_code=str(code), iyzico_message=message,
              payment_id=payment_id)
    if spec is None:
        s = codes.TRANSPORT["unknown_code"]
        return PermanentError(name, s.tr, s.en, error_group=group, **kw)
    if spec.kind == codes.TRANSIENT:
        # a rate limit is refused before anything happens; iyzico's own "system error" on a
        # side-effecting call may have happened half-way
        return TransientError(name, spec.tr, spec.en, ambiguous=side_effect and code != codes.RATE_LIMITED, **kw)
    cls = {codes.DECLINED: Declined, codes.AUTH: AuthError, codes.NOT_FOUND: PaymentNotFound}.get(spec.kind,
                                                                                                 PermanentError)
    return cls(name, spec.tr, spec.en, error_group=group or spec.group, **kw)


def _json_object(resp: "httpx.Response", endpoint: str, side_effect: bool) -> dict | None:
    """The answer's JSON object (amounts as Decimal), or None when it is not one."""
    try:
        data = json.loads(resp.content.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
