"""Netgsm REST v2 client: send, OTP, delivery reports, registered headers.

Followed (Netgsm's own documentation is https://www.netgsm.com.tr/dokuman/; what was
read here is Netgsm's official clients, which are generated from it):
- github.com/netgsm/netgsm-sms-js (`@netgsm/sms` 1.1.11): `src/netgsm.ts` (endpoints,
  HTTP Basic auth with usercode:password, JSON bodies, 200 on success and 406 with a
  JSON `{code, description}` on a refused request), `src/types.ts` (request and
  response fields), `src/enums.ts` (codes per endpoint), `openapi.json`, `README.md`.
- github.com/netgsm/netgsm-sms-python: `netgsm/sms/sms_service.py` (same endpoints;
  `startdate` as ddMMyyyyHHmm for sending, `dd.MM.yyyy HH:mm:ss` for reports;
  `iysfilter` "0" / "11" / "12"; `encoding` "TR" only when the text has Turkish letters).

Endpoints:
    POST {base}/sms/rest/v2/send       {msgheader, messages:[{msg, no}], encoding?, iysfilter?, startdate?, stopdate?}
                                       -> {code:"00", jobid, description}
    POST {base}/sms/rest/v2/otp        {msgheader, msg, no} -> {code:"00", jobid|jobId, description}
    POST {base}/sms/rest/v2/report     {jobids:[...], startdate?, stopdate?, pagesize?, pagenumber?}
                                       -> {code:"00", jobs:[{jobid, number, status, operator, msglen, deliveredDate, errorCode}]}
    GET  {base}/sms/rest/v2/msgheader  -> {code:"00", msgheaders:[...]}

Idempotency: none of Netgsm's documents or clients shows an idempotency key or a
client reference on send, so none is sent (and the simulator honours none): a repeated
send is a second SMS. `ref` (our message id) only goes into the log line. The once-only
guarantee is the caller's (kopru.work: claim before the call, record after, and after a
`TransientError` with `ambiguous=True` or a lost answer, ask `report_by_date` before
anything is sent again).

This client never retries a send itself: whether to retry an ambiguous failure is the
caller's decision. It retries the read-only calls (report, msgheader) a few times on a
transient error, which cannot cause a second SMS.

Logging: one line per call with the endpoint, HTTP status, Netgsm code, jobid, number of
recipients, duration and our reference; never a number, a text or a credential.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Sequence

from kopru.connectors.common import (
    READ_RETRY,  # noqa: F401  (re-exported)
    HttpConnector,
    RetryPolicy,  # noqa: F401  (re-exported)
    read_retry,
    traced_call,
    transport_errors,
)
from kopru.connectors.netgsm import codes
from kopru.connectors.netgsm.codes import MSGHEADER, OTP, REPORT, SEND, ReportStatus
from kopru.connectors.netgsm.errors import InvalidRequest, NetgsmError, PermanentError, TransientError
from kopru.connectors.netgsm.numbers import from_netgsm, to_netgsm

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("kopru.connectors.netgsm")

DEFAULT_BASE_URL = "https://api.netgsm.com.tr"
PATHS = {
    SEND: "/sms/rest/v2/send",
    OTP: "/sms/rest/v2/otp",
    REPORT: "/sms/rest/v2/report",
    MSGHEADER: "/sms/rest/v2/msgheader",
}
IYS_FILTERS = frozenset({"0", "11", "12"})  # informational; commercial to BIREYSEL; commercial to TACIR
MSGHEADER_MAX = 11  # openapi.json: msgheader maxLength 11
REPORT_PAGE_SIZE = 100  # openapi.json: pagesize 1..100
SEND_DATE_FORMAT = "%d%m%Y%H%M"  # ddMMyyyyHHmm, Europe/Istanbul
REPORT_DATE_FORMAT = "%d.%m.%Y %H:%M:%S"  # dd.MM.yyyy HH:mm:ss, Europe/Istanbul


def base_url_from_env() -> str:
    """NETGSM_BASE_URL (through kopru.config), else Netgsm's production API (never on kopru
    dev's embedded data: kopru.connectors.common.base_url)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().netgsm_base_url, DEFAULT_BASE_URL, "NETGSM_BASE_URL")


@dataclass(frozen=True)
class Credentials:
    """A tenant's Netgsm API user. `appkey` is kept for Netgsm services that use it; the
    REST v2 SMS endpoints take none."""

    usercode: str
    password: str = field(repr=False)
    appkey: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SendResult:
    jobid: str
    code: str
    description: str | None
    recipients: int
    ref: str


