"""Arvento (vehicle tracking) client: one interface (`ArventoClient`), one REST
implementation (`ArventoRest`).

Arvento publishes no open documentation. What is built here comes from the code and notes
of integrators who call it, read in December 2026:

Documented by a public source (cited):
- A Python integration (ArventoAPI, a public GitHub repository found through a code search
  for `ws.arvento.com/api/v1/login`): `POST https://ws.arvento.com/api/v1/login` with the
  form fields `userName` and `password`; the answer's `Record.sessionId`; later calls send
  `Authorization: sid <sessionId>`; `POST /api/v1/report/general` with
  `{"Nodes": [node], "StartDate": "yyyyMMddHHmmss", "EndDate": ..., "Options": ["locationInfo"]}`
  answers `List[] {DateTime, Latitude, Longitude, SpeedKmPerHour}`.
- An n8n integration's notes and SQL (a Turkish logistics company's repository, "Arvento
  Araç Takibi", live-tested 2026-09-14): `GET /api/v1/vehicle` (the vehicle list: `Node`,
  the plate, `VehicleClass` "OTOMOBIL"/"KAMYON", `NodeGroup`); `POST /api/v1/vehicle/lastEvents`
  with `{"Nodes": []}` for every vehicle (`{}` answers Status 1000) whose entries carry only
  `Node` (no plate, no driver, no ignition), `Date` as "yyyyMMddHHmmss" in Turkish local
  time (UTC+3, not UTC), `Latitude`/`Longitude` (WGS84 decimal degrees), `Speed` (km/h),
  `Course` (0-360), `Altitude` (m), `Odometer` (km), `Address`, `Region`; the HTTP status
  is always 200 with the outcome in `HasError`/`Status` (0 ok, 1000 null reference, 1012
  InvalidDateInterval; "Bu servisi kullanmaya yetkiniz yoktur" for a service the contract
  lacks), except an invalid session id: HTTP 401 with an empty body; **one session per
  account**: every login makes a new `sessionId` and kills the previous one at once; an
  unknown node is silently left out of the list.
- The legacy SOAP service `https://ws.arvento.com/v1/report.asmx` (namespace
  `http://www.arvento.com/`, `Username`/`PIN1`/`PIN2`/`Language` on every method,
  `GetVehicleStatus`, `GetVehicleStatusV3` returning `<LastPacket>` blocks with `strNode`,
  `dLatitude`, `dLongitude`, `dSpeed`, `nCourse`, `dtLocalDateTime`...): several PHP, Go,
  C# and TypeScript integrations. It is NOT implemented: no WSDL (the shape zeep needs)
  was found, and a hand-written envelope guessed from one method would be a stub.

Inferred (no source shows it; a corrected contract is a change in this file only):
- The login's failure: `HasError: true` with a non-zero `Status` (HTTP 200, like every other
  refusal). Any refused login is read as wrong credentials (`AuthError`,
  `arvento.auth_failed`, permanent), Arvento's Status and Message kept on the error.
- The vehicle list's envelope and field names: `{"HasError", "Status", "List": [{"Node",
  "LicensePlate", "Driver", "VehicleClass", "NodeGroup"}]}` (`LicensePlate` is the SOAP
  service's name for the plate; the lastEvents and report answers use `List` too).
- The rate limit's answer: Arvento is said to allow about one request per 30 s per account
  but the integrators saw no `X-RateLimit-*` header; an HTTP 429 (or `Status` 429) is read
  as `RateLimited` (transient). Köprü never relies on it: kopru.vehicles.ratelimit keeps
  every account under the limit across all instances.
- The session's life: unknown (the n8n notes assume 30 minutes); the session is kept until
  Arvento answers 401 (`SessionInvalid`), then a new login is made.
- `Date` without a time zone is Europe/Istanbul (UTC+3 all year since 2016).

Every call is exactly one HTTP request (the caller counts them against the rate limit), so
this client never retries and never logs in by itself. Errors never carry the user name,
the password, the session id or a position.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Sequence

from kopru.connectors.common import HttpConnector, traced_call

log = logging.getLogger("kopru.connectors.arvento")

DEFAULT_BASE_URL = "https://ws.arvento.com"
BASE_URL_ENV = "ARVENTO_BASE_URL"
LOGIN, VEHICLES, LAST_EVENTS, REPORT = "login", "vehicle", "vehicle/lastEvents", "report/general"
PATHS = {LOGIN: "/api/v1/login", VEHICLES: "/api/v1/vehicle", LAST_EVENTS: "/api/v1/vehicle/lastEvents",
         REPORT: "/api/v1/report/general"}
TIMEOUT_S = 15.0
DATE_FORMAT = "%Y%m%d%H%M%S"


def base_url_from_env() -> str:
    """ARVENTO_BASE_URL (through kopru.config), else Arvento's production service (never on
    kopru dev's embedded data: kopru.connectors.common.base_url)."""
    from kopru.config import settings
    from kopru.connectors.common import base_url

    return base_url(settings().arvento_base_url, DEFAULT_BASE_URL, BASE_URL_ENV)


