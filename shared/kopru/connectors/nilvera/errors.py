"""The errors a Nilvera call raises. None of them carries an API key, an XML document,
a tax number or an alias in its text: the text is the code and its fixed reason only.
What Nilvera itself said (its `Errors[]` entries, which can echo document data) is kept
on `.nilvera_errors` for the caller to show the tenant, out of `str()` and `repr()`."""

from __future__ import annotations

from typing import Any


class NilveraError(Exception):
    """Base class: a Nilvera call did not succeed."""

    retryable = False

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 nilvera_errors: tuple[dict[str, Any], ...] = ()) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        self.endpoint = endpoint
        self.http_status = http_status
        self.nilvera_errors = nilvera_errors
        super().__init__(f"nilvera {endpoint}: {code}: {en}")

    @property
    def nilvera_codes(self) -> tuple[int, ...]:
        return tuple(e["code"] for e in self.nilvera_errors if isinstance(e.get("code"), int))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, endpoint={self.endpoint!r}, http_status={self.http_status!r})"


class PermanentError(NilveraError):
    """Nilvera refused the request for a reason a retry of the same request cannot fix
    (a bad document, a routing mistake, no credit, a wrong alias...). Fail it with the code.

    `reroute` is True when the refusal says the buyer's e-Fatura registration is not what
    the caller assumed (e-Arşiv to a registered buyer, e-Fatura to an unregistered one, an
    alias not in use): check the taxpayer again and send the other way."""

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 nilvera_errors: tuple[dict[str, Any], ...] = (), reroute: bool = False) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status, nilvera_errors=nilvera_errors)
        self.reroute = reroute


class AuthError(PermanentError):
    """The API key was refused (HTTP 401) or lacks the right for this call (HTTP 403)."""


class DocumentNotFound(PermanentError):
    """Nilvera has no document with this UUID (HTTP 404): it never took it, so sending it
    (again) cannot create a duplicate."""


class ValidationRejected(PermanentError):
    """The document failed the integrator's schema/schematron check on upload (Nilvera
    code 2015). `findings` lists what was reported (rule, message, location); they may
    quote document content, so they are kept out of `str()` and `repr()`."""

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 nilvera_errors: tuple[dict[str, Any], ...] = (), findings: tuple = ()) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status, nilvera_errors=nilvera_errors)
        self.findings = findings


class TransientError(NilveraError):
    """Worth retrying with backoff (HTTP 429/5xx, time-out, connection error), then
    dead-lettering.

    `ambiguous` is True when a send may have reached Nilvera and been taken although no
    success came back (a time-out waiting for the answer, a connection dropped after the
    upload, an HTTP 5xx or unreadable answer to a send). Retrying a send is still safe:
    the document's UUID (ETTN) is the key, and Nilvera answers a second upload of a UUID it
    holds with HTTP 409, which `send_*` returns as `already_submitted=True` instead of
    creating a second invoice."""

    retryable = True

    def __init__(self, code: str, tr: str, en: str, *, endpoint: str, http_status: int | None = None,
                 ambiguous: bool = False, nilvera_errors: tuple[dict[str, Any], ...] = ()) -> None:
        super().__init__(code, tr, en, endpoint=endpoint, http_status=http_status, nilvera_errors=nilvera_errors)
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return (f"TransientError(code={self.code!r}, endpoint={self.endpoint!r}, "
                f"http_status={self.http_status!r}, ambiguous={self.ambiguous!r})")


class InvalidRequest(ValueError):
    """The call was refused before anything was sent (no API key, a malformed tax number,
    a UUID that is not the document's...). `code` is stable; the text never echoes input."""

    def __init__(self, code: str, tr: str, en: str) -> None:
        self.code = code
        self.tr = tr
        self.en = en
        super().__init__(f"{code}: {en}")