@dataclass(frozen=True)
class ReportEntry:
    """One message of a job as a report lists it. `number` is E.164 (None if Netgsm sent
    something that is not a Turkish mobile number); it is kept out of repr."""

    jobid: str
    status: ReportStatus
    status_code: int | None
    number: str | None = field(default=None, repr=False)
    operator: int | None = None
    msglen: int | None = None
    delivered_at: str | None = None
    error_code: int | None = None


def parse_report_entry(j: dict[str, Any]) -> ReportEntry:
    """One entry of a report's `jobs` (and of a pushed delivery report, which Köprü
    takes in the same shape: see kopru.sms.service.accept_pushed_reports)."""
    return ReportEntry(
        jobid=str(j.get("jobid", "") or ""),
        status=ReportStatus.parse(j.get("status")),
        status_code=_int(j.get("status")),
        number=from_netgsm(j.get("number")),
        operator=_int(j.get("operator")),
        msglen=_int(j.get("msglen")),
        delivered_at=j.get("deliveredDate") or None,
        error_code=_int(j.get("errorCode")),
    )




def _invalid(code: str, tr: str, en: str) -> InvalidRequest:
    return InvalidRequest(f"netgsm.{code}", tr, en)


def _check_credentials(c: Credentials) -> None:
    if not isinstance(c, Credentials) or not c.usercode or not c.password:
        raise _invalid("credentials_missing", "Netgsm kullanıcı kodu ve parolası gerekli.", "The Netgsm usercode and password are required.")


def _check_msgheader(h: str) -> str:
    if not isinstance(h, str) or not h.strip() or len(h.strip()) > MSGHEADER_MAX:
        raise _invalid("msgheader_invalid", "Mesaj başlığı 1-11 karakter olmalı.", "The message header must have 1-11 characters.")
    return h.strip()


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise _invalid("ref_invalid", "Referans 1-255 yazdırılabilir ASCII karakter olmalı.",
                       "The reference must be 1-255 printable ASCII characters.")
    return key


def _check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _invalid("message_empty", "Mesaj metni boş olamaz.", "The message text cannot be empty.")
    return text


def _istanbul(dt: datetime, fmt: str, name: str) -> str:
    from kopru.text import to_business_time

    if not isinstance(dt, datetime) or dt.tzinfo is None:
        raise _invalid(f"{name}_invalid", f"{name} saat dilimi olan bir tarih-saat olmalı.", f"{name} must be a time-zone-aware datetime.")
    return to_business_time(dt).strftime(fmt)


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


_SHARED: dict = {}


