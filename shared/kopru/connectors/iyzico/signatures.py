"""iyzico's three HMAC-SHA256 schemes, pure functions over the stdlib `hmac`/`hashlib`
(the primitive iyzico documents; nothing hand-written), compared with
`hmac.compare_digest`:

1. IYZWSv2 request authentication (`iyzws_v2_header`), as iyzico's SDKs compute it:
   iyzipay-python `IyzipayResource.generate_v2_hash` / `get_http_header_v2`,
   iyzipay-php `IyziAuthV2Generator`, iyzipay-java `IyziAuthV2Generator`:
       signature = hex(HMAC-SHA256(key=secretKey, msg=randomKey + uriPath + body))
       Authorization: IYZWSv2 base64("apiKey:" + apiKey + "&randomKey:" + randomKey + "&signature:" + signature)
       x-iyzi-rnd: randomKey
   `uriPath` is the path without the query string (python: `url.split('?')[0]`; java and
   php are handed the path alone); `body` is the request's JSON exactly as sent (each SDK
   signs the very string it sends, and they serialize differently: python with ", ",
   Gson compact, so iyzico verifies over the raw bytes). With no body the path alone.

2. Response signatures (`response_signature`): hex(HMAC-SHA256(secretKey, ":".join(fields)))
   over these fields, in this order (iyzipay-java `ResponseSignatureGenerator` and each
   model's `verifySignature`; the python and php samples list the same):
       checkout form initialize  conversationId, token
       checkout form retrieve    paymentStatus, paymentId, currency, basketId, conversationId, paidPrice, price, token
       3DS initialize            paymentId, conversationId
       3DS auth, payment detail  paymentId, currency, basketId, conversationId, paidPrice, price
       refund (v1 and v2)        paymentId, price, currency, conversationId
   A missing field is "" (java `EMPTY_PARAM`); an amount is written without trailing zeros
   in plain notation (java `BigDecimal.stripTrailingZeros().toPlainString()`, python's
   `strip_zero`): 1.20 -> "1.2", 10.0 -> "10". No SDK verifies a cancel answer.

3. Callbacks iyzico sends to the merchant:
   - merchant notification (webhook), header X-IYZ-SIGNATURE-V3 (`verify_notification`),
     from iyzipay-php `samples/webhook_Signature_Validation.php`: the HMAC key is the
     secret key and the message is the concatenation (no separator)
       hosted form (checkout form, pay with iyzico): secretKey + iyziEventType + iyziPaymentId + token + paymentConversationId + status
       direct (API / 3DS):                           secretKey + iyziEventType + paymentId + paymentConversationId + status
   - the 3-D Secure browser callback's `signature` field (`verify_threeds_callback`), from
     iyzipay-php `samples/callbackUrl_Signature_Validation.php`:
       hex(HMAC-SHA256(secretKey, conversationData:conversationId:mdStatus:paymentId:status))
   Both samples carry worked vectors; tests/connectors/test_iyzico.py checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from kopru.connectors.iyzico.errors import BadNotification

SIGNATURE_HEADER = "X-IYZ-SIGNATURE-V3"


def _hmac_hex(secret_key: str, message: bytes) -> str:
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def iyzws_v2_signature(secret_key: str, rnd: str, uri_path: str, body: bytes = b"") -> str:
    """hex(HMAC-SHA256(secretKey, randomKey + uriPath + body)); the query string, if any,
    is not signed."""
    path = uri_path.split("?", 1)[0]
    return _hmac_hex(secret_key, rnd.encode("utf-8") + path.encode("utf-8") + bytes(body or b""))


def iyzws_v2_header(api_key: str, secret_key: str, rnd: str, uri_path: str, body: bytes) -> str:
    """The `Authorization` header value for a request of `body` (the exact bytes sent) to
    `uri_path`, with random key `rnd` (also sent as `x-iyzi-rnd`)."""
    sig = iyzws_v2_signature(secret_key, rnd, uri_path, body)
    auth = f"apiKey:{api_key}&randomKey:{rnd}&signature:{sig}"
    return "IYZWSv2 " + base64.b64encode(auth.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class IyzwsV2:
    api_key: str = field(repr=False)
    random_key: str
    signature: str = field(repr=False)


def parse_iyzws_v2(header: str | None) -> IyzwsV2 | None:
    """The parts of an IYZWSv2 Authorization header, or None if it is not one (for the
    simulator)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme != "IYZWSv2" or not value.strip():
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    parts: dict[str, str] = {}
    for item in text.split("&"):
        k, sep, v = item.partition(":")
        if not sep:
            return None
        parts[k] = v
    if not parts.get("apiKey") or not parts.get("randomKey") or not parts.get("signature"):
        return None
    return IyzwsV2(parts["apiKey"], parts["randomKey"], parts["signature"])


