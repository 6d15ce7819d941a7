"""WhatsApp Business (Meta's WhatsApp Cloud API) connector: the client, its code table and
the webhook's signature and payload.

    from kopru.connectors import whatsapp
    creds = whatsapp.Credentials(phone_number_id, access_token)
    c = whatsapp.WhatsAppClient()                      # base URL from WHATSAPP_BASE_URL
    await c.phone_number(creds)                        # "test connection"
    res = await c.send_text(creds, "+905321234567", "Merhaba", ref=message_id)
    res = await c.send_template(creds, "+905321234567", "siparis_kargoda", "tr", ["1234"], ref=message_id)
    whatsapp.verify_signature(app_secret, raw_body, request.headers["x-hub-signature-256"])
    changes = whatsapp.parse_webhook(raw_body)

Why the Cloud API: the seed routed WhatsApp through Netgsm's "Netasistan"; Netgsm
publishes no API for sending WhatsApp messages through it, so Köprü talks to Meta's
WhatsApp Cloud API directly, with the tenant's own business phone number and token.

Errors: `PermanentError` (fail with the code), `TransientError` (retry with backoff;
`.ambiguous` when Meta may have taken the message), `InvalidRequest` (refused before
sending), `BadSignature` (a webhook not signed with the app secret). The simulator is
`kopru_tools.simulators.whatsapp`.
"""

from kopru.connectors.whatsapp.client import (
    API_VERSION,
    DEFAULT_BASE_URL,
    TEXT_MAX,
    Credentials,
    SendResult,
    WhatsAppClient,
    base_url_from_env,
    to_whatsapp,
)
from kopru.connectors.whatsapp.codes import CODES, CodeSpec, spec
from kopru.connectors.whatsapp.errors import (
    BadSignature,
    InvalidRequest,
    PermanentError,
    TransientError,
    WhatsAppError,
)
from kopru.connectors.whatsapp.webhook import BadPayload, Change, Inbound, Status, signature, verify_signature
from kopru.connectors.whatsapp.webhook import parse as parse_webhook

__all__ = [
    "API_VERSION", "CODES", "DEFAULT_BASE_URL", "TEXT_MAX", "BadPayload", "BadSignature", "Change", "CodeSpec",
    "Credentials", "Inbound", "InvalidRequest", "PermanentError", "SendResult", "Status", "TransientError",
    "WhatsAppClient", "WhatsAppError", "base_url_from_env", "parse_webhook", "signature", "spec", "to_whatsapp",
    "verify_signature",
]