class NetgsmClient(HttpConnector):
    """One HTTP connection pool to Netgsm; use `async with NetgsmClient() as c:`.

    `timeout` bounds each call (connect at most 5 s of it); `transport` is for tests that
    need one (the project's tests use the simulator over real HTTP instead)."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 10.0, appname: str | None = None,
                 read_retry: RetryPolicy = READ_RETRY, transport: "httpx.AsyncBaseTransport | None" = None) -> None:
        url = (base_url or base_url_from_env()).rstrip("/")
        self.appname = appname
        self.read_retry = read_retry
        self._connect(url, timeout, base_url=url, transport=transport,
                      headers={"User-Agent": "kopru-netgsm/1", "Accept": "application/json"})

    @classmethod
    def shared(cls) -> "NetgsmClient":
        """One client per event loop and base URL, kept for the process: a new client
        builds a new TLS context (~30 ms of CPU loading the CA bundle) and a new pool.
        Do not close it; use it without `async with`."""
        import asyncio

        key = (id(asyncio.get_running_loop()), base_url_from_env())
        c = _SHARED.get(key)
        if c is None:
            _SHARED.clear()  # a finished loop's client cannot be reused
            c = _SHARED[key] = cls()
        return c

    # -- calls ---------------------------------------------------------------

    async def send(self, credentials: Credentials, msgheader: str, messages: Sequence[tuple[str, str]], *,
                   iysfilter: str, ref: str, encoding: str | None = None,
                   startdate: datetime | None = None, stopdate: datetime | None = None) -> SendResult:
        """Send `messages` [(text, E.164 number), ...] as one Netgsm job (n:n).

        `iysfilter`: "0" informational, "11" commercial to individuals (BIREYSEL), "12"
        commercial to merchants (TACIR). `encoding`: "TR" for the Turkish single-shift
        table, None otherwise. `startdate`/`stopdate`: schedule window (Netgsm sends at
        startdate; without stopdate it keeps trying for 21 hours)."""
        _check_credentials(credentials)
        header = _check_msgheader(msgheader)
        key = _check_key(ref)
        iys = str(iysfilter).strip() if iysfilter is not None else ""
        if iys not in IYS_FILTERS:
            raise _invalid("iysfilter_invalid", "iysfilter 0, 11 ya da 12 olmalı.", "iysfilter must be 0, 11 or 12.")
        enc = (encoding or "").strip().upper() or None
        if enc not in (None, "TR"):
            raise _invalid("encoding_invalid", "encoding yalnızca TR olabilir ya da verilmez.", "encoding can only be TR or left out.")
        items = list(messages or ())
        if not items:
            raise _invalid("no_messages", "Gönderilecek mesaj yok.", "There is no message to send.")
        body: dict[str, Any] = {
            "msgheader": header,
            "messages": [{"msg": _check_text(text), "no": to_netgsm(number)} for text, number in items],
            "iysfilter": iys,
        }
        if enc:
            body["encoding"] = enc
        if startdate is not None:
            body["startdate"] = _istanbul(startdate, SEND_DATE_FORMAT, "startdate")
        if stopdate is not None:
            body["stopdate"] = _istanbul(stopdate, SEND_DATE_FORMAT, "stopdate")
        if self.appname:
            body["appname"] = self.appname
        data = await self._call(SEND, credentials, json=body, ref=key, side_effect=True,
                                extra={"recipients": len(items), "msgheader": header, "iysfilter": iys})
        return SendResult(data["jobid"], codes.SUCCESS, data.get("description"), len(items), key)

    async def send_otp(self, credentials: Credentials, msgheader: str, text: str, number: str, *,
                       ref: str) -> SendResult:
        """One OTP SMS through Netgsm's OTP service (delivered within minutes, cannot be
        scheduled; one SMS long, no Turkish letters; needs an OTP package on the account)."""
        _check_credentials(credentials)
        header = _check_msgheader(msgheader)
        key = _check_key(ref)
        body: dict[str, Any] = {"msgheader": header, "msg": _check_text(text), "no": to_netgsm(number)}
        if self.appname:
            body["appname"] = self.appname
        data = await self._call(OTP, credentials, json=body, ref=key, side_effect=True,
                                extra={"recipients": 1, "msgheader": header})
        return SendResult(data["jobid"], codes.SUCCESS, data.get("description"), 1, key)

    async def report(self, credentials: Credentials, jobids: Iterable[str], *,
                     startdate: datetime | None = None, stopdate: datetime | None = None) -> list[ReportEntry]:
        """Delivery status of every message of `jobids` (all pages). Code 60 (no records)
        is an empty list, not an error."""
        _check_credentials(credentials)
        ids = [str(j) for j in jobids if str(j).strip()]
        if not ids:
            return []
        base: dict[str, Any] = {"jobids": ids, "pagesize": REPORT_PAGE_SIZE}
        if startdate is not None:
            base["startdate"] = _istanbul(startdate, REPORT_DATE_FORMAT, "startdate")
        if stopdate is not None:
            base["stopdate"] = _istanbul(stopdate, REPORT_DATE_FORMAT, "stopdate")
        return await self._report_pages(credentials, base, {"jobs": len(ids)})

    async def report_by_date(self, credentials: Credentials, startdate: datetime,
                             stopdate: datetime) -> list[ReportEntry]:
        """Every message the account sent between two instants (all pages): how an
        ambiguous send is reconciled, since Netgsm takes no reference of ours. Code 60
        (no records) is an empty list."""
        _check_credentials(credentials)
        base: dict[str, Any] = {"startdate": _istanbul(startdate, REPORT_DATE_FORMAT, "startdate"),
                                "stopdate": _istanbul(stopdate, REPORT_DATE_FORMAT, "stopdate"),
                                "pagesize": REPORT_PAGE_SIZE}
        return await self._report_pages(credentials, base, {"by": "date"})

    async def _report_pages(self, credentials: Credentials, base: dict[str, Any], log_fields: dict) -> list[ReportEntry]:
        """Every page of a report query (code 60, no records, is an empty page)."""
        if self.appname:
            base["appname"] = self.appname
        out: list[ReportEntry] = []
        for page in range(1000):
            data = await self._read(REPORT, credentials, json={**base, "pagenumber": page},
                                    extra={**log_fields, "page": page})
            jobs = data.get("jobs") if codes.normalise(data.get("code")) == codes.SUCCESS else None
            jobs = jobs if isinstance(jobs, list) else []
            out.extend(parse_report_entry(j) for j in jobs if isinstance(j, dict))
            if len(jobs) < REPORT_PAGE_SIZE:
                break
        return out

    async def msgheaders(self, credentials: Credentials) -> list[str]:
        """The account's registered sender names: the "test connection" call (it fails with
        PermanentError code 30 on wrong credentials)."""
        _check_credentials(credentials)
        params = {"appname": self.appname} if self.appname else None
        data = await self._read(MSGHEADER, credentials, method="GET", params=params, extra={})
        headers = data.get("msgheaders")
        if headers is None:
            headers = data.get("msgheader")  # the official client's types name both spellings
        if isinstance(headers, str):
            headers = [headers]
        return [str(h) for h in headers or []]

    # -- machinery -----------------------------------------------------------

    async def _read(self, endpoint: str, credentials: Credentials, **kw: Any) -> dict:
        return await read_retry(self.read_retry, lambda: self._call(endpoint, credentials, **kw), TransientError)

    async def _call(self, endpoint: str, credentials: Credentials, *, method: str = "POST", json: Any = None,
                    params: dict | None = None, ref: str | None = None, side_effect: bool = False,
                    extra: dict | None = None) -> dict:
        fields: dict[str, Any] = {"endpoint": endpoint, **(extra or {})}
        if ref:
            fields["ref"] = ref

        def request():
            import httpx

            return self._http.request(method, PATHS[endpoint], json=json, params=params,
                                      auth=httpx.BasicAuth(credentials.usercode, credentials.password))

        def answer(resp):
            data = _classify(endpoint, resp, side_effect)
            fields["code"] = codes.normalise(data.get("code"))
            if endpoint in (SEND, OTP):
                jobid = data.get("jobid") or data.get("jobId") or data.get("jobID")
                if not jobid:
                    # Netgsm said 00 but gave no jobid: it probably took the message
                    raise _transport("bad_response", endpoint, ambiguous=True, http_status=resp.status_code)
                data["jobid"] = str(jobid)
                fields["jobid"] = data["jobid"]
            return data

        return await traced_call(log, "netgsm", endpoint, fields, request, answer, side_effect=side_effect,
                                 errors=NetgsmError, transient=TransientError, transport=_transport)


_transport = transport_errors(codes.TRANSPORT, TransientError)


def _classify(endpoint: str, resp: "httpx.Response", side_effect: bool) -> dict:
    """Netgsm's answer -> its JSON body on success (or "no records"), else the error."""
    status = resp.status_code
    if status >= 500:
        raise _transport("http_5xx", endpoint, ambiguous=side_effect, http_status=status, code=f"http_{status}")
    if status in (408, 429):
        raise _transport(f"http_{status}", endpoint, ambiguous=False, http_status=status)
    try:
        body = resp.json()
    except ValueError:
        body = None
    code = codes.normalise(body.get("code")) if isinstance(body, dict) else ""
    if not code:
        if 200 <= status < 300:
            raise _transport("bad_response", endpoint, ambiguous=side_effect, http_status=status)
        s = codes.TRANSPORT["http_4xx"]
        raise PermanentError(f"http_{status}", s.tr, s.en, endpoint=endpoint, http_status=status)
    spec = codes.spec(endpoint, code)
    if spec.kind in ("ok", "empty"):
        return body
    if spec.kind == "permanent":
        raise PermanentError(code, spec.tr, spec.en, endpoint=endpoint, http_status=status)
    # a documented limit / system-error code, or an undocumented one: Netgsm did not take it
    raise TransientError(code, spec.tr, spec.en, endpoint=endpoint, http_status=status, ambiguous=False)


