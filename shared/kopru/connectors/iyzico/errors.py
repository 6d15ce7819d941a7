"""The errors an iyzico call raises. None of them carries an API key, a secret key, card
data, a TCKN or a name in its text: the text is the code and its fixed reason only.
iyzico's own `errorMessage` (localized free text) is kept on `.iyzico_message`, out of
`str()` and `repr()`."""

from __future__ import annotations


class IyzicoError(Exception):
    """Base class: an iyzico call did not succeed. `code` is "iyzico.<errorCode>" (e.g.
    "iyzico.10051", "iyzico.50000") or "iyzico.<outcome>" ("iyzico.timeout",
    "iyzico.http_500", "iyzico.signature_mismatch"); `tr`/`en` its fixed reason
    (kopru.connectors.words.describe(code) gives the same)."""

    retryable = False

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 iyzico_code: str | None = None, iyzico_message: str | None = None, error_group: str | None = None,
                 payment_id: str | None = None) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        self.endpoint = endpoint
        self.http_status = http_status
        self.iyzico_code = iyzico_code
        self.iyzico_message = iyzico_message
        self.error_group = error_group
        self.payment_id = payment_id
        super().__init__(f"iyzico {endpoint}: {code}: {en}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r}, http_status={self.http_status!r})"


class PermanentError(IyzicoError):
    """iyzico refused the request for a reason sending it again cannot fix (a validation
    error, a refund over the refundable amount, a payment in the wrong state...)."""


class Declined(PermanentError):
    """The bank (10xxx) or iyzico's fraud check (6000/6001) refused the card: the payment
    failed; nothing was charged. `bank_code` is iyzico's errorCode ("10051"); `payment_id`
    the failed payment's id when iyzico gave one. The buyer may try again as a new payment
    (another card, or later for 10214/10219/10228)."""

    @property
    def bank_code(self) -> str | None:
        return self.iyzico_code


class AuthError(PermanentError):
    """The merchant's API key or secret key was refused (1000 invalid signature, 1001 API
    credentials not found, HTTP 401/403)."""


class PaymentNotFound(PermanentError):
    """iyzico has no payment (or checkout form token) by that id for this merchant."""


class TransientError(IyzicoError):
    """Worth retrying with backoff (50000 rate limit, HTTP 429/5xx, time-out, dropped
    connection, iyzico's system error), then dead-lettering.

    `ambiguous` is True when a side-effecting call (initialize, 3-D Secure, cancel, refund)
    may have been taken by iyzico although no trustworthy success came back. iyzico has no
    idempotency key: sending it again may charge, cancel or refund twice. Ask iyzico first
    (payment_detail by paymentId or conversationId) and only then decide."""

    retryable = True

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 iyzico_code: str | None = None, iyzico_message: str | None = None, ambiguous: bool = False,
                 payment_id: str | None = None) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status, iyzico_code=iyzico_code,
                         iyzico_message=iyzico_message, payment_id=payment_id)
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r}, "
                f"http_status={self.http_status!r}, ambiguous={self.ambiguous!r})")


class SignatureMismatch(TransientError):
    """An answer whose `signature` does not verify with the merchant's secret key (or that
    lacks one). It cannot be trusted either way, so it is ambiguous: the caller retrieves the
    payment (a read is verified again) before deciding anything."""

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 ambiguous: bool = True, payment_id: str | None = None, **kw) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status, ambiguous=ambiguous,
                         payment_id=payment_id, **kw)


class InvalidRequest(ValueError):
    """The call was refused before anything was sent (no key, a malformed amount, a body
    that is not a JSON object...). `code` is stable; the text never echoes input."""

    def __init__(self, code: str, tr: str, en: str) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        super().__init__(f"{code}: {en}")


class BadNotification(ValueError):
    """An iyzico merchant notification (or 3-D Secure callback) that cannot be trusted: the
    signature is missing or forged, or the body is not iyzico's JSON. Answer 4xx and change
    nothing. `code` is "iyzico.bad_signature"; the text never echoes the body."""

    code = "iyzico.bad_signature"

    def __init__(self, tr: str = "iyzico bildiriminin imzası eksik ya da geçersiz.",
                 en: str = "The iyzico notification's signature is missing or invalid.") -> None:
        self.tr = tr
        self.en = en
        super().__init__(f"{self.code}: {en}")
