"""Bulutfon (cloud PBX) API client: call records (CDRs), a CDR's detail with its call flow,
and click-to-call (call-and-bridge).

What was read (Bulutfon's own repositories and code that calls the API):
- github.com/bulutfon/documents: `API/README.md` (REST + JSON only; the panel's "Tekil Api
  Anahtarı" (master token) sent with every request as a query parameter; token errors
  answered as `{"error": "..."}`; request limits answered 429 Too Many Requests),
  `API/endpoints/cdr.md` (the CDR fields: uuid, bf_calltype, direction IN/OUT/LOCAL,
  caller, callee, extension, call_time, answer_time, hangup_time, call_price, call_record
  YES/NO/REMOVED, hangup_cause, hangup_state; the detail's `call_flow` steps with
  callee, redirection, redirection_target, origination; the `pagination` block page,
  total_count, total_pages, limit, previous_page, next_page; the filters caller, callee,
  caller_or_callee, limit, order (`order=uuid,asc`), time_limit),
  `API/endpoints/call-and-bridge.md` (caller = the tenant's own Bulutfon number, callee =
  the number to call, destination = menu (2 digits), group (3) or extension (4),
  optional timeout; answer `{"success": true, "message": "Arama başarıyla başlatıldı."}`),
  `WEBHOOKS/README.md` (the call webhooks: see kopru.calls.service), and its
  `cdr_api_url` example `https://api.bulutfon.com/v2/cdr/2021/02/25/<uuid>`;
  github.com/bulutfon/ruby-sdk (`base_request.rb`: the key as a query parameter, 4xx
  bodies `{"error", "code"}`).
- Current (v2) usage in public code: `GET /v2/cdr/list?apikey=&page=&limit=` answered
  `{"data": [...], "pagination": {...}}` with `call_record` a recording URL or "NO",
  `start_date`/`end_date` (YYYY-MM-DD) filters; `POST /v2/pbx/call-and-bridge?apikey=` with
  a JSON body `{caller, callee, destination, timeout}`.

Inferred (not in a document we could read): that v2 keeps v1's `order` parameter
(`call_time,asc` is asked for, so paging stays put while calls are added; the client
works without it too: the sync upserts by uuid); that the detail at the `cdr_api_url`
path answers `{"data": {...}}` (v1: `{"cdr": {...}}`; both are read); that a wrong key is
a 401/403 with `{"error": ...}`; a `Retry-After` header on 429 (used when present).

Idempotency: call-and-bridge has no idempotency key and answers no call id, so the
client never repeats it; the once-only guarantee is kopru.work's (kopru.calls.service:
CallBridge reconciles by looking for the call among the CDRs). Read calls are retried a
few times on a transient error.

The API key is a query parameter, so a URL is never logged: one line per call with the
endpoint, HTTP status and duration; never a number, a key or a recording link.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from kopru.connectors.common import READ_RETRY, HttpConnector, RetryPolicy, read_retry, traced_call

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kopru.connectors.bulutfon")

DEFAULT_BASE_URL = "https://api.bulutfon.com"
CDR_LIST, CDR_DETAIL, BRIDGE = "cdr.list", "cdr.detail", "call-and-bridge"
PATHS = {CDR_LIST: "/v2/cdr/list", CDR_DETAIL: "/v2/cdr/{y:04d}/{m:02d}/{d:02d}/{uuid}",
         BRIDGE: "/v2/pbx/call-and-bridge"}
MAX_LIMIT = 100  # what Köprü asks for per page (Bulutfon's own maximum is not documented)


class BulutfonError(Exception):
    """A Bulutfon call did not succeed. Carries the code and endpoint only: never a
    number, a key or Bulutfon's message text (it may echo input)."""

    retryable = False

    def __init__(self, code: str, *, endpoint: str, http_status: int | None = None) -> None:
        self.code, self.endpoint, self.http_status = code, endpoint, http_status
        super().__init__(f"bulutfon {endpoint}: {code}")


class PermanentError(BulutfonError):
    """Refused for a reason a retry cannot fix: a wrong API key (`credentials_invalid`),
    an unknown record (`not_found`), a request Bulutfon rejects (`rejected`)."""