@asynccontextmanager
async def _client(client: NetgsmClient | None) -> AsyncIterator[NetgsmClient]:
    if client is not None:
        yield client
        return
    async with NetgsmClient() as c:
        yield c


# Module-level calls: each opens a client for the one call unless one is passed in.

async def send(credentials: Credentials, msgheader: str, messages: Sequence[tuple[str, str]], *, iysfilter: str,
               ref: str, encoding: str | None = None, startdate: datetime | None = None,
               stopdate: datetime | None = None, client: NetgsmClient | None = None) -> SendResult:
    async with _client(client) as c:
        return await c.send(credentials, msgheader, messages, iysfilter=iysfilter, ref=ref,
                            encoding=encoding, startdate=startdate, stopdate=stopdate)


async def send_otp(credentials: Credentials, msgheader: str, text: str, number: str, *, ref: str,
                   client: NetgsmClient | None = None) -> SendResult:
    async with _client(client) as c:
        return await c.send_otp(credentials, msgheader, text, number, ref=ref)


async def report(credentials: Credentials, jobids: Iterable[str], *, startdate: datetime | None = None,
                 stopdate: datetime | None = None, client: NetgsmClient | None = None) -> list[ReportEntry]:
    async with _client(client) as c:
        return await c.report(credentials, jobids, startdate=startdate, stopdate=stopdate)


async def msgheaders(credentials: Credentials, *, client: NetgsmClient | None = None) -> list[str]:
    async with _client(client) as c:
        return await c.msgheaders(credentials)