# -- errors ----------------------------------------------------------------------------------


class ArventoError(Exception):
    """A call did not succeed. `code` is a kopru.errors code; `retryable` whether asking
    again later can help; `ambiguous` whether Arvento may have acted all the same (only a
    login acts: it makes a new session and kills the old one); `arvento_status` Arvento's own
    Status when it gave one. The text never holds credentials, a session or a position."""

    retryable = False

    def __init__(self, code: str, endpoint: str, *, http_status: int | None = None,
                 arvento_status: int | None = None, ambiguous: bool = False) -> None:
        self.code = code
        self.endpoint = endpoint
        self.http_status = http_status
        self.arvento_status = arvento_status
        self.ambiguous = ambiguous
        super().__init__(f"arvento {endpoint}: {code} (http {http_status}, status {arvento_status})")


class PermanentError(ArventoError):
    """Arvento refused the call; repeating it cannot help (a service the contract lacks,
    a malformed request)."""


class AuthError(PermanentError):
    """The user name or password was refused at login (`arvento.auth_failed`)."""


class TransientError(ArventoError):
    """Worth trying again later: a time-out, a connection error, HTTP 5xx, an unreadable
    answer (`arvento.unavailable`). `ambiguous` on a login that may have reached Arvento
    (a time-out after sending, a dropped connection, a 5xx or unreadable answer): the
    account's session may have changed, so the stored one may be dead."""

    retryable = True


class RateLimited(TransientError):
    """Arvento answered that the account asked too often (`arvento.rate_limited`)."""


class SessionInvalid(TransientError):
    """HTTP 401 to a call with a session: it expired, or another login killed it (one
    session per account). Log in again (the next request), then repeat."""


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vehicle:
    node: str
    plate: str | None = None
    vehicle_class: str | None = None
    group: str | None = None
    driver: str | None = field(default=None, repr=False)  # a person's name: never logged


@dataclass(frozen=True)
class Position:
    node: str
    latitude: float
    longitude: float
    at: datetime | None  # when the device measured it (aware)
    speed_kmh: float | None = None
    course: float | None = None
    odometer_km: float | None = None
    address: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # a position of a person's vehicle is personal data
        return f"Position(node={self.node!r}, at={self.at!r})"


def parse_date(raw: Any) -> datetime | None:
    """Arvento's "yyyyMMddHHmmss", Turkish local time, as an aware datetime (None if unreadable)."""
    from kopru.text import business_tz

    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip()[:14], DATE_FORMAT).replace(tzinfo=business_tz())
    except ValueError:
        return None


def format_date(dt: datetime) -> str:
    from kopru.text import to_business_time

    return to_business_time(dt).strftime(DATE_FORMAT)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(str(v).replace(",", "."))
    except ValueError:
        return None
    return x if x == x and abs(x) != float("inf") else None


def position_from(entry: dict[str, Any]) -> Position | None:
    """A lastEvents (or report/general) entry; None when it has no usable coordinates
    (0,0 or missing: the integrators drop such rows too)."""
    node = entry.get("Node")
    lat, lon = _num(entry.get("Latitude")), _num(entry.get("Longitude"))
    if lat is None or lon is None or (lat == 0 and lon == 0) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    speed = _num(entry.get("Speed", entry.get("SpeedKmPerHour")))
    return Position(node=str(node) if node is not None else "", latitude=lat, longitude=lon,
                    at=parse_date(entry.get("Date", entry.get("DateTime"))), speed_kmh=speed,
                    course=_num(entry.get("Course")), odometer_km=_num(entry.get("Odometer")),
                    address=entry.get("Address") if isinstance(entry.get("Address"), str) else None)


# -- the interface ---------------------------------------------------------------------------


class ArventoClient(Protocol):
    """What Köprü needs from Arvento. Each method is one request to Arvento."""

    session_id: str | None

    async def login(self) -> str:
        """A new session (kills the account's previous one); kept on the client too."""

    async def vehicles(self) -> list[Vehicle]:
        """The account's vehicles."""

    async def last_positions(self, nodes: Sequence[str] = ()) -> list[Position]:
        """Each vehicle's last known position (all vehicles when `nodes` is empty)."""

    async def history(self, node: str, start: datetime, end: datetime) -> list[Position]:
        """One vehicle's positions in [start, end)."""