# -- response signatures ------------------------------------------------------------------------

def amount_text(value: Any) -> str:
    """An amount as iyzico signs it: plain notation without trailing zeros ("1.2", "10")."""
    if value is None or value == "":
        return ""
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    if d == d.to_integral_value():
        return format(d.quantize(Decimal(1)), "f")
    return format(d.normalize(), "f")


def _param(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (Decimal, float)):
        return amount_text(v)
    return str(v)


def response_signature(secret_key: str, params: Iterable[Any]) -> str:
    """hex(HMAC-SHA256(secretKey, ":".join(params))) with iyzico's rendering of each value."""
    return _hmac_hex(secret_key, ":".join(_param(p) for p in params).encode("utf-8"))


# the signed fields of each answer (see the module docstring); amounts are the keys in AMOUNTS
CF_INITIALIZE_FIELDS = ("conversationId", "token")
CF_RETRIEVE_FIELDS = ("paymentStatus", "paymentId", "currency", "basketId", "conversationId", "paidPrice", "price",
                      "token")
TDS_INITIALIZE_FIELDS = ("paymentId", "conversationId")
PAYMENT_FIELDS = ("paymentId", "currency", "basketId", "conversationId", "paidPrice", "price")
REFUND_FIELDS = ("paymentId", "price", "currency", "conversationId")
AMOUNTS = frozenset({"price", "paidPrice"})


def sign_fields(secret_key: str, body: Mapping[str, Any], fields: Iterable[str]) -> str:
    return response_signature(secret_key, [amount_text(body.get(f)) if f in AMOUNTS else body.get(f)
                                           for f in fields])


def verify_fields(secret_key: str, body: Mapping[str, Any], fields: Iterable[str]) -> bool:
    got = body.get("signature")
    if not isinstance(got, str) or not got:
        return False
    want = sign_fields(secret_key, body, fields)
    return hmac.compare_digest(want.encode("ascii"), got.strip().lower().encode("ascii", "replace"))


# -- merchant notifications (X-IYZ-SIGNATURE-V3) ---------------------------------------------------

HOSTED, DIRECT = "hosted", "direct"


@dataclass(frozen=True)
class Notification:
    """A verified iyzico merchant notification. `payment_id` is iyzico's payment id
    (`iyziPaymentId`, or `paymentId` for direct payments); `conversation_id` is the
    merchant's `paymentConversationId`; `status` iyzico's (SUCCESS, FAILURE, ...); `token`
    the checkout form token (hosted form only); `reference_code` `iyziReferenceCode`;
    `event_time` `iyziEventTime` (epoch milliseconds). Only ids: nothing personal."""

    event_type: str
    payment_id: str | None
    conversation_id: str | None
    status: str | None
    token: str | None = None
    reference_code: str | None = None
    event_time: int | None = None
    merchant_id: str | None = None

    @property
    def kind(self) -> str:
        return HOSTED if self.token else DIRECT