class TransientError(BulutfonError):
    """Worth asking again later: 429 (`rate_limited`, `retry_after` seconds when given),
    5xx, a time-out, a connection error. `ambiguous`: Bulutfon may have acted all the same
    (a time-out after sending, a 5xx or an unreadable answer to call-and-bridge)."""

    retryable = True

    def __init__(self, code: str, *, endpoint: str, http_status: int | None = None, ambiguous: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(code, endpoint=endpoint, http_status=http_status)
        self.ambiguous, self.retry_after = ambiguous, retry_after


@dataclass(frozen=True)
class Cdr:
    """One call record as Bulutfon lists it. Numbers are digits as Bulutfon gives them
    (905321234567, or an extension such as 1005); they and the recording link stay out of repr."""

    uuid: str
    direction: str | None
    caller: str | None = field(repr=False)
    callee: str | None = field(repr=False)
    extension: str | None = field(default=None, repr=False)
    call_time: datetime | None = None
    answer_time: datetime | None = None
    hangup_time: datetime | None = None
    missing_call: bool | None = None
    hangup_cause: str | None = None
    hangup_state: str | None = None
    call_record: str | None = field(default=None, repr=False)  # YES/NO/REMOVED, or the recording URL (v2)
    call_flow: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def recording_url(self) -> str | None:
        r = self.call_record
        return r if isinstance(r, str) and r.startswith(("https://", "http://")) else None


@dataclass(frozen=True)
class CdrPage:
    cdrs: list[Cdr]
    page: int
    total_pages: int
    has_next: bool


def digits(value: Any) -> str | None:
    """A number as Bulutfon writes it (an integer in JSON, or a string) as digits, or None."""
    if value is None or isinstance(value, bool):
        return None
    s = str(value).strip().lstrip("+")
    return s if s.isdigit() and 0 < len(s) <= 20 else None


def to_bulutfon(e164: str) -> str:
    """+905321234567 -> 905321234567 (Bulutfon's form)."""
    return e164.lstrip("+")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def parse_cdr(j: dict[str, Any]) -> Cdr:
    flow = j.get("call_flow", j.get("callflow"))
    return Cdr(
        uuid=str(j.get("uuid") or ""), direction=j.get("direction") or j.get("bf_direction"),
        caller=digits(j.get("caller", j.get("bf_caller"))), callee=digits(j.get("callee", j.get("bf_callee"))),
        extension=digits(j.get("extension")), call_time=_time(j.get("call_time")),
        answer_time=_time(j.get("answer_time")), hangup_time=_time(j.get("hangup_time")),
        missing_call=_bool(j.get("missing_call")), hangup_cause=j.get("hangup_cause") or None,
        hangup_state=j.get("hangup_state") or j.get("sip_hangup_disposition") or None,
        call_record=j.get("call_record") if isinstance(j.get("call_record"), str) else None,
        call_flow=flow if isinstance(flow, list) else None)


def base_url_from_env() -> str:
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().bulutfon_base_url, DEFAULT_BASE_URL, "BULUTFON_BASE_URL")