class ArventoRest(HttpConnector):
    """The REST service (`/api/v1`). Credentials per tenant; the event loop's shared HTTP pool
    (kopru.connectors.common.shared_http, taken on first use); `timeout` bounds every phase
    of a call."""

    def __init__(self, username: str, password: str, base_url: str | None = None, *,
                 session_id: str | None = None, timeout: float = TIMEOUT_S) -> None:
        self._username = username
        self._password = password
        self._connect(base_url or base_url_from_env(), timeout, shared=True, connect=None)
        self.session_id = session_id

    def __repr__(self) -> str:
        return f"ArventoRest(base_url={self.base_url!r}, session={'set' if self.session_id else 'none'})"

    async def _call(self, endpoint: str, method: str, *, json_body: Any = None, form: dict | None = None,
                    session: bool = True) -> dict[str, Any]:
        """One request, through kopru.connectors.common.traced_call (a CLIENT span, one log line
        `arvento.call` / `arvento.call_failed`, a transport failure as `TransientError`)."""
        headers = {"Accept": "application/json"}
        if session:
            if not self.session_id:
                raise SessionInvalid("arvento.session_invalid", endpoint)
            headers["Authorization"] = f"sid {self.session_id}"
        acts = endpoint == LOGIN  # a login makes a new session (and kills the old): the one call that acts

        def request():
            return self._client().request(method, self.base_url + PATHS[endpoint], headers=headers,
                                          json=json_body, data=form, timeout=self._timeout)

        def answer(r) -> dict[str, Any]:
            if r.status_code == 401:
                if session:
                    raise SessionInvalid("arvento.session_invalid", endpoint, http_status=401)
                raise AuthError("arvento.auth_failed", endpoint, http_status=401)
            if r.status_code == 429:
                raise RateLimited("arvento.rate_limited", endpoint, http_status=429)
            if r.status_code >= 500:
                raise TransientError("arvento.unavailable", endpoint, http_status=r.status_code, ambiguous=acts)
            if r.status_code != 200:  # another 4xx: asking again would get the same (not retried every tick)
                raise PermanentError("arvento.refused", endpoint, http_status=r.status_code)
            try:
                body = r.json()
            except ValueError:
                raise TransientError("arvento.unavailable", endpoint, http_status=200, ambiguous=acts) from None
            if not isinstance(body, dict):
                raise TransientError("arvento.unavailable", endpoint, http_status=200, ambiguous=acts)
            if body.get("HasError"):
                status = body.get("Status") if isinstance(body.get("Status"), int) else None
                if status == 429:
                    raise RateLimited("arvento.rate_limited", endpoint, http_status=200, arvento_status=status)
                if endpoint == LOGIN:
                    raise AuthError("arvento.auth_failed", endpoint, http_status=200, arvento_status=status)
                raise PermanentError("arvento.refused", endpoint, http_status=200, arvento_status=status)
            return body

        def on_error(e: ArventoError, fields: dict[str, Any]) -> None:
            if e.arvento_status is not None:
                fields["arvento_status"] = e.arvento_status

        return await traced_call(log, "arvento", endpoint, {"endpoint": endpoint}, request, answer,
                                 side_effect=acts, errors=ArventoError, transient=TransientError,
                                 transport=_transport, on_error=on_error, error_type=True, chain=False)

    async def login(self) -> str:
        body = await self._call(LOGIN, "POST", form={"userName": self._username, "password": self._password},
                                session=False)
        sid = (body.get("Record") or {}).get("sessionId") if isinstance(body.get("Record"), dict) else None
        if not isinstance(sid, str) or not sid:
            raise AuthError("arvento.auth_failed", LOGIN, http_status=200, arvento_status=body.get("Status"))
        self.session_id = sid
        return sid

    @staticmethod
    def _list(body: dict[str, Any]) -> list[dict[str, Any]]:
        items = body.get("List")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    async def vehicles(self) -> list[Vehicle]:
        body = await self._call(VEHICLES, "GET")

        def s(v: Any) -> str | None:
            return v.strip() or None if isinstance(v, str) else None

        return [Vehicle(node=str(i["Node"]), plate=s(i.get("LicensePlate")), vehicle_class=s(i.get("VehicleClass")),
                        group=s(i.get("NodeGroup")), driver=s(i.get("Driver")))
                for i in self._list(body) if i.get("Node") not in (None, "")]

    async def last_positions(self, nodes: Sequence[str] = ()) -> list[Position]:
        body = await self._call(LAST_EVENTS, "POST", json_body={"Nodes": list(nodes)})
        return [p for p in (position_from(i) for i in self._list(body)) if p is not None and p.node]

    async def history(self, node: str, start: datetime, end: datetime) -> list[Position]:
        body = await self._call(REPORT, "POST", json_body={"Nodes": [node], "StartDate": format_date(start),
                                                          "EndDate": format_date(end), "Options": ["locationInfo"]})
        out = []
        for i in self._list(body):
            p = position_from({**i, "Node": i.get("Node", node)})
            if p is not None:
                out.append(p)
        return out


def _transport(kind: str, endpoint: str, *, ambiguous: bool, http_status: int | None = None,
               code: str | None = None) -> TransientError:
    """A time-out or a transport failure (kopru.connectors.common.traced_call): Arvento is
    unavailable; `ambiguous` when it was a login that may have reached Arvento."""
    return TransientError("arvento.unavailable", endpoint, http_status=http_status, ambiguous=ambiguous)
