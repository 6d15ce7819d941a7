"""The errors a WhatsApp Cloud API call raises. None of them carries a phone number, a
message text or a token: their text is the code and its fixed reason only (Meta's own
`message` and `error_data.details` may quote the request, so they are never kept)."""

from __future__ import annotations


class WhatsAppError(Exception):
    """Base class: a Cloud API call did not succeed. `code` is Meta's error code as a
    string ("131047") or a transport word ("timeout", "connection", "http_502")."""

    retryable = False

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None) -> None:
        self.code, self.tr, self.en = code, tr, en
        self.endpoint, self.http_status = endpoint, http_status
        super().__init__(f"whatsapp {endpoint}: {code}: {en}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r}, http_status={self.http_status!r})"


class PermanentError(WhatsAppError):
    """Meta refused the request for a reason a retry cannot fix (the 24-hour window has
    closed, an unknown or paused template, the user stopped marketing messages, a
    revoked token...). Fail it with the code; do not retry."""


class TransientError(WhatsAppError):
    """Worth retrying with backoff (throttling 130429/131056, Meta's server-side codes, a
    time-out, a connection error), then dead-lettering; a send only when not `ambiguous`.

    `ambiguous` is True when Meta may have taken the message although no answer said so
    (a time-out after the request was sent, a dropped connection, any HTTP 5xx (a Graph
    API error or not), Meta's server-side codes 1, 2, 131000 and 131016, a 2xx that is not
    a Graph API answer). The Cloud API has no idempotency key: a retry of such a send can
    deliver it twice, so the caller reconciles first (kopru.whatsapp.service.WhatsAppSend).
    Only a 4xx naming a limit Meta documents (130429, 131056, 4, 80007), a bare 429, and a
    transport error before the request left are not ambiguous: those may be sent again."""

    retryable = True

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 ambiguous: bool = False) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status)
        self.ambiguous = ambiguous


class InvalidRequest(ValueError):
    """Refused before anything was sent (a number that is not E.164, an empty text...)."""

    def __init__(self, code: str, tr: str, en: str) -> None:
        self.code, self.tr, self.en = code, tr, en
        super().__init__(f"{code}: {en}")


class BadSignature(Exception):
    """A webhook whose X-Hub-Signature-256 is missing (`missing`) or does not match."""

    def __init__(self, missing: bool) -> None:
        super().__init__("missing" if missing else "mismatch")
        self.missing = missing
