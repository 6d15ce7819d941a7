"""Bulutfon (cloud PBX) connector: call records, their detail and click-to-call.

    from kopru.connectors import bulutfon
    c = bulutfon.BulutfonClient.shared()          # base URL from BULUTFON_BASE_URL
    page = await c.cdrs(api_key, page=1, start_date=d)
    await c.call_and_bridge(api_key, caller="908508850000", callee="905321234567", destination="1001")

Errors: `PermanentError` (do not retry), `TransientError` (`.ambiguous`: Bulutfon may have
acted). What is documented and what inferred: `client.py`. The simulator is
`kopru_tools.simulators.bulutfon`. httpx is imported when a client is made.
"""

from kopru.connectors.bulutfon.client import (
    BRIDGE,
    CDR_DETAIL,
    CDR_LIST,
    DEFAULT_BASE_URL,
    MAX_LIMIT,
    PATHS,
    BulutfonClient,
    BulutfonError,
    Cdr,
    CdrPage,
    PermanentError,
    TransientError,
    digits,
    parse_cdr,
    to_bulutfon,
)

__all__ = ["BRIDGE", "CDR_DETAIL", "CDR_LIST", "DEFAULT_BASE_URL", "MAX_LIMIT", "PATHS", "BulutfonClient",
           "BulutfonError", "Cdr", "CdrPage", "PermanentError", "TransientError", "digits", "parse_cdr",
           "to_bulutfon"]