def _s(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def notification_signature(secret_key: str, body: Mapping[str, Any]) -> str:
    """The X-IYZ-SIGNATURE-V3 of a notification body (hosted form when it carries a token,
    else direct): hex(HMAC-SHA256(key=secretKey, msg=secretKey + ...))."""
    event = _s(body.get("iyziEventType"))
    conv = _s(body.get("paymentConversationId"))
    status = _s(body.get("status"))
    if body.get("token"):
        parts = [secret_key, event, _s(body.get("iyziPaymentId")), _s(body.get("token")), conv, status]
    else:
        pid = body.get("paymentId") if body.get("paymentId") is not None else body.get("iyziPaymentId")
        parts = [secret_key, event, _s(pid), conv, status]
    return _hmac_hex(secret_key, "".join(parts).encode("utf-8"))


_HEX64 = frozenset("0123456789abcdef")


def verify_notification(secret_key: str, body: bytes, signature: str | None) -> Notification:
    """Verify an iyzico merchant notification: `body` the raw request body, `signature`
    the X-IYZ-SIGNATURE-V3 header. Raises BadNotification when the signature is missing,
    malformed or wrong, or the body is not a JSON object with an event type."""
    if not isinstance(secret_key, str) or not secret_key:
        raise BadNotification()
    sig = (signature or "").strip().lower()
    if len(sig) != 64 or not set(sig) <= _HEX64:
        raise BadNotification()
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
    except (ValueError, UnicodeDecodeError, TypeError, AttributeError):
        raise BadNotification() from None
    if not isinstance(data, dict) or not isinstance(data.get("iyziEventType"), str) or not data["iyziEventType"]:
        raise BadNotification()
    want = notification_signature(secret_key, data)
    if not hmac.compare_digest(want.encode("ascii"), sig.encode("ascii")):
        raise BadNotification()
    pid = data.get("iyziPaymentId") if data.get("iyziPaymentId") is not None else data.get("paymentId")
    et = data.get("iyziEventTime")
    return Notification(
        event_type=data["iyziEventType"],
        payment_id=_s(pid) or None,
        conversation_id=_s(data.get("paymentConversationId")) or None,
        status=_s(data.get("status")) or None,
        token=_s(data.get("token")) or None,
        reference_code=_s(data.get("iyziReferenceCode")) or None,
        event_time=int(et) if isinstance(et, (int, float)) and not isinstance(et, bool) else None,
        merchant_id=_s(data.get("merchantId")) or None,
    )


# -- the 3-D Secure browser callback -----------------------------------------------------------------

@dataclass(frozen=True)
class ThreeDSCallback:
    """The fields iyzico's 3-D Secure page POSTs to the merchant's callbackUrl. `md_status`
    "1" means the cardholder was authenticated; anything else: do not call threeds_auth.
    Never trusted alone: threeds_auth / payment_detail decide."""

    status: str | None
    payment_id: str | None
    conversation_id: str | None
    md_status: str | None
    conversation_data: str | None = field(default=None, repr=False)
    signed: bool = False

    @property
    def authenticated(self) -> bool:
        return (self.status or "").lower() == "success" and self.md_status == "1"


def threeds_callback_signature(secret_key: str, fields: Mapping[str, Any]) -> str:
    parts = [fields.get("conversationData"), fields.get("conversationId"), fields.get("mdStatus"),
             fields.get("paymentId"), fields.get("status")]
    return _hmac_hex(secret_key, ":".join(_s(p) for p in parts).encode("utf-8"))


def verify_threeds_callback(secret_key: str, fields: Mapping[str, Any], *, required: bool = True) -> ThreeDSCallback:
    """Read (and verify, when it carries `signature`) a 3-D Secure callback's form fields.
    A missing signature raises BadNotification unless `required=False`; a wrong one always."""
    got = _s(fields.get("signature")).strip().lower()
    if got:
        want = threeds_callback_signature(secret_key, fields)
        if not hmac.compare_digest(want.encode("ascii"), got.encode("ascii", "replace")):
            raise BadNotification()
    elif required:
        raise BadNotification()

    def g(k: str) -> str | None:
        return _s(fields.get(k)) or None

    return ThreeDSCallback(g("status"), g("paymentId"), g("conversationId"), g("mdStatus"), g("conversationData"),
                           signed=bool(got))
