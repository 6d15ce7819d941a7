"""A KKB-member partner's credit report API (Findeks reports): the client and its codes.
The simulator is `kopru_tools.simulators.credit_not_kkb` (NOT KKB, NOT Findeks).

KKB (Kredi Kayıt Bürosu) publishes no API for Findeks: a business reaches a person's or a
firm's credit and cheque report only through a KKB member (a bank, a factoring or
financing company, or a licensed reseller) or as the report the counterparty shares
itself (the Findeks PDF; `kopru.credit` takes that upload). **The contract below is
Köprü's, not a published one**: it is what a partner integrating with Köprü is asked to
speak, kept as small as the work needs. Documented here (and in docs/credit-reports.md):

    GET  {base}/v1/ping                                   -> 200 {"customer_code": ...}   (the key is valid)
    POST {base}/v1/credit-reports                         -> 201 a report
         {"client_reference": "<our uuid>", "subject": {"type": "TCKN"|"VKN", "number": "..."},
          "consent": {"reference": "<our consent id>", "granted_at": "<ISO 8601>", "text_sha256": "<hex>"}}
    GET  {base}/v1/credit-reports?client_reference=<ref>  -> 200 {"items": [a report]}   ([] when never taken)

    Authorization: Bearer <api key>; X-Customer-Code: <the tenant's account at the partner>
    a report: {"report_id", "client_reference", "produced_at", "subject": {"type", "number_masked"},
               "score": {"value" 1-1900, "band", "risk"}, "cheque_report": {...}, "credit_summary": {...}, ...}
    errors:   {"error": {"code": "...", "message": "..."}} with
              400 INVALID_REQUEST, 401 UNAUTHORIZED, 403 CONSENT_NOT_FOUND (the person has not
              approved sharing at the partner: Findeks asks the person itself), 404 IDENTITY_UNKNOWN,
              429 RATE_LIMITED (Retry-After; nothing processed), 5xx (may or may not have been processed)

There is **no idempotency key**: the partner keeps each report under our
`client_reference` and answers the look-up by it, which is how an ambiguous request is
reconciled (kopru.work): found -> recorded, absent after the request had time to land ->
asked again. What was inferred rather than documented anywhere public: that members offer
such an API at all in this shape; the Findeks score range (1-1900) and its five risk
bands, and the cheque report's fields (karşılıksız çek counts and amounts, the cheque
index), follow what KKB publishes for people reading their own reports.

httpx is imported when a client is made, not when this package is imported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from kopru.connectors.common import HttpConnector, traced_call

log = logging.getLogger("kopru.connectors.credit_partner")

PRODUCTION_BASE_URL = None  # no default partner: a deployment names its partner (CREDIT_PARTNER_BASE_URL)
TIMEOUT = 20.0
PING, CREATE, FIND = "ping", "report.create", "report.find"  # the endpoints, as logged and traced

# Findeks Kredi Notu bands as KKB publishes them to people reading their own report
BANDS = (
    (1, 699, "en_riskli", "En riskli", "Highest risk"),
    (700, 1099, "orta_riskli", "Orta riskli", "Medium risk"),
    (1100, 1499, "az_riskli", "Az riskli", "Low risk"),
    (1500, 1699, "iyi", "İyi", "Good"),
    (1700, 1900, "cok_iyi", "Çok iyi", "Very good"),
)


def band(score: int) -> str | None:
    for lo, hi, name, _, _ in BANDS:
        if lo <= score <= hi:
            return name
    return None


class PartnerError(Exception):
    """A call to the partner did not succeed. Carries a catalog code (kopru.errors), the
    endpoint and the HTTP status only: never the identity number or the partner's message
    text (it may quote the request). `retryable`: worth asking again later; `ambiguous`: the
    partner may have taken the request all the same."""

    code = "credit.partner_refused"
    retryable = False
    ambiguous = False

    def __init__(self, code: str | None = None, *, endpoint: str | None = None,
                 http_status: int | None = None) -> None:
        if code:
            self.code = code
        self.endpoint, self.http_status = endpoint, http_status
        super().__init__(f"credit_partner {endpoint or '-'}: {self.code}")


class PermanentError(PartnerError):
    """Do not retry: the partner answered and refused."""


class AuthError(PermanentError):
    code = "credit_partner.credentials_invalid"


class IdentityUnknown(PermanentError):
    code = "credit.identity_unknown"


class NoConsentAtPartner(PermanentError):
    code = "credit.partner_no_consent"


class TransientError(PartnerError):
    """Retry later: 429 (`retry_after` seconds when given; nothing processed), 5xx, an
    unreadable answer, a time-out or a connection error. `ambiguous`: the partner may have
    taken the request all the same (a 5xx or an unreadable answer to a report request, a
    transport error after the request may have left); a connection refused or a connect or
    pool time-out surely never left, so it is not."""

    code = "credit_partner.unavailable"
    retryable = True

    def __init__(self, code: str | None = None, *, ambiguous: bool, retry_after: float | None = None,
                 endpoint: str | None = None, http_status: int | None = None) -> None:
        super().__init__(code, endpoint=endpoint, http_status=http_status)
        self.ambiguous, self.retry_after = ambiguous, retry_after


def _transport(kind: str, endpoint: str, *, ambiguous: bool, http_status: int | None = None,
               code: str | None = None) -> TransientError:
    # "timeout" or "connection" (kopru.connectors.common.traced_call): one catalog code for both
    return TransientError(endpoint=endpoint, http_status=http_status, ambiguous=ambiguous)


@dataclass(frozen=True)
class Report:
    report_id: str
    client_reference: str
    raw: dict[str, Any] = field(repr=False)  # the partner's report as it sent it (personal data: keep sealed)


def base_url() -> str:
    """The partner's API (CREDIT_PARTNER_BASE_URL; `kopru dev` points it at the simulator)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url as pick
    from kopru.errors import KopruError

    url = settings().credit_partner_base_url
    if not url and not settings().embedded:
        raise KopruError("credit.not_configured", detail="CREDIT_PARTNER_BASE_URL is not set")
    return pick(url, "", "CREDIT_PARTNER_BASE_URL")


