"""iyzico (payment gateway) connector: the REST client (IYZWSv2, verified response
signatures), iyzico's code table, and the merchant-notification and 3-D Secure callback
verifiers. The simulator is `kopru_tools.simulators.iyzico`.

    from kopru.connectors import iyzico
    async with iyzico.IyzicoClient(api_key, secret_key) as c:      # base URL from IYZICO_BASE_URL
        init = await c.checkout_form_initialize(request)           # the iyzico JSON request, built by the caller
        # send the buyer to init.payment_page_url; iyzico POSTs `token` to the callbackUrl
        pay = await c.checkout_form_retrieve(init.token)           # Payment; pay.paid / pay.pending / pay.failed
        tds = await c.threeds_initialize(request_with_card)        # ThreeDSInit(payment_id, conversation_id, html)
        cb = iyzico.verify_threeds_callback(secret_key, form)      # the bank's POST to the callbackUrl
        pay = await c.threeds_auth(tds.payment_id, conversation_id=conv)   # Declined when the bank refuses
        pay = await c.payment_detail(conversation_id=conv)         # or payment_id=...; PaymentNotFound
        await c.refund(pay.payment_id, Decimal("10.50"), conversation_id=conv, ip=ip)
        await c.cancel(pay.payment_id, conversation_id=conv, ip=ip)
    note = iyzico.verify_notification(secret_key, raw_body, request.headers.get("X-IYZ-SIGNATURE-V3"))

Errors: `PermanentError` (do not retry; `Declined` for a bank or fraud refusal with
`.bank_code`, `AuthError` for refused keys, `PaymentNotFound`), `TransientError` (retry
with backoff; `.ambiguous` when a side-effecting call may have been taken: iyzico has no
idempotency key, so ask `payment_detail` before sending again; `SignatureMismatch` is
always ambiguous), `InvalidRequest` (refused before sending), `BadNotification` (a
notification or callback that does not verify: answer 4xx, change nothing). Codes look like
"iyzico.10051", "iyzico.50000", "iyzico.timeout"; `kopru.connectors.words.describe(code)`
gives their Turkish and English text.

httpx is imported when a client is made, not when this package is imported.
"""

from kopru.connectors.iyzico.client import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    PATHS,
    SANDBOX_BASE_URL,
    Cancellation,
    CheckoutFormInit,
    IyzicoClient,
    Payment,
    Refund,
    RetryPolicy,
    ThreeDSInit,
    base_url_from_env,
    new_random_key,
    payment_from_response,
)
from kopru.connectors.iyzico.codes import CODES, ENDPOINTS
from kopru.connectors.iyzico.errors import (
    AuthError,
    BadNotification,
    Declined,
    InvalidRequest,
    IyzicoError,
    PaymentNotFound,
    PermanentError,
    SignatureMismatch,
    TransientError,
)
from kopru.connectors.iyzico.signatures import (
    SIGNATURE_HEADER,
    Notification,
    ThreeDSCallback,
    iyzws_v2_header,
    notification_signature,
    response_signature,
    verify_notification,
    verify_threeds_callback,
)

__all__ = [
    "BASE_URL_ENV", "CODES", "DEFAULT_BASE_URL", "ENDPOINTS", "PATHS", "SANDBOX_BASE_URL", "SIGNATURE_HEADER",
    "AuthError", "BadNotification", "Cancellation", "CheckoutFormInit", "Declined", "InvalidRequest", "IyzicoClient",
    "IyzicoError", "Notification", "Payment", "PaymentNotFound", "PermanentError", "Refund", "RetryPolicy",
    "SignatureMismatch", "ThreeDSCallback", "ThreeDSInit", "TransientError", "base_url_from_env", "iyzws_v2_header",
    "new_random_key", "notification_signature", "payment_from_response", "response_signature", "verify_notification",
    "verify_threeds_callback",
]
