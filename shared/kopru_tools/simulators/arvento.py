"""An Arvento simulator: an ASGI app speaking the REST calls kopru.connectors.arvento
builds to (`/api/v1/login`, `/api/v1/vehicle`, `/api/v1/vehicle/lastEvents`,
`/api/v1/report/general`), with the behaviour the integrators report and, where they are
silent, what client.py's docstring says was inferred, for `kopru dev` and the tests.

    sim = ArventoSimulator(window_s=30.0)
    sim.add_account("filo", "parola", label="a")
    sim.add_vehicle("filo", "C11L00030370", plate="34 ABC 123", driver="Ad Soyad", at=(41.01, 28.97))
    with serve(sim) as base_url:
        ...ArventoRest("filo", "parola", base_url)...
        sim.move("C11L00030370", 41.02, 28.98, speed=40)   # the device reports a new position
        sim.fail_next(http_status=500)                        # the next call: HTTP 500

What it does, like Arvento: HTTP 200 with `HasError`/`Status` for every outcome but a bad
session id (401, empty body); one session per account (a login kills the previous session);
`{"Nodes": []}` for all vehicles and `{}` refused with Status 1000; unknown nodes left out;
dates as "yyyyMMddHHmmss" in Turkish local time. Its rate limit: one request per account per
`window_s` (any call naming the account: a login by its user name, the others by session);
a request sooner is answered HTTP 429 `{"HasError": true, "Status": 429}` and counted.

`GET /_simulator/calls` (read-only, not Arvento's): every call with its account label, time,
HTTP status and Arvento Status, and per account the number of calls, of rate-limited ones and
the shortest gap between two calls (no user names, passwords, sessions or positions).
In `kopru dev` (`dev_simulator`) three vehicles drive round a loop on their own, one of them
through a depot area, so positions change and geofences are crossed without anyone's help.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kopru_tools.simulators.common import Simulator, runner
from kopru_tools.simulators.common import quiet_serve as serve, quiet_start as start  # noqa: F401  (re-exported)

LOGIN_REFUSED = 1  # inferred: Arvento's Status for a refused login is not public
NULL_REFERENCE = 1000  # documented by an integrator: `{}` instead of `{"Nodes": [...]}`
RATE_LIMITED = 429  # inferred


@dataclass
class SimVehicle:
    node: str
    account: str
    plate: str | None
    driver: str | None
    vehicle_class: str
    lat: float
    lon: float
    speed: float = 0.0
    course: float = 0.0
    at: float = field(default_factory=time.time)
    trail: list[tuple[float, float, float, float]] = field(default_factory=list)  # (epoch, lat, lon, speed)
    drive: Callable[[float], tuple[float, float, float]] | None = None  # dev: epoch -> (lat, lon, speed)


@dataclass
class SimAccount:
    username: str
    password: str
    label: str
    session: str | None = None


@dataclass(frozen=True)
class SimCall:
    endpoint: str
    account: str | None
    at: float  # time.monotonic() when it arrived
    wall: float
    http_status: int
    status: int | None


class ArventoSimulator(Simulator):
    def __init__(self, *, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._accounts: dict[str, SimAccount] = {}
        self._vehicles: dict[str, SimVehicle] = {}
        self._last: dict[str, float] = {}  # account label -> monotonic time of its last call
        super().__init__([
            Route("/api/v1/login", self._login, methods=["POST"]),
            Route("/api/v1/vehicle", self._vehicle_list, methods=["GET"]),
            Route("/api/v1/vehicle/lastEvents", self._last_events, methods=["POST"]),
            Route("/api/v1/report/general", self._report, methods=["POST"]),
        ])

    # -- set-up and control --------------------------------------------------------------

    def add_account(self, username: str, password: str, *, label: str | None = None) -> None:
        with self._lock:
            self._accounts[username] = SimAccount(username, password, label or f"account-{len(self._accounts) + 1}")

    def add_vehicle(self, username: str, node: str, *, plate: str | None = None, driver: str | None = None,
                    at: tuple[float, float] = (41.0082, 28.9784), vehicle_class: str = "OTOMOBIL",
                    drive: Callable[[float], tuple[float, float, float]] | None = None) -> None:
        with self._lock:
            v = SimVehicle(node, username, plate, driver, vehicle_class, at[0], at[1], drive=drive)
            v.trail.append((v.at, v.lat, v.lon, 0.0))
            self._vehicles[node] = v

    def move(self, node: str, lat: float, lon: float, *, speed: float = 30.0, course: float = 0.0) -> None:
        """The device reports a new position now."""
        with self._lock:
            v = self._vehicles[node]
            v.lat, v.lon, v.speed, v.course, v.at = lat, lon, speed, course, time.time()
            v.trail.append((v.at, lat, lon, speed))

    def fail_next(self, http_status: int = 500, times: int = 1) -> None:
        self._inject(None, times, http_status=http_status)

    def session_of(self, username: str) -> str | None:
        with self._lock:
            a = self._accounts.get(username)
            return a.session if a else None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per account label: calls, rate_limited, min_gap_s (None with fewer than two calls)."""
        out: dict[str, dict[str, Any]] = {}
        by: dict[str, list[SimCall]] = {}
        for c in self.calls:
            if c.account is not None:
                by.setdefault(c.account, []).append(c)
        for label, cs in by.items():
            gaps = [b.at - a.at for a, b in zip(cs, cs[1:])]
            out[label] = {"calls": len(cs), "rate_limited": sum(1 for c in cs if c.status == RATE_LIMITED),
                          "min_gap_s": round(min(gaps), 3) if gaps else None}
        return out

    # -- ASGI -------------------------------------------------------------------------------

    def _admit(self, endpoint: str, acct: SimAccount | None) -> Response | None:
        """Record the call; the rate limit and injected failures. A response ends it."""
        now, wall = time.monotonic(), time.time()
        failure = self._take_failure(endpoint)
        with self._lock:
            label = acct.label if acct else None
            if failure is not None:
                status = failure.http_status
                self._received.append(SimCall(endpoint, label, now, wall, status, None))
                if label:
                    self._last[label] = now
                return Response("Internal Server Error", status_code=status, media_type="text/plain")
            if label is not None:
                last = self._last.get(label)
                self._last[label] = now
                if last is not None and now - last < self.window_s:
                    self._received.append(SimCall(endpoint, label, now, wall, 429, RATE_LIMITED))
                    return JSONResponse({"HasError": True, "Status": RATE_LIMITED, "Message": "Too many requests",
                                         "List": None, "Record": None}, status_code=429)
        return None

    def _record(self, endpoint: str, acct: SimAccount | None, http_status: int, status: int | None) -> None:
        self._note(SimCall(endpoint, acct.label if acct else None, time.monotonic(), time.time(), http_status, status))

    def _by_session(self, request: Request) -> SimAccount | None:
        scheme, _, sid = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "sid" or not sid.strip():
            return None
        with self._lock:
            accounts = list(self._accounts.values())
        found = None
        for a in accounts:
            if a.session and hmac.compare_digest(a.session.encode(), sid.strip().encode()):
                found = a
        return found

    @staticmethod
    def _ok(**extra: Any) -> JSONResponse:
        return JSONResponse({"HasError": False, "Status": 0, "Message": "", **extra})

    @staticmethod
    def _err(status: int, message: str) -> JSONResponse:
        return JSONResponse({"HasError": True, "Status": status, "Message": message, "List": None, "Record": None})

    async def _login(self, request: Request) -> Response:
        form = await request.form()
        user, password = str(form.get("userName") or ""), str(form.get("password") or "")
        with self._lock:
            acct = self._accounts.get(user)
        early = self._admit("login", acct)
        if early is not None:
            return early
        if acct is None or not hmac.compare_digest(acct.password.encode(), password.encode()):
            self._record("login", acct, 200, LOGIN_REFUSED)
            return self._err(LOGIN_REFUSED, "Kullanıcı adı ya da şifre hatalı")
        with self._lock:
            acct.session = secrets.token_hex(16)  # one session per account: the old one dies
            sid = acct.session
        self._record("login", acct, 200, 0)
        return self._ok(Record={"sessionId": sid})

    async def _authed(self, endpoint: str, request: Request) -> tuple[SimAccount | None, Response | None]:
        acct = self._by_session(request)
        if acct is None:
            self._record(endpoint, None, 401, None)
            return None, Response(status_code=401)
        return acct, self._admit(endpoint, acct)

    def _tick(self, v: SimVehicle) -> None:
        if v.drive is not None:
            now = time.time()
            lat, lon, speed = v.drive(now)
            if (lat, lon) != (v.lat, v.lon):
                v.lat, v.lon, v.speed, v.at = lat, lon, speed, now
                v.trail.append((now, lat, lon, speed))

    def _mine(self, acct: SimAccount) -> list[SimVehicle]:
        with self._lock:
            vs = [v for v in self._vehicles.values() if v.account == acct.username]
            for v in vs:
                self._tick(v)
            return vs

    async def _vehicle_list(self, request: Request) -> Response:
        acct, early = await self._authed("vehicle", request)
        if early is not None:
            return early
        items = [{"Node": v.node, "LicensePlate": v.plate or "", "Driver": v.driver or "",
                  "VehicleClass": v.vehicle_class, "NodeGroup": ""} for v in self._mine(acct)]
        self._record("vehicle", acct, 200, 0)
        return self._ok(List=items)

    @staticmethod
    def _date(epoch: float) -> str:
        from kopru.text import business_tz

        return datetime.fromtimestamp(epoch, tz=timezone.utc).astimezone(business_tz()).strftime("%Y%m%d%H%M%S")

    async def _nodes(self, endpoint: str, request: Request, acct: SimAccount) -> list[str] | Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        nodes = body.get("Nodes") if isinstance(body, dict) else None
        if not isinstance(nodes, list):
            self._record(endpoint, acct, 200, NULL_REFERENCE)
            return self._err(NULL_REFERENCE, "Object reference not set to an instance of an object.")
        return [str(n) for n in nodes]

    async def _last_events(self, request: Request) -> Response:
        acct, early = await self._authed("vehicle/lastEvents", request)
        if early is not None:
            return early
        nodes = await self._nodes("vehicle/lastEvents", request, acct)
        if isinstance(nodes, Response):
            return nodes
        items = [{"Node": v.node, "Date": self._date(v.at), "Latitude": round(v.lat, 6), "Longitude": round(v.lon, 6),
                  "Speed": v.speed, "Course": v.course, "Altitude": 40.0, "Odometer": 12345.6,
                  "Address": "İstanbul", "Region": ""}
                 for v in self._mine(acct) if not nodes or v.node in nodes]
        self._record("vehicle/lastEvents", acct, 200, 0)
        return self._ok(List=items)

    async def _report(self, request: Request) -> Response:
        acct, early = await self._authed("report/general", request)
        if early is not None:
            return early
        try:
            body = await request.json()
            start = datetime.strptime(body["StartDate"], "%Y%m%d%H%M%S")
            end = datetime.strptime(body["EndDate"], "%Y%m%d%H%M%S")
        except (ValueError, KeyError, TypeError):
            self._record("report/general", acct, 200, NULL_REFERENCE)
            return self._err(NULL_REFERENCE, "Object reference not set to an instance of an object.")
        nodes = [str(n) for n in body.get("Nodes") or []]
        from kopru.text import business_tz

        lo, hi = (d.replace(tzinfo=business_tz()).timestamp() for d in (start, end))
        items = [{"Node": v.node, "DateTime": self._date(t), "Latitude": la, "Longitude": lo_, "SpeedKmPerHour": s}
                 for v in self._mine(acct) if v.node in nodes for (t, la, lo_, s) in v.trail if lo <= t < hi]
        self._record("report/general", acct, 200, 0)
        return self._ok(List=items)

    def _call_view(self, c: SimCall) -> dict[str, Any]:
        return {"endpoint": c.endpoint, "account": c.account, "at": c.wall, "http_status": c.http_status,
                "status": c.status}

    def _inspection(self) -> dict[str, Any]:
        return {"window_s": self.window_s, **super()._inspection(), "accounts": self.stats()}


