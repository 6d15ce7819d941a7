"""Arvento (vehicle tracking) connector: the `ArventoClient` interface and its REST
implementation `ArventoRest` (what is documented by integrators and what was inferred is
in client.py's docstring and docs/arvento.md).

    from kopru.connectors import arvento
    c = arvento.ArventoRest(username, password)        # base URL from ARVENTO_BASE_URL
    sid = await c.login()                                # one request; kills the account's old session
    vs = await c.vehicles()                              # [Vehicle(node, plate, ...)]
    ps = await c.last_positions()                        # [Position(node, latitude, longitude, at, ...)]

Each call is one request: the caller counts it against Arvento's limit (about one per
30 s per account; kopru.vehicles.ratelimit), through kopru.connectors.common.traced_call
(a CLIENT span, one log line). Errors carry `code`, `retryable` and `ambiguous`:
`PermanentError` (`AuthError` for refused credentials), `TransientError` (`RateLimited`,
`SessionInvalid`: log in again; a time-out or transport failure is `arvento.unavailable`).
The simulator is `kopru_tools.simulators.arvento`.
"""

from kopru.connectors.arvento.client import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    LAST_EVENTS,
    LOGIN,
    PATHS,
    REPORT,
    VEHICLES,
    ArventoClient,
    ArventoError,
    ArventoRest,
    AuthError,
    PermanentError,
    Position,
    RateLimited,
    SessionInvalid,
    TransientError,
    Vehicle,
    base_url_from_env,
    format_date,
    parse_date,
    position_from,
)

__all__ = [
    "BASE_URL_ENV", "DEFAULT_BASE_URL", "LAST_EVENTS", "LOGIN", "PATHS", "REPORT", "VEHICLES", "ArventoClient",
    "ArventoError", "ArventoRest", "AuthError", "PermanentError", "Position", "RateLimited", "SessionInvalid",
    "TransientError", "Vehicle", "base_url_from_env", "format_date", "parse_date", "position_from",
]
