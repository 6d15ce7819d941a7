"""The errors a Netgsm call raises. None of them carries a phone number, a message text
or a credential: their text is the code and its fixed reason only."""

from __future__ import annotations


class NetgsmError(Exception):
    """Base class: a Netgsm call did not succeed."""

    retryable = False

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        self.endpoint = endpoint
        self.http_status = http_status
        super().__init__(f"netgsm {endpoint}: {code}: {en}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r}, http_status={self.http_status!r})"


class PermanentError(NetgsmError):
    """Netgsm refused the request for a reason a retry cannot fix (wrong credentials, an
    unregistered header, a bad text, İYS not enabled...). Fail it with the code; do not retry."""


class TransientError(NetgsmError):
    """Worth retrying with backoff (limit hit, system error, HTTP 5xx, time-out,
    connection error), then dead-lettering.

    `ambiguous` is True when the request may have reached Netgsm and been acted on even
    though no success came back (a time-out while waiting for the answer, a dropped
    connection after sending, an HTTP 5xx or an unreadable answer to a send). Netgsm has no
    idempotency key, so retrying such a send can deliver the SMS twice; the caller decides
    (for an OTP a second copy is harmless, for a campaign it may not be). When it is False
    Netgsm certainly did not act (connection refused, a documented limit or system-error code).
    """

    retryable = True

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status)
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return (f"TransientError(code={self.code!r}, endpoint={self.endpoint!r}, "
                f"http_status={self.http_status!r}, ambiguous={self.ambiguous!r})")


class InvalidRequest(ValueError):
    """The call was refused before anything was sent (a number Netgsm cannot take, an
    unknown iysfilter...). `code` is stable; the text never echoes the input."""

    def __init__(self, code: str, tr: str, en: str) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        super().__init__(f"{code}: {en}")