class BulutfonClient(HttpConnector):
    """Calls to Bulutfon with one tenant's API key per call. `http` is an httpx client to
    share (kopru.connectors.common.shared_http(): one pool per event loop); `shared()`
    makes one over it with the configured base URL."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 10.0,
                 http: "httpx.AsyncClient | None" = None, read_retry: RetryPolicy = READ_RETRY) -> None:
        self._connect(base_url or base_url_from_env(), timeout, http)
        self.read_retry = read_retry

    @classmethod
    def shared(cls) -> "BulutfonClient":
        from kopru.connectors.common import shared_http

        return cls(http=shared_http())

    # -- reads -----------------------------------------------------------------------

    async def cdrs(self, api_key: str, *, page: int = 1, limit: int = MAX_LIMIT, start_date: date | None = None,
                   end_date: date | None = None, callee: str | None = None,
                   order: str | None = "call_time,asc") -> CdrPage:
        """One page of the PBX's call records (GET /v2/cdr/list)."""
        params: dict[str, Any] = {"page": max(1, int(page)), "limit": max(1, min(MAX_LIMIT, int(limit)))}
        if start_date is not None:
            params["start_date"] = start_date.isoformat()
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        if callee is not None:
            params["callee"] = callee
        if order:
            params["order"] = order
        body = await self._read(CDR_LIST, "GET", PATHS[CDR_LIST], api_key, params)
        items = body.get("data", body.get("cdrs"))
        if not isinstance(items, list):
            raise TransientError("unreadable_answer", endpoint=CDR_LIST)
        pag = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
        current = _int(pag.get("page")) or params["page"]
        total = _int(pag.get("total_pages")) or current
        has_next = bool(pag.get("next_page")) if "next_page" in pag else current < total
        # a record without a usable uuid cannot be kept once: it is skipped (never seen in Bulutfon's examples)
        cdrs = [parse_cdr(i) for i in items if isinstance(i, dict) and _UUID.fullmatch(str(i.get("uuid") or ""))]
        return CdrPage(cdrs, current, total, has_next)

    async def cdr(self, api_key: str, uuid: str, call_time: datetime) -> Cdr:
        """A CDR's detail with its call flow, at the path of the webhook's `cdr_api_url`
        (the date is the call's in Türkiye time)."""
        from kopru.text import to_business_time

        d = to_business_time(call_time)
        path = PATHS[CDR_DETAIL].format(y=d.year, m=d.month, d=d.day, uuid=_safe_uuid(uuid))
        body = await self._read(CDR_DETAIL, "GET", path, api_key, {})
        item = body.get("data", body.get("cdr"))
        if not isinstance(item, dict):
            raise TransientError("unreadable_answer", endpoint=CDR_DETAIL)
        return parse_cdr(item)

    # -- the side effect ---------------------------------------------------------------

    async def call_and_bridge(self, api_key: str, *, caller: str, callee: str, destination: str,
                              timeout: int | None = None, ref: str | None = None) -> str | None:
        """Place a call from the tenant's number `caller` to `callee` and bridge it to
        `destination` (menu, group or extension). Never retried here. Returns Bulutfon's
        message (its text is not logged)."""
        body: dict[str, Any] = {"caller": caller, "callee": callee, "destination": destination}
        if timeout is not None:
            body["timeout"] = int(timeout)
        answer = await self._request(BRIDGE, "POST", PATHS[BRIDGE], api_key, {}, json=body, ref=ref)
        if answer.get("success") is not True:
            raise PermanentError("bridge_refused", endpoint=BRIDGE, http_status=200)
        msg = answer.get("message")
        return msg if isinstance(msg, str) else None

    # -- plumbing ----------------------------------------------------------------------

    async def _read(self, endpoint: str, method: str, path: str, api_key: str, params: dict[str, Any]) -> dict:
        # a rate limit is not asked again at once: the caller waits (retry_after)
        return await read_retry(self.read_retry, lambda: self._request(endpoint, method, path, api_key, params),
                                TransientError, final=lambda e: e.code == "rate_limited")

    async def _request(self, endpoint: str, method: str, path: str, api_key: str, params: dict[str, Any], *,
                       json: Any = None, ref: str | None = None) -> dict:
        if not isinstance(api_key, str) or not api_key.strip():
            raise PermanentError("credentials_invalid", endpoint=endpoint)
        sending = method != "GET"

        def request():
            return self._http.request(method, self.base_url + path, params={**params, "apikey": api_key},
                                      json=json, timeout=self._timeout,
                                      headers={"Accept": "application/json", "User-Agent": "kopru-bulutfon/1"})

        def answer(resp) -> dict:
            status = resp.status_code
            if status == 429:
                raise TransientError("rate_limited", endpoint=endpoint, http_status=429,
                                     retry_after=_float(resp.headers.get("retry-after")))
            if status >= 500:
                raise TransientError("server_error", endpoint=endpoint, http_status=status, ambiguous=sending)
            if status in (401, 403):
                raise PermanentError("credentials_invalid", endpoint=endpoint, http_status=status)
            if status == 404:
                raise PermanentError("not_found", endpoint=endpoint, http_status=status)
            if status >= 400:
                raise PermanentError("rejected", endpoint=endpoint, http_status=status)
            try:
                data = resp.json()
            except ValueError:
                raise TransientError("unreadable_answer", endpoint=endpoint, http_status=status,
                                     ambiguous=sending) from None
            if not isinstance(data, dict):
                raise TransientError("unreadable_answer", endpoint=endpoint, http_status=status, ambiguous=sending)
            if isinstance(data.get("error"), str):  # a token error answered with 200 (v1 documents the body only)
                raise PermanentError("credentials_invalid", endpoint=endpoint, http_status=status)
            return data

        # the one outward call (span, timing, log line); a transport failure is "timeout" when the request
        # may have reached Bulutfon, "connection_failed" when it surely did not
        return await traced_call(log, "bulutfon", endpoint, {"endpoint": endpoint, "ref": ref}, request, answer,
                                 side_effect=sending, errors=BulutfonError, transient=TransientError,
                                 transport=_transport, chain=False)


def _transport(kind: str, endpoint: str, *, ambiguous: bool, http_status: int | None = None,
               code: str | None = None) -> "TransientError":
    return TransientError("timeout" if kind == "timeout" or ambiguous else "connection_failed", endpoint=endpoint,
                          ambiguous=ambiguous)


_UUID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _safe_uuid(value: str) -> str:
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise PermanentError("not_found", endpoint=CDR_DETAIL)
    return value


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