def loop_drive(center: tuple[float, float], radius_m: float, period_s: float, phase: float = 0.0):
    """A device driving round a circle of `radius_m` about `center` once every `period_s`."""
    def at(epoch: float) -> tuple[float, float, float]:
        a = 2 * math.pi * ((epoch / period_s + phase) % 1.0)
        dlat = radius_m * math.cos(a) / 111_320
        dlon = radius_m * math.sin(a) / (111_320 * math.cos(math.radians(center[0])))
        return round(center[0] + dlat, 6), round(center[1] + dlon, 6), round(2 * math.pi * radius_m / period_s * 3.6, 1)
    return at


def dev_simulator() -> ArventoSimulator:
    """The simulator for `kopru dev`: one account (ARVENTO_SIM_USERNAME / ARVENTO_SIM_PASSWORD)
    and three vehicles driving round Istanbul loops (a 10-minute lap), the rate limit
    ARVENTO_SIM_WINDOW_S. A geofence round 41.0082, 28.9784 (r = 500 m) is entered and left once a lap."""
    from kopru.config import settings

    s = settings()
    sim = ArventoSimulator(window_s=s.arvento_sim_window_s)
    sim.add_account(s.arvento_sim_username, s.arvento_sim_password, label="dev")
    for i, (plate, phase) in enumerate((("34 KPR 001", 0.0), ("34 KPR 002", 0.33), ("34 KPR 003", 0.66))):
        sim.add_vehicle(s.arvento_sim_username, f"KPR0000{i + 1}", plate=plate, driver=None,
                        drive=loop_drive((41.0082, 28.9834), 700.0, 600.0, phase))
    return sim


main = runner(dev_simulator, "arvento-simulator", 8096)  # python -m kopru_tools.simulators.arvento [--port N]


if __name__ == "__main__":
    main()
