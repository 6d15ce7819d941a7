"""payment: iyzico payments through its hosted checkout form (card data never reaches
Köprü): start a payment, the payer's return, iyzico's merchant notification, refunds and
cancellations, and on its schedule (catalog `schedules`) the settling of payments whose
callback never came.

    functions-framework --asgi --source functions/payment/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import Call, EventCall, Function, created, json_response

fn = Function("payment", max_body_bytes=128 * 1024)


def _id(call: Call) -> UUID:
    return call.path_id("payment.not_found")


@fn.route("POST", "/payments", returns="kopru.payments.models:PaymentOut", summary="Start a payment: iyzico's hosted checkout form for the basket; answers the "
                                       "page URL to send the payer to (payments:write). Optional Idempotency-Key",
          body="kopru.payments.models:PaymentIn", responses=(201, 401, 403, 409, 413, 415, 422, 429, 503),
          links={"read": ("GET /payments/{id}", {"id": "$response.body#/id"}),
                 "refund": ("POST /payments/{id}/refunds", {"id": "$response.body#/id"}),
                 "cancel": ("POST /payments/{id}/cancel", {"id": "$response.body#/id"})},
          scope="payments:write", tenant="token")
async def create(call: Call):
    from kopru.payments.models import PaymentIn
    from kopru.payments.service import create_payment

    body = await call.json(PaymentIn)
    status, out = await create_payment(call.tenant, body, call.headers.get("idempotency-key"))
    return created(out, status, f"/payments/{out['id']}")


@fn.route("POST", "/payments/3ds", returns="kopru.payments.models:ThreeDSPaymentOut",
          summary="Start a direct 3-D Secure payment: the card goes to iyzico once and is never kept; answers "
                  "threeds_html, the bank's page to show the payer (payments:write). Optional Idempotency-Key",
          body="kopru.payments.models:ThreeDSPaymentIn", responses=(201, 401, 403, 409, 413, 415, 422, 429, 503),
          links={"read": ("GET /payments/{id}", {"id": "$response.body#/id"}),
                 "refund": ("POST /payments/{id}/refunds", {"id": "$response.body#/id"}),
                 "cancel": ("POST /payments/{id}/cancel", {"id": "$response.body#/id"})},
          scope="payments:write", tenant="token")
async def create_3ds(call: Call):
    from kopru.payments.models import ThreeDSPaymentIn
    from kopru.payments.service import create_payment

    body = await call.json(ThreeDSPaymentIn)
    status, out = await create_payment(call.tenant, body, call.headers.get("idempotency-key"), card=body.card)
    return created(out, status, f"/payments/{out['id']}")


@fn.route("GET", "/payments/{id}", returns="kopru.payments.models:PaymentOut", summary="A payment's status, amounts, history and refunds (payments:read)",
          responses=(200, 401, 403, 404, 429), scope="payments:read", tenant="token",
          links={"refund": ("POST /payments/{id}/refunds", {"id": "$response.body#/id"}),
                 "cancel": ("POST /payments/{id}/cancel", {"id": "$response.body#/id"})})
async def read(call: Call):
    from kopru.payments.service import get_payment

    return await get_payment(call.tenant, _id(call))


@fn.route("POST", "/payments/{id}/refunds", returns="kopru.payments.models:RefundOut", summary="Refund part or all of a paid payment (payments:write). "
                                                   "Optional Idempotency-Key",
          body="kopru.payments.models:RefundIn", responses=(202, 401, 403, 404, 409, 413, 415, 422, 429, 503),
          links={"payment": ("GET /payments/{id}", {"id": "$response.body#/payment_id"})},
          scope="payments:write", tenant="token")
async def refund(call: Call):
    from kopru.payments.models import RefundIn
    from kopru.payments.service import request_refund

    body = await call.json(RefundIn)
    status, out = await request_refund(call.tenant, _id(call), body, call.client_ip or "127.0.0.1",
                                       call.headers.get("idempotency-key"))
    return json_response(out, status)


@fn.route("POST", "/payments/{id}/cancel", returns="kopru.payments.models:PaymentOut", summary="Cancel a paid payment on the day it was made (payments:write)",
          responses=(200, 401, 403, 404, 409, 429, 503), scope="payments:write", tenant="token")
async def cancel(call: Call):
    from kopru.payments.service import request_cancel

    return await request_cancel(call.tenant, _id(call), call.client_ip or "127.0.0.1")


@fn.route("POST", "/payments/{id}/callback",
          summary="The payer's browser back from iyzico's page (form field token) or the bank's 3-D Secure page "
                  "(status, paymentId, conversationId, mdStatus, signature); the payment is retrieved from (or, after "
                  "3-D Secure, charged at) iyzico, then the browser is sent to return_url with ?payment_id=&status=",
          public=True, form="kopru.payments.models:CallbackForm", responses=(303, 400, 403, 404, 413, 415))
async def callback(call: Call):
    from starlette.responses import Response

    from kopru.payments.service import browser_callback

    form = await call.form()  # checked; a hosted form's token is not trusted (the payment's own is retrieved)
    where = await browser_callback(call.path_params["id"], call.query.get("tenant"), call.query.get("sig"), form)
    return Response(status_code=303, headers={"Location": where, "Cache-Control": "no-store"})


@fn.route("POST", "/payments/notifications", returns="kopru.payments.models:NotificationTaken",
          summary="iyzico's merchant notification (X-IYZ-SIGNATURE-V3); the URL with ?tenant=&sig= is given by "
                  "GET /tenants/{id}/integrations/iyzico",
          public=True, responses=(200, 400, 403, 409, 413))
async def notified(call: Call):
    from kopru.payments.service import notification

    out = await notification(call.query.get("tenant"), call.query.get("sig"), await call.body(),
                             call.headers.get("x-iyz-signature-v3"))
    return json_response(out, 200)


@fn.on_event("kopru.payment.settle_poll.v1")
async def settle_poll(ev: EventCall):
    from kopru.payments.service import settle_stalled

    return json_response(await settle_stalled(), 200)


async def handle(request):
    return await fn(request)
