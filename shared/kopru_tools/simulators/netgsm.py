"""A Netgsm REST v2 simulator: an ASGI app speaking the endpoints, auth and codes of the
real service (as documented by Netgsm's official clients, see `client.py`), for
`kopru dev` and the tests.

    sim = NetgsmSimulator()
    sim.add_account("8501234567", "s3cret", msgheaders=["KOPRU"])
    with serve(sim) as base_url:                  # uvicorn on 127.0.0.1, a free port
        ...NetgsmClient(base_url)...
        sim.fail_next(code="80")                  # next call answers 406 {"code": "80"}
        sim.fail_next(http_status=500, times=2)   # next two answer HTTP 500
        sim.fail_next(delay=2.0)                  # next send is accepted, answered 2 s later
        sim.count()                               # messages accepted so far
        sim.set_status(jobid, 1)                  # what report queries say for that job
        await sim.push_reports(callback_url)      # POST delivery reports to a callback

What it checks, like Netgsm: HTTP Basic auth against its accounts (wrong or missing ->
406 code 30), JSON shape and field values (-> 70), the account's registered headers
(-> 40), İYS permission and brand for iysfilter 11/12 (-> 50 / 51), empty or too long
text (-> 20), more than `duplicate_limit` jobs to one number within a minute (-> 85),
optional per-minute send and report limits (-> 80), OTP package (-> 60) and OTP text
rules (-> 20) and number (-> 50), report queries with nothing to list (-> 60).
Refusals answer HTTP 406 with `{"code", "description"}`, as Netgsm does.

Like Netgsm, it has no idempotency key: every accepted send is a message, a repeat is a
second one. Beyond Netgsm, for tests and people: `GET /_simulator/calls` (read-only)
lists every call it received, refused and repeated ones included, in order, without
credentials, numbers or texts; `GET /_simulator/messages` the messages it accepted
(test data). The push format of delivery reports is not in the documents we
had; the simulator posts one JSON object per message in the shape of a report's `jobs`
entry (`jobid, number, status, operator, msglen, deliveredDate, errorCode`).

Phone numbers and texts it holds are test data and stay in memory; it logs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import random
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru.text import business_tz
from kopru_tools.simulators.common import Failure, Simulator, control, error_page, runner, serve  # noqa: F401

SEND_DATE_FORMAT = "%d%m%Y%H%M"
REPORT_DATE_FORMAT = "%d.%m.%Y %H:%M:%S"
TURKISH_LETTERS = frozenset("çğıöşüÇĞİÖŞÜ")
_NO = re.compile(r"(?:90)?(5\d{9})")
_OTP_NO = re.compile(r"5\d{9}")

DESCRIPTIONS = {
    "00": "Success",
    "20": "Message text problem or maximum length exceeded",
    "30": "Invalid username, password or no API access",
    "40": "Message header is not defined",
    "41": "Message header is not valid",
    "50": "IYS controlled sending is not allowed for this account",
    "51": "No IYS brand information for this account",
    "52": "Check the number",
    "60": "No records",
    "70": "Invalid query: a parameter is wrong or a required field is missing",
    "80": "Limit exceeded",
    "85": "Duplicate sending limit exceeded",
    "100": "System error",
    "101": "System error",
}


@dataclass
class SimAccount:
    usercode: str
    password: str = field(repr=False)
    msgheaders: list[str] = field(default_factory=lambda: ["KOPRU"])
    iys: bool = True  # may make İYS-checked (commercial) sends; else 50
    iys_brand: bool = True  # has an İYS brand; else 51
    otp: bool = True  # has an OTP package; else 60 on /otp


@dataclass
class SimMessage:
    jobid: str
    kind: str  # "sms" | "otp"
    usercode: str
    msgheader: str
    no: str = field(repr=False)  # as Netgsm got it (5XXXXXXXXX)
    msg: str = field(repr=False)
    encoding: str | None = None
    iysfilter: str | None = None
    startdate: str | None = None
    stopdate: str | None = None
    accepted_at: float = field(default_factory=time.time)
    status: int = 0
    error_code: int = 0
    operator: int = 30
    delivered_at: str | None = None

    def report_entry(self) -> dict[str, Any]:
        return {
            "jobid": self.jobid, "number": self.no, "status": self.status, "operator": self.operator,
            "msglen": len(self.msg), "deliveredDate": self.delivered_at, "errorCode": self.error_code,
        }


@dataclass
class SimCall:
    endpoint: str
    usercode: str | None
    http_status: int
    code: str | None
    at: float = field(default_factory=time.time)


class NetgsmSimulator(Simulator):
    def __init__(self, *, duplicate_limit: int = 20, max_chars: int = 1000, otp_max_chars: int = 160,
                 send_limit_per_minute: int | None = None, report_limit_per_minute: int | None = None,
                 deliver_after: float | None = None) -> None:
        """`deliver_after`: seconds after which a message nobody set a status for is
        delivered (status 1), as a handset would; None (the tests' default) leaves it
        pending until `set_status`."""
        self.duplicate_limit = duplicate_limit
        self.deliver_after = deliver_after
        self.max_chars = max_chars  # Netgsm's own maximum is not in the documents we had: configurable
        self.otp_max_chars = otp_max_chars  # official client README: OTP "Max 160 char"
        self.send_limit_per_minute = send_limit_per_minute
        self.report_limit_per_minute = report_limit_per_minute
        self._accounts: dict[str, SimAccount] = {}
        super().__init__([
            Route("/sms/rest/v2/send", self._send, methods=["POST"]),
            Route("/sms/rest/v2/otp", self._otp, methods=["POST"]),
            Route("/sms/rest/v2/report", self._report, methods=["POST"]),
            Route("/sms/rest/v2/msgheader", self._msgheader, methods=["GET"]),
            Route("/_simulator/messages", self._inspect_messages, methods=["GET"]),
            Route("/_simulator/fail-next", self._control_fail_next, methods=["POST"]),
        ])

    def _reset_state(self) -> None:
        """Forget messages, failures and calls (accounts stay): `reset()`."""
        super()._reset_state()
        self._messages: list[SimMessage] = []
        self._hits: dict[tuple[str, str], list[float]] = {}
        self._jobids = itertools.count(random.randint(10**9, 2 * 10**9))

    # -- configuration and inspection (thread-safe: the app runs in uvicorn's thread) --

    def add_account(self, usercode: str, password: str, msgheaders: list[str] | tuple[str, ...] = ("KOPRU",), *,
                    iys: bool = True, iys_brand: bool = True, otp: bool = True) -> SimAccount:
        acct = SimAccount(usercode, password, list(msgheaders), iys=iys, iys_brand=iys_brand, otp=otp)
        with self._lock:
            self._accounts[usercode] = acct
        return acct

    def fail_next(self, code: str | None = None, http_status: int | None = None, delay: float = 0.0, times: int = 1,
                  endpoint: str | None = None) -> None:
        """The next `times` calls (to `endpoint`: "send", "otp", "report", "msgheader"; any
        when None) fail: with Netgsm `code` (HTTP 406 unless `http_status`), or with a bare
        `http_status` (e.g. 500, plain-text body), after `delay` seconds. With only `delay`,
        the call is processed (a send is accepted) and the answer comes `delay` seconds
        later: Netgsm took it, the caller may time out."""
        self._inject(endpoint, times, code=code, http_status=http_status, delay=delay)

    @property
    def messages(self) -> list[SimMessage]:
        with self._lock:
            return [replace(m) for m in self._messages]

    def count(self, kind: str | None = None, usercode: str | None = None) -> int:
        with self._lock:
            return sum(1 for m in self._messages
                       if (kind is None or m.kind == kind) and (usercode is None or m.usercode == usercode))

    def job(self, jobid: str) -> list[SimMessage]:
        with self._lock:
            return [replace(m) for m in self._messages if m.jobid == str(jobid)]

    def set_status(self, jobid: str, status: int, *, number: str | None = None, error_code: int = 0,
                   delivered_at: str | None = None) -> int:
        """What report queries (and pushes) say for the messages of `jobid` (only the one to
        `number`, E.164 or Netgsm form, when given). Returns how many messages it changed."""
        want = None
        if number is not None:
            m = _NO.fullmatch(number.lstrip("+"))
            want = m.group(1) if m else number
        when = delivered_at
        if when is None and int(status) == 1:
            when = datetime.now(business_tz()).strftime("%Y-%m-%d %H:%M:%S")
        n = 0
        with self._lock:
            for msg in self._messages:
                if msg.jobid == str(jobid) and (want is None or msg.no == want):
                    msg.status, msg.error_code, msg.delivered_at = int(status), int(error_code), when
                    n += 1
        return n

    async def push_reports(self, url: str, jobids: list[str] | None = None, *, timeout: float = 5.0) -> int:
        """POST one delivery report per message (of `jobids`, or all) to `url` as JSON;
        returns how many were answered with a 2xx."""
        import httpx

        ok = 0
        async with httpx.AsyncClient(timeout=timeout) as client:
            for entry in self._entries(jobids):
                r = await client.post(url, json=entry)
                ok += r.is_success
        return ok

    def push_reports_sync(self, url: str, jobids: list[str] | None = None, *, timeout: float = 5.0) -> int:
        import httpx

        ok = 0
        with httpx.Client(timeout=timeout) as client:
            for entry in self._entries(jobids):
                ok += client.post(url, json=entry).is_success
        return ok

    def _advance(self) -> None:
        """Messages older than `deliver_after` with no status yet are delivered."""
        if self.deliver_after is None:
            return
        now = time.time()
        when = datetime.now(business_tz()).strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            for m in self._messages:
                if m.status == 0 and now - m.accepted_at >= self.deliver_after:
                    m.status, m.delivered_at = 1, when

    def _entries(self, jobids: list[str] | None) -> list[dict]:
        wanted = None if jobids is None else {str(j) for j in jobids}
        self._advance()
        with self._lock:
            return [m.report_entry() for m in self._messages if wanted is None or m.jobid in wanted]

    # -- ASGI --------------------------------------------------------------------

    def _account(self, request: Request) -> SimAccount | None:
        raw = request.headers.get("authorization", "")
        scheme, _, token = raw.partition(" ")
        if scheme.lower() != "basic" or not token:
            return None
        try:
            usercode, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self._lock:
            acct = self._accounts.get(usercode)
        if not sep or acct is None or not hmac.compare_digest(acct.password.encode(), password.encode()):
            return None
        return acct

    def _answer(self, endpoint: str, request: Request, acct: SimAccount | None, code: str, *,
                status: int | None = None, **extra: Any) -> Response:
        http_status = status or (200 if code == "00" else 406)
        body = {"code": code, "description": DESCRIPTIONS.get(code, "Error"), **extra}
        self._record(endpoint, request, acct, http_status, code)
        return JSONResponse(body, status_code=http_status)

    def _record(self, endpoint: str, request: Request, acct: SimAccount | None, http_status: int,
                code: str | None) -> None:
        self._note(SimCall(endpoint, acct.usercode if acct else None, http_status, code))

    async def _injected(self, endpoint: str, request: Request, f: Failure) -> Response:
        if f.code is None:
            self._record(endpoint, request, None, f.http_status or 500, None)  # counted when it arrives
        await self._delay(f)
        if f.code is not None:
            return self._answer(endpoint, request, None, f.code, status=f.http_status, jobid=None)
        return error_page(f.http_status or 500)

    def _limited(self, bucket: tuple[str, str], limit: int | None) -> bool:
        if not limit:
            return False
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(bucket, []) if now - t < 60]
            if len(hits) >= limit:
                self._hits[bucket] = hits
                return True
            hits.append(now)
            self._hits[bucket] = hits
        return False

    async def _json(self, request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def _guard(self, endpoint: str, request: Request):
        """Injected failure, then auth. Returns (failure-or-None, account, early-response)."""
        f = self._take_failure(endpoint)
        if f is not None and (f.code is not None or f.http_status is not None):
            return f, None, await self._injected(endpoint, request, f)
        acct = self._account(request)
        if acct is None:
            return f, None, self._answer(endpoint, request, None, "30", jobid=None)
        return f, acct, None

    # -- inspection (read-only; not part of Netgsm's API) -----------------------------

    async def _inspect_messages(self, request: Request) -> Response:
        return JSONResponse({"messages": [{"jobid": m.jobid, "kind": m.kind, "usercode": m.usercode,
                                           "msgheader": m.msgheader, "no": m.no, "msg": m.msg,
                                           "status": m.status, "accepted_at": m.accepted_at}
                                          for m in self.messages]})

    async def _control_fail_next(self, request: Request) -> Response:
        """Dev control (not Netgsm's API): {"code": "40", "endpoint": "send", "times": 1} or
        {"http_status": 500}: the next calls fail so, to see how Köprü answers a refusal."""
        def act(body: Any) -> None:
            code = body.get("code")
            status = body.get("http_status")
            endpoint = body.get("endpoint")
            times = int(body.get("times", 1))
            if (code is None and status is None) or endpoint not in (None, "send", "otp", "report", "msgheader") \
                    or not 1 <= times <= 100 or (code is not None and not isinstance(code, str)) \
                    or (status is not None and not (isinstance(status, int) and 400 <= status <= 599)):
                raise ValueError
            self.fail_next(code=code, http_status=status, endpoint=endpoint, times=times)

        return await control(request, act, "give code (a Netgsm code) or http_status (4xx/5xx), optional endpoint "
                                            "(send, otp, report, msgheader) and times (1-100)")

    # -- endpoints -----------------------------------------------------------------

    async def _send(self, request: Request) -> Response:
        f, acct, early = await self._guard("send", request)
        if early is not None:
            return early
        body = await self._json(request)
        code = self._check_send(acct, body)
        if code is None and self._limited(("send", acct.usercode), self.send_limit_per_minute):
            code = "80"
        if code is None:
            code = self._check_duplicates(acct, [m["no"] for m in body["messages"]])
        if code is not None:
            return self._answer("send", request, acct, code, jobid=None)
        jobid = str(next(self._jobids))
        enc = (body.get("encoding") or "").upper() or None
        with self._lock:
            for m in body["messages"]:
                self._messages.append(SimMessage(
                    jobid=jobid, kind="sms", usercode=acct.usercode, msgheader=body["msgheader"],
                    no=_NO.fullmatch(m["no"]).group(1), msg=m["msg"], encoding=enc,
                    iysfilter=str(body.get("iysfilter") or "") or None, startdate=body.get("startdate"),
                    stopdate=body.get("stopdate")))
            extra = {"jobid": jobid}
        return await self._finish(f, self._answer("send", request, acct, "00", **extra))

    def _check_send(self, acct: SimAccount, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "70"
        header, messages = body.get("msgheader"), body.get("messages")
        if not isinstance(header, str) or not header or not isinstance(messages, list) or not messages:
            return "70"
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("msg"), str) or not isinstance(m.get("no"), str):
                return "70"
            if not _NO.fullmatch(m["no"]):
                return "70"
        if (body.get("encoding") or "").upper() not in ("", "TR"):
            return "70"
        iys = body.get("iysfilter")
        if iys not in (None, "", "0", "11", "12"):
            return "70"
        for name in ("startdate", "stopdate"):
            if body.get(name) is not None and not _parses(body[name], SEND_DATE_FORMAT):
                return "70"
        if header not in acct.msgheaders:
            return "40"
        if iys in ("11", "12"):
            if not acct.iys:
                return "50"
            if not acct.iys_brand:
                return "51"
        for m in messages:
            if not m["msg"].strip() or len(m["msg"]) > self.max_chars:
                return "20"
        return None

    def _check_duplicates(self, acct: SimAccount, numbers: list[str]) -> str | None:
        now = time.monotonic()
        with self._lock:
            wanted: dict[str, int] = {}
            for no in numbers:
                n = _NO.fullmatch(no).group(1)
                wanted[n] = wanted.get(n, 0) + 1
            for n, k in wanted.items():
                recent = [t for t in self._hits.get(("dup", acct.usercode + ":" + n), []) if now - t < 60]
                if len(recent) + k > self.duplicate_limit:
                    return "85"
            for n, k in wanted.items():
                bucket = ("dup", acct.usercode + ":" + n)
                self._hits[bucket] = [t for t in self._hits.get(bucket, []) if now - t < 60] + [now] * k
        return None

    async def _otp(self, request: Request) -> Response:
        f, acct, early = await self._guard("otp", request)
        if early is not None:
            return early
        body = await self._json(request)
        code = None
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body.get(k) for k in ("msgheader", "msg", "no")):
            code = "70"
        elif not acct.otp:
            code = "60"
        elif body["msgheader"] not in acct.msgheaders:
            code = "40"
        elif not _OTP_NO.fullmatch(body["no"]):
            code = "50"
        elif len(body["msg"]) > self.otp_max_chars or TURKISH_LETTERS.intersection(body["msg"]):
            code = "20"
        if code is not None:
            return self._answer("otp", request, acct, code, jobid=None)
        jobid = str(next(self._jobids))
        with self._lock:
            self._messages.append(SimMessage(jobid=jobid, kind="otp", usercode=acct.usercode,
                                             msgheader=body["msgheader"], no=body["no"], msg=body["msg"]))
            extra = {"jobId": jobid}  # the official client's OtpSmsResponse spells it jobId
        return await self._finish(f, self._answer("otp", request, acct, "00", **extra))

    async def _report(self, request: Request) -> Response:
        f, acct, early = await self._guard("report", request)
        if early is not None:
            return early
        self._advance()
        body = await self._json(request)
        if not isinstance(body, dict):
            return self._answer("report", request, acct, "70", jobs=None)
        jobids = body.get("jobids")
        start, stop = body.get("startdate"), body.get("stopdate")
        size, page = body.get("pagesize", 100), body.get("pagenumber", 0)
        bad = (
            (jobids is not None and (not isinstance(jobids, list) or not all(isinstance(j, (str, int)) for j in jobids)))
            or any(v is not None and not _parses(v, REPORT_DATE_FORMAT) for v in (start, stop))
            or not isinstance(size, int) or not 1 <= size <= 100 or not isinstance(page, int) or page < 0
            or (jobids is None and (start is None or stop is None))
        )
        if bad:
            return self._answer("report", request, acct, "70", jobs=None)
        if self._limited(("report", acct.usercode), self.report_limit_per_minute):
            return self._answer("report", request, acct, "80", jobs=None)
        wanted = None if jobids is None else {str(j) for j in jobids}
        lo = _istanbul_ts(start) if start else None
        hi = _istanbul_ts(stop) if stop else None
        with self._lock:
            found = [m.report_entry() for m in self._messages
                     if m.usercode == acct.usercode and (wanted is None or m.jobid in wanted)
                     and (lo is None or m.accepted_at >= lo) and (hi is None or m.accepted_at <= hi)]
        jobs = found[page * size:(page + 1) * size]
        if not jobs:
            return self._answer("report", request, acct, "60", jobs=None)
        return await self._finish(f, self._answer("report", request, acct, "00", jobs=jobs))

    async def _msgheader(self, request: Request) -> Response:
        f, acct, early = await self._guard("msgheader", request)
        if early is not None:
            return early
        return await self._finish(f, self._answer("msgheader", request, acct, "00", msgheaders=list(acct.msgheaders)))


def _istanbul_ts(value: str) -> float:
    """Netgsm reads report dates as Türkiye time."""
    return datetime.strptime(value, REPORT_DATE_FORMAT).replace(tzinfo=business_tz()).timestamp()


def _parses(value: Any, fmt: str) -> bool:
    try:
        datetime.strptime(str(value), fmt)
        return True
    except ValueError:
        return False


def dev_simulator() -> NetgsmSimulator:
    """The simulator `kopru dev` runs: one account, from NETGSM_SIM_USERCODE /
    NETGSM_SIM_PASSWORD / NETGSM_SIM_MSGHEADERS (comma-separated), or dev defaults."""
    import os

    from kopru.config import settings

    s = settings()
    sim = NetgsmSimulator(deliver_after=s.netgsm_sim_deliver_after)
    sim.add_account(s.netgsm_sim_usercode, s.netgsm_sim_password,
                    [h.strip() for h in s.netgsm_sim_msgheaders.split(",") if h.strip()])
    return sim


main = runner(dev_simulator, "netgsm-simulator", 8099)  # python -m kopru_tools.simulators.netgsm [--port N]


if __name__ == "__main__":
    main()
