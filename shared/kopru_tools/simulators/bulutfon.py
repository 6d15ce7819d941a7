"""A Bulutfon simulator: an ASGI app speaking the API key, CDR pages, CDR detail,
call-and-bridge and the call webhooks of the real service (as kopru.connectors.bulutfon's
docstring says what was documented and what inferred), for `kopru dev` and the tests.

    sim = BulutfonSimulator()
    sim.add_account("key", numbers=["908508850000"], extensions=["1001"])
    sim.add_webhook("key", "908508850000", url, username="u", password="p")   # the panel's form
    with serve(sim) as base_url:
        uuid = sim.incoming_call("908508850000", "905321234567", answered=False)
        await sim.push_due()                      # POSTs call_init, call_hangup, missing_call
        sim.fail_next(http_status=429)            # the next call is rate limited

What it checks, like Bulutfon: the `apikey` query parameter (unknown or missing -> 401
`{"error": ...}`), `limit` (1..100) and `page`, dates as YYYY-MM-DD (-> 422), the
call-and-bridge fields (caller must be one of the account's numbers, destination one of
its menus/groups/extensions, callee digits: -> 422 `{"success": false, ...}`), an
optional per-minute request limit (-> 429). A call lives as Bulutfon's does: call_init when
it starts; after `call_duration` seconds it ends, its CDR is listed and call_hangup is
posted (missing_call too when nobody answered an incoming call). Webhooks go to the URLs
set per number (JSON or form, with the HTTP Basic credentials given), each at least once.

Like Bulutfon, call-and-bridge has no idempotency key and answers no call id: a repeat is
a second call. Beyond Bulutfon, for tests and people: `GET /_simulator/calls` (read-only)
lists every request it received (no key) and the PBX's calls with numbers masked; dev controls
`POST /_simulator/webhooks` (the panel's webhook form) and `POST /_simulator/incoming-call`
(a customer calls). Numbers it holds are test data, in memory; it logs nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru.text import business_tz
from kopru_tools.simulators.common import Failure, Simulator, control, runner, serve  # noqa: F401  (serve re-exported)

MAX_LIMIT = 100
DEV_API_KEY = "kopru-dev-bulutfon"


@dataclass
class SimAccount:
    api_key: str = field(repr=False)
    numbers: list[str]
    extensions: list[str]
    domain_id: int
    account_id: int


@dataclass
class SimWebhook:
    number: str
    url: str
    events: tuple[str, ...]
    fmt: str  # "json" | "form"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass
class SimCall:
    uuid: str
    api_key: str = field(repr=False)
    direction: str  # IN | OUT
    caller: str = field(repr=False)
    callee: str = field(repr=False)
    line: str = field(repr=False)  # the account's number the call is on
    extension: str | None
    started: float
    ends: float
    answered: bool
    recording: bool
    destination: str | None = None

    def ended(self, now: float) -> bool:
        return now >= self.ends

    def cdr(self, detail: bool = False) -> dict[str, Any]:
        def iso(t: float | None) -> str | None:
            return None if t is None else datetime.fromtimestamp(t, business_tz()).isoformat(timespec="seconds")

        answered_at = self.started + min(2.0, self.ends - self.started) if self.answered else None
        out: dict[str, Any] = {
            "uuid": self.uuid, "bf_calltype": "voice", "direction": self.direction,
            "caller": int(self.caller), "callee": int(self.callee),
            "extension": self.extension if self.direction == "OUT" else None,
            "call_time": iso(self.started), "answer_time": iso(answered_at), "hangup_time": iso(self.ends),
            "missing_call": self.direction == "IN" and not self.answered,
            "call_price": "0.0182" if self.direction == "OUT" and self.answered else None,
            "call_record": (f"https://records.bulutfon.test/{self.uuid}.mp3" if self.recording else "NO"),
            "hangup_cause": "NORMAL_CLEARING" if self.answered else "NO_ANSWER",
            "hangup_state": "recv_bye" if self.answered else "send_cancel",
        }
        if detail:
            target = self.destination or (self.extension or "1001")
            out["call_flow"] = [
                {"callee": int(self.line), "start_time": iso(self.started), "answer_time": None, "hangup_time": None,
                 "redirection": "REDIRECTED_TO_EXTENSION", "redirection_target": int(target)},
                {"callee": int(target), "start_time": iso(self.started), "answer_time": iso(answered_at),
                 "hangup_time": iso(self.ends), "redirection": "CONNECTING_TO_EXTENSION"},
            ]
        return out

    def hook(self, event_type: str, acct: SimAccount, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {"event_type": event_type, "domain_id": acct.domain_id, "account_id": acct.account_id,
                                "caller": int(self.caller), "callee": int(self.callee), "uuid": self.uuid,
                                "direction": self.direction, "timestamp": int(now * 1_000_000)}
        if event_type == "call_hangup":
            d = datetime.fromtimestamp(self.started, business_tz())
            body.update({"talk_duration": max(0, int(self.ends - self.started - 2)) if self.answered else 0,
                         "hangup_cause": "NORMAL_CLEARING", "hangup_detail": "send_bye" if self.answered else "send_cancel",
                         "result_disposition": "SUCCESS" if self.answered else "",
                         "cdr_url": f"https://oim.bulutfon.test/account/pbx/call-records/{d:%Y/%m/%d}/{self.uuid}",
                         "cdr_api_url": f"https://api.bulutfon.test/v2/cdr/{d:%Y/%m/%d}/{self.uuid}"})
        return body


@dataclass
class Request_:
    endpoint: str
    http_status: int
    at: float = field(default_factory=time.time)


@dataclass
class _Push:
    due: float
    webhook: SimWebhook
    body: dict[str, Any] = field(repr=False)
    tries: int = 0


class BulutfonSimulator(Simulator):
    def __init__(self, *, call_duration: float = 0.0, limit_per_minute: int | None = None) -> None:
        """`call_duration`: seconds from a call's start to its hangup (0: it ends at once,
        the tests' default). `limit_per_minute`: requests per key per minute, then 429."""
        self.call_duration = call_duration
        self.limit_per_minute = limit_per_minute
        self._accounts: dict[str, SimAccount] = {}
        self._webhooks: dict[str, list[SimWebhook]] = {}
        self._ids = itertools.count(1000)
        super().__init__([
            Route("/v2/cdr/list", self._list, methods=["GET"]),
            Route("/v2/cdr/{y:int}/{m:int}/{d:int}/{uuid}", self._detail, methods=["GET"]),
            Route("/v2/pbx/call-and-bridge", self._bridge, methods=["POST"]),
            Route("/_simulator/webhooks", self._control_webhook, methods=["POST"]),
            Route("/_simulator/incoming-call", self._control_incoming, methods=["POST"]),
        ])

    def _reset_state(self) -> None:
        super()._reset_state()  # the API requests it received (`requests`) and the injected failures
        self._calls: list[SimCall] = []  # the PBX's calls
        self._pushes: list[_Push] = []
        self._hits: dict[str, list[float]] = {}
        self.delivered: list[dict[str, Any]] = []  # webhook bodies answered 2xx (test data)

    # -- configuration and inspection ---------------------------------------------------

    def add_account(self, api_key: str, numbers: list[str], extensions: list[str] = ("1001",)) -> SimAccount:
        with self._lock:
            acct = SimAccount(api_key, list(numbers), list(extensions), next(self._ids), next(self._ids))
            self._accounts[api_key] = acct
        return acct

    def add_webhook(self, api_key: str, number: str, url: str, *,
                    events: tuple[str, ...] = ("call_init", "call_hangup", "missing_call"), fmt: str = "json",
                    username: str | None = None, password: str | None = None) -> None:
        """What a person sets in the panel (Uygulamalar > Web Kancaları): one number, the URL,
        the events, JSON or form, and optional HTTP Basic credentials."""
        with self._lock:
            acct = self._accounts[api_key]
            if number not in acct.numbers:
                raise ValueError("not one of the account's numbers")
            self._webhooks.setdefault(api_key, []).append(SimWebhook(number, url, tuple(events), fmt, username,
                                                                     password))

    def fail_next(self, http_status: int | None = None, *, delay: float = 0.0, times: int = 1,
                  endpoint: str | None = None, process: bool = False) -> None:
        """The next `times` requests (to "cdr.list", "cdr.detail", "call-and-bridge"; any when
        None) answer `http_status` without acting; with `process` they act first (a call is
        placed) and then answer `http_status` (a 502 from a proxy after Bulutfon took it);
        with only `delay` the request is processed and answered `delay` seconds later."""
        self._inject(endpoint, times, http_status=http_status, delay=delay, taken=process)

    @property
    def calls(self) -> list[SimCall]:
        """The PBX's calls (the API requests it received are `requests`)."""
        with self._lock:
            return list(self._calls)

    @property
    def requests(self) -> list[Request_]:
        return self.received

    def count(self, endpoint: str) -> int:
        with self._lock:
            return sum(1 for r in self._received if r.endpoint == endpoint and r.http_status < 400)

    def incoming_call(self, number: str, caller: str, *, api_key: str | None = None, answered: bool = True,
                      recording: bool = False, at: float | None = None) -> str:
        """A customer calls the account's `number`: call_init now, hangup (and missing_call
        when not answered) after `call_duration`. Returns the call's uuid."""
        with self._lock:
            key = api_key or next(k for k, a in self._accounts.items() if number in a.numbers)
            acct = self._accounts[key]
            now = time.time() if at is None else at
            call = SimCall(str(uuidlib.uuid4()), key, "IN", caller, number, number, None, now,
                           now + self.call_duration, answered, recording, destination=acct.extensions[0])
            self._calls.append(call)
            self._queue(call, acct, now)
        return call.uuid

    def _queue(self, call: SimCall, acct: SimAccount, now: float) -> None:
        for hook in self._webhooks.get(call.api_key, []):
            if hook.number != call.line:
                continue
            kinds = [("call_init", now), ("call_hangup", call.ends)]
            if call.direction == "IN" and not call.answered:
                kinds.append(("missing_call", call.ends))
            for kind, due in kinds:
                if kind in hook.events:
                    self._pushes.append(_Push(due, hook, call.hook(kind, acct, due)))

    async def push_due(self, *, timeout: float = 5.0, post=None) -> int:
        """POST every webhook that is due (its call started or ended); a delivery not
        answered 2xx stays queued for the next push. Returns how many were answered 2xx.
        `post(url, *, json=, data=, headers=)` -> an httpx response replaces the HTTP
        client (the tests hand the function's in-process client)."""
        import base64

        import httpx

        now = time.time()
        with self._lock:
            due = [p for p in self._pushes if p.due <= now]
        ok = 0
        async with httpx.AsyncClient(timeout=timeout) as client:
            send = post or client.post
            for p in due:
                hook = p.webhook
                headers = {}
                if hook.username is not None:
                    token = base64.b64encode(f"{hook.username}:{hook.password}".encode()).decode()
                    headers["Authorization"] = f"Basic {token}"
                try:
                    if hook.fmt == "form":
                        r = await send(hook.url, data={k: "" if v is None else str(v) for k, v in p.body.items()},
                                       headers=headers)
                    else:
                        r = await send(hook.url, json=p.body, headers=headers)
                    good = r.is_success
                except httpx.HTTPError:
                    good = False
                with self._lock:
                    p.tries += 1
                    if good and p in self._pushes:
                        self._pushes.remove(p)
                        self.delivered.append(p.body)
                ok += good
        return ok

    def pending_pushes(self) -> int:
        with self._lock:
            return len(self._pushes)

    # -- ASGI ---------------------------------------------------------------------------

    def _record(self, endpoint: str, status: int) -> None:
        self._note(Request_(endpoint, status))

    def _answer(self, endpoint: str, body: Any, status: int = 200) -> Response:
        self._record(endpoint, status)
        return JSONResponse(body, status_code=status)

    async def _guard(self, endpoint: str, request: Request) -> tuple[SimAccount | None, Failure | None, Response | None]:
        f = self._take_failure(endpoint)
        if f is not None and f.http_status is not None and not f.taken:
            await self._delay(f)
            return None, f, self._answer(endpoint, {"error": "Simulated failure"}, f.http_status)
        key = request.query_params.get("apikey") or request.query_params.get("access_token") or ""
        with self._lock:
            acct = self._accounts.get(key)
        if acct is None:
            return None, f, self._answer(endpoint, {"error": "Unauthorized"}, 401)
        if self.limit_per_minute:
            now = time.monotonic()
            with self._lock:
                hits = [t for t in self._hits.get(key, []) if now - t < 60]
                limited = len(hits) >= self.limit_per_minute
                if not limited:
                    hits.append(now)
                self._hits[key] = hits
            if limited:
                self._record(endpoint, 429)
                return None, f, JSONResponse({"error": "Too Many Requests"}, status_code=429,
                                             headers={"Retry-After": "60"})
        return acct, f, None

    def _inspection(self) -> dict[str, Any]:
        # "calls": the API requests it received (as every simulator's inspection route);
        # "phone_calls": the PBX's calls, numbers masked
        phone = [{"uuid": c.uuid, "direction": c.direction, "caller": _mask(c.caller), "callee": _mask(c.callee),
                  "answered": c.answered, "ended": c.ended(time.time())} for c in self.calls]
        return {**super()._inspection(), "phone_calls": phone, "pending_webhooks": self.pending_pushes()}

    async def _list(self, request: Request) -> Response:
        acct, f, early = await self._guard("cdr.list", request)
        if early is not None:
            return early
        q = request.query_params
        try:
            page = int(q.get("page", "1"))
            limit = int(q.get("limit", "20"))
            start = date.fromisoformat(q["start_date"]) if q.get("start_date") else None
            end = date.fromisoformat(q["end_date"]) if q.get("end_date") else None
            if page < 1 or not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            return self._answer("cdr.list", {"error": "Invalid parameters"}, 422)
        now = time.time()
        callee = q.get("callee")
        with self._lock:
            rows = [c for c in self._calls if c.api_key == acct.api_key and c.ended(now)
                    and (start is None or datetime.fromtimestamp(c.started, business_tz()).date() >= start)
                    and (end is None or datetime.fromtimestamp(c.started, business_tz()).date() <= end)
                    and (callee is None or c.callee in callee.split(","))]
        asc = q.get("order", "call_time,desc").split(",")[-1].lower() == "asc"
        rows.sort(key=lambda c: (c.started, c.uuid), reverse=not asc)
        total = len(rows)
        pages = max(1, -(-total // limit))
        chunk = rows[(page - 1) * limit: page * limit]
        base = str(request.url.replace(query="")).rstrip("/")
        body = {"data": [c.cdr() for c in chunk],
                "pagination": {"page": page, "total_count": total, "total_pages": pages, "limit": limit,
                               "previous_page": f"{base}?page={page - 1}" if page > 1 else None,
                               "next_page": f"{base}?page={page + 1}" if page < pages else None}}
        await self._delay(f)
        return self._answer("cdr.list", body)

    async def _detail(self, request: Request) -> Response:
        acct, f, early = await self._guard("cdr.detail", request)
        if early is not None:
            return early
        p = request.path_params
        now = time.time()
        with self._lock:
            call = next((c for c in self._calls if c.uuid == p["uuid"] and c.api_key == acct.api_key
                         and c.ended(now)), None)
        if call is None:
            return self._answer("cdr.detail", {"error": "Not found"}, 404)
        d = datetime.fromtimestamp(call.started, business_tz()).date()
        if (d.year, d.month, d.day) != (p["y"], p["m"], p["d"]):
            return self._answer("cdr.detail", {"error": "Not found"}, 404)
        return self._answer("cdr.detail", {"data": call.cdr(detail=True)})

    async def _bridge(self, request: Request) -> Response:
        acct, f, early = await self._guard("call-and-bridge", request)
        if early is not None:
            return early
        try:
            if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
                body = dict(await request.form())
            else:
                body = await request.json()
            caller, callee = str(body["caller"]), str(body["callee"])
            destination = str(body["destination"])
            timeout = body.get("timeout")
            if timeout is not None:
                int(timeout)
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._answer("call-and-bridge", {"success": False, "message": "Eksik parametre."}, 422)
        if caller not in acct.numbers or not callee.isdigit() or not 7 <= len(callee) <= 15 \
                or destination not in acct.extensions:
            return self._answer("call-and-bridge", {"success": False, "message": "Geçersiz parametre."}, 422)
        with self._lock:
            now = time.time()
            call = SimCall(str(uuidlib.uuid4()), acct.api_key, "OUT", caller, callee, caller, destination, now,
                           now + self.call_duration, True, False, destination=destination)
            self._calls.append(call)
            self._queue(call, acct, now)
        await self._delay(f)  # placed; the answer comes late
        if f is not None and f.http_status is not None:
            return self._answer("call-and-bridge", {"error": "Bad Gateway"}, f.http_status)  # placed all the same
        return self._answer("call-and-bridge", {"success": True, "message": "Arama başarıyla başlatıldı."})

    async def _control_webhook(self, request: Request) -> Response:
        """Dev control (the panel's form, not Bulutfon's API): {"apikey", "number", "url",
        "events"?, "format"? ("json"|"form"), "username"?, "password"?}."""
        return await control(request, lambda b: self.add_webhook(
            str(b["apikey"]), str(b["number"]), str(b["url"]),
            events=tuple(b.get("events") or ("call_init", "call_hangup", "missing_call")),
            fmt="form" if b.get("format") == "form" else "json", username=b.get("username"),
            password=b.get("password")),
            "give apikey, number (one of the account's), url; optional events, format, username, password")

    async def _control_incoming(self, request: Request) -> Response:
        """Dev control: a customer calls. {"number", "caller", "answered"?, "recording"?}."""
        def act(b: Any) -> dict[str, str]:
            number, caller = str(b["number"]), str(b["caller"])
            if not caller.isdigit():
                raise ValueError
            return {"uuid": self.incoming_call(number, caller, answered=bool(b.get("answered", True)),
                                               recording=bool(b.get("recording", False)))}

        return await control(request, act, "give number (an account's number) and caller (digits); optional "
                                            "answered, recording")


def _mask(number: str) -> str:
    return number[:4] + "*" * max(0, len(number) - 6) + number[-2:] if len(number) > 6 else "***"


class _DevSimulator(BulutfonSimulator):
    """`kopru dev`'s: calls last a few seconds and their webhooks are posted on their own
    (a loop in the server's thread, started with the first request)."""

    _pump: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self._pump is None and scope["type"] == "http":
            self._pump = asyncio.get_running_loop().create_task(self._pumping())
        await super().__call__(scope, receive, send)

    async def _pumping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.push_due()
            except Exception:  # a receiver's trouble never stops the lifecycle
                pass


def dev_simulator() -> BulutfonSimulator:
    """The simulator `kopru dev` runs: one account, API key kopru-dev-bulutfon, with the
    number 908508850000 and extensions 1001, 1002; calls last 5 seconds."""
    sim = _DevSimulator(call_duration=5.0)
    sim.add_account(DEV_API_KEY, ["908508850000"], ["1001", "1002"])
    return sim


main = runner(dev_simulator, "bulutfon-simulator", 8093)  # python -m kopru_tools.simulators.bulutfon [--port N]


if __name__ == "__main__":
    main()