def _report(doc: Any, endpoint: str, ambiguous: bool) -> Report:
    if not isinstance(doc, dict) or not isinstance(doc.get("report_id"), str) \
            or not isinstance(doc.get("client_reference"), str):
        raise TransientError(endpoint=endpoint, http_status=200, ambiguous=ambiguous)
    return Report(doc["report_id"], doc["client_reference"], doc)


class CreditPartnerClient(HttpConnector):
    """`async with CreditPartnerClient(api_key, customer_code) as c:` over the process's
    shared pool (kopru.connectors.common.shared_http) unless `http` is given. Every call is
    one `traced_call` (a CLIENT span, one log line `credit_partner.call`/`.call_failed`
    with the endpoint, our reference, the HTTP status and the time: never the number or the key)."""

    def __init__(self, api_key: str, customer_code: str, url: str | None = None, *, http=None,
                 timeout: float = TIMEOUT) -> None:
        self._connect(url or base_url(), timeout, http, shared=True, connect=None)
        self._headers = {"Authorization": f"Bearer {api_key}", "X-Customer-Code": customer_code,
                         "Accept": "application/json"}

    async def _send(self, endpoint: str, method: str, path: str, *, side_effect: bool,
                    parse: Callable[[Any], Any] = lambda doc: doc, ref: str | None = None, **kw) -> Any:
        def request():
            return self._client().request(method, self.base_url + path, headers=self._headers,
                                          timeout=self._timeout, **kw)

        def answer(r) -> Any:
            status = r.status_code
            if status >= 500:
                raise TransientError(endpoint=endpoint, http_status=status, ambiguous=side_effect)
            try:
                doc = r.json()
            except ValueError:
                if status < 400:
                    raise TransientError(endpoint=endpoint, http_status=status, ambiguous=side_effect) from None
                doc = {}
            err = doc.get("error") if isinstance(doc, dict) else None
            code = (err.get("code") if isinstance(err, dict) else None) or ""
            if status == 429:
                ra = r.headers.get("retry-after")
                raise TransientError(endpoint=endpoint, http_status=status, ambiguous=False,
                                     retry_after=float(ra) if ra and ra.isdigit() else None)
            if status == 401:
                raise AuthError(endpoint=endpoint, http_status=status)
            if status == 404 and code == "IDENTITY_UNKNOWN":
                raise IdentityUnknown(endpoint=endpoint, http_status=status)
            if status == 403 and code == "CONSENT_NOT_FOUND":
                raise NoConsentAtPartner(endpoint=endpoint, http_status=status)
            if status >= 400:
                raise PermanentError(endpoint=endpoint, http_status=status)
            return parse(doc)

        return await traced_call(log, "credit_partner", endpoint, {"endpoint": endpoint, "ref": ref}, request,
                                 answer, side_effect=side_effect, errors=PartnerError, transient=TransientError,
                                 transport=_transport, chain=False)

    async def ping(self) -> dict[str, Any]:
        return await self._send(PING, "GET", "/v1/ping", side_effect=False)

    async def request_report(self, *, client_reference: str, scheme: str, number: str,
                             consent: dict[str, Any]) -> Report:
        """POST one report request (a paid side effect: only through kopru.work)."""
        body = {"client_reference": client_reference, "subject": {"type": scheme, "number": number},
                "consent": consent}
        return await self._send(CREATE, "POST", "/v1/credit-reports", side_effect=True, json=body,
                                ref=client_reference, parse=lambda doc: _report(doc, CREATE, True))

    async def find_report(self, client_reference: str) -> Report | None:
        """The report the partner holds under our reference, or None when it never took one."""
        def parse(doc: Any) -> Report | None:
            items = doc.get("items") if isinstance(doc, dict) else None
            if not isinstance(items, list):
                raise TransientError(endpoint=FIND, http_status=200, ambiguous=False)
            found = [_report(i, FIND, False) for i in items
                     if isinstance(i, dict) and i.get("client_reference") == client_reference]
            return found[0] if found else None

        return await self._send(FIND, "GET", "/v1/credit-reports", side_effect=False, ref=client_reference,
                                params={"client_reference": client_reference}, parse=parse)


__all__ = ["BANDS", "CREATE", "FIND", "PING", "AuthError", "CreditPartnerClient", "IdentityUnknown",
           "NoConsentAtPartner", "PartnerError", "PermanentError", "Report", "TransientError", "band", "base_url"]
