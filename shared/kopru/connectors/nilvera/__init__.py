"""Nilvera (e-Fatura / e-Arşiv integrator) connector: the REST client, GİB's and
Nilvera's code tables, and (imported on its own: it pulls in Starlette) a simulator.

    from kopru.connectors import nilvera
    async with nilvera.NilveraClient(api_key) as c:       # base URL from NILVERA_BASE_URL
        tp = await c.check_taxpayer(vkn)                   # Taxpayer(registered, aliases)
        if tp.registered:
            res = await c.send_einvoice(xml, ettn, tp.default_alias)
        else:
            res = await c.send_earchive(xml, ettn)
        # res.already_submitted: Nilvera already held this ETTN; nothing new was created
        st = await c.get_status(nilvera.EINVOICE, ettn, profile="TICARIFATURA")
        st.outcome, st.final, st.code, st.answer           # see codes.py for the table

Errors: `PermanentError` (do not retry; `AuthError` for a refused key, `ValidationRejected`
with `.findings`, `DocumentNotFound`; `.reroute` when the buyer's e-Fatura registration
was not what the sender assumed), `TransientError` (retry with backoff, then dead-letter;
`.ambiguous` says whether Nilvera may have taken a send: retrying is safe, the ETTN is
the key), `InvalidRequest` (refused before sending).

The simulator is `kopru_tools.simulators.nilvera`. httpx is imported when a client is
made, not when this package is imported.
"""

from kopru.connectors.nilvera.client import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    PATHS,
    TEST_BASE_URL,
    Company,
    NilveraClient,
    RetryPolicy,
    SendResult,
    Status,
    Taxpayer,
    base_url_from_env,
    document_uuid,
    status_from_response,
)
from kopru.connectors.nilvera.codes import (
    ACCEPTED,
    CANCELLED,
    DELIVERED,
    DUPLICATE,
    EARCHIVE,
    EINVOICE,
    FAILED,
    GIB_STATUS,
    KABUL,
    NILVERA_ERRORS,
    PENDING,
    RED,
    REJECTED,
    RESEND_AFTER_FIX,
    RESEND_AS_IS,
    RESEND_NEVER,
    Finding,
    gib_status,
)
from kopru.connectors.nilvera.errors import (
    AuthError,
    DocumentNotFound,
    InvalidRequest,
    NilveraError,
    PermanentError,
    TransientError,
    ValidationRejected,
)

__all__ = [
    "ACCEPTED", "BASE_URL_ENV", "CANCELLED", "DEFAULT_BASE_URL", "DELIVERED", "DUPLICATE", "EARCHIVE", "EINVOICE",
    "FAILED", "GIB_STATUS", "KABUL", "NILVERA_ERRORS", "PATHS", "PENDING", "RED", "REJECTED", "RESEND_AFTER_FIX",
    "RESEND_AS_IS", "RESEND_NEVER", "TEST_BASE_URL", "AuthError", "Company", "DocumentNotFound", "Finding",
    "InvalidRequest", "NilveraClient", "NilveraError", "PermanentError", "RetryPolicy", "SendResult", "Status",
    "Taxpayer", "TransientError", "ValidationRejected", "base_url_from_env", "document_uuid", "gib_status",
    "status_from_response",
]
