"""payment-chain: what follows a payment, opt-in per tenant (iyzico settings): the invoice
for a successful payment (e-Arşiv, or e-Fatura to a registered buyer, through
einvoice-submit), the SMS with the invoice's link once it is accepted, and a note on the
payment when money goes back (kopru.payment.chain).

    functions-framework --asgi --source functions/payment_chain/main.py --target handle
"""

from uuid import UUID

from kopru.runtime import EventCall, Function

fn = Function("payment-chain")


@fn.on_event("kopru.payment.succeeded.v1")
async def paid(ev: EventCall):
    from kopru.payments.chain import invoice_payment

    await invoice_payment(ev.tenant_id, UUID(ev.data["payment_id"]))


@fn.on_event("kopru.einvoice.accepted.v1")
async def accepted(ev: EventCall):
    from kopru.payments.chain import text_invoice

    await text_invoice(ev.tenant_id, UUID(ev.data["einvoice_id"]))


@fn.on_event("kopru.payment.refunded.v1")
async def refunded(ev: EventCall):
    from kopru.payments.chain import money_back

    await money_back(ev.tenant_id, UUID(ev.data["payment_id"]))


@fn.on_event("kopru.payment.cancelled.v1")
async def cancelled(ev: EventCall):
    from kopru.payments.chain import money_back

    await money_back(ev.tenant_id, UUID(ev.data["payment_id"]))


async def handle(request):
    return await fn(request)
