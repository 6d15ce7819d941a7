"""Netgsm (SMS) connector: the REST v2 client and its code tables.

    from kopru.connectors import netgsm
    creds = netgsm.Credentials(usercode, password)
    async with netgsm.NetgsmClient() as c:            # base URL from NETGSM_BASE_URL
        headers = await c.msgheaders(creds)            # "test connection"
        res = await c.send(creds, "KOPRU", [(text, "+905321234567")], iysfilter="0",
                           encoding="TR", ref=key)
        entries = await c.report(creds, [res.jobid])

Errors: `PermanentError` (fail, do not retry), `TransientError` (retry with backoff,
then dead-letter; `.ambiguous` says whether Netgsm may already have acted),
`InvalidRequest` (refused before sending). The simulator is
`kopru_tools.simulators.netgsm` (imported on its own: it pulls in Starlette).

httpx is imported when a client is made, not when this package is imported.
"""

from kopru.connectors.netgsm.client import (
    DEFAULT_BASE_URL,
    IYS_FILTERS,
    PATHS,
    Credentials,
    NetgsmClient,
    ReportEntry,
    RetryPolicy,
    SendResult,
    base_url_from_env,
    msgheaders,
    parse_report_entry,
    report,
    send,
    send_otp,
)
from kopru.connectors.netgsm.codes import CODES, ReportStatus
from kopru.connectors.netgsm.errors import InvalidRequest, NetgsmError, PermanentError, TransientError
from kopru.connectors.netgsm.numbers import from_netgsm, to_netgsm

__all__ = [
    "CODES", "DEFAULT_BASE_URL", "IYS_FILTERS", "PATHS", "Credentials", "InvalidRequest",
    "NetgsmClient", "NetgsmError", "PermanentError", "ReportEntry", "ReportStatus", "RetryPolicy", "SendResult",
    "TransientError", "base_url_from_env", "from_netgsm", "msgheaders", "parse_report_entry", "report", "send", "send_otp", "to_netgsm",
]
