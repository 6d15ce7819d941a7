"""The chain an SME runs, opt-in per tenant (iyzico settings `invoice`, `invoice_sms`):

    kopru.payment.succeeded.v1 -> the invoice for the basket (e-Arşiv to a buyer who is not
    an e-Fatura user, e-Fatura TEMELFATURA to one who is), numbered in the tenant's series,
    validated by GİB's rules, sent through Nilvera (einvoice-submit)
    kopru.einvoice.accepted.v1 (of a payment's invoice) -> an SMS to the buyer with a signed,
    expiring link to the invoice's own human-readable view

Each step happens once: the invoice is asked for under the Idempotency-Key
`payment-<id>` (a redelivered event replays the same invoice) and linked to the payment
only while the payment has none; the SMS under `invoice-sms-<invoice id>`. A step that
cannot happen (no Nilvera or Netgsm settings, the buyer erased, no phone) is written into
the payment's history with its code, never silently skipped.

Basket prices are what the buyer paid, KDV included (retail), at the tenant's `kdv_rate`
(iyzico settings, 20 by default): each line's net is chosen so that net + KDV, rounded as
GİB rounds, is the line's price (exactly when such a net exists; otherwise a kuruş under,
never over: `net_for`).

Refunds and cancellations: the invoice is not changed by Köprü. For an e-Arşiv invoice to a
final consumer a full return is documented by cancelling the invoice at the integrator and
a partial one by the seller's expense slip (gider pusulası); for an e-Fatura the buyer
issues the return (IADE) invoice. Köprü does not issue either yet: the payment's history
says so with `invoice.return_manual` (Turkish and English), for the tenant to act on.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from kopru.errors import KopruError

ACTOR = "event:payment-chain"
CENT = Decimal("0.01")


def net_for(gross: Decimal, rate: Decimal) -> Decimal:
    """The net amount whose KDV at `rate` (%), rounded half-up to kuruş as GİB rounds each
    line, brings it to `gross` exactly; when no net does (at 20 % about one price in six
    cannot be reached: the rounded KDV steps a kuruş every five), the largest net whose
    total stays under `gross`: the buyer is never invoiced more than was paid."""
    from kopru.einvoice.models import q2

    base = q2(gross * 100 / (100 + rate))
    under = None
    for k in (-2, -1, 0, 1, 2):
        net = base + k * CENT
        if net < 0:
            continue
        total = net + q2(net * rate / 100)
        if total == gross:
            return net
        if total < gross:
            under = net
    return under if under is not None else max(base - 2 * CENT, Decimal(0))


def _ctx(tenant_id: uuid.UUID):
    from kopru.auth.principal import TenantContext

    return TenantContext(tenant_id, ACTOR, None)


async def _note(tenant_id: uuid.UUID, payment_id: uuid.UUID, code: str) -> None:
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        status = (await tx.execute("select status from payments where id = %(id)s", {"id": payment_id})).scalar()
        if status is None:
            return
        seen = (await tx.execute("select id from payment_history where payment_id = %(id)s and code = %(c)s",
                                 {"id": payment_id, "c": code})).first()
        if seen is None:  # a redelivery does not repeat the note
            await tx.conn.queue("insert into payment_history (tenant_id, payment_id, status, code) "
                                "values (%(t)s, %(p)s, %(s)s, %(c)s)",
                                {"t": tenant_id, "p": payment_id, "s": status, "c": code})


async def invoice_payment(tenant_id: uuid.UUID, payment_id: uuid.UUID, *, asked: bool = False) -> str:
    """kopru.payment.succeeded.v1 -> the invoice (once). Returns what happened. `asked`: a
    tenant's workflow asks for it (the `einvoice.issue` action), whatever the iyzico
    settings' `invoice` opt-in says; still one invoice per payment."""
    from kopru.db import tenant_transaction
    from kopru.kvkk import subject_key
    from kopru.kvkk.subjects import decrypt_field
    from kopru.text import now_utc, to_business_time
    from kopru.work.integrations import load

    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        row = (await tx.execute("select * from payments where id = %(id)s", {"id": payment_id})).first()
        if row is None or row.status != "succeeded":
            return "not_paid"
        if row.invoice_id is not None:
            return "done"
        got = await load(tx, "iyzico")
        if got is None or not (asked or got[0].get("invoice")):
            return "off"
        conf = got[0]
        if await load(tx, "nilvera") is None:
            code = "chain.einvoice_not_configured"
            buyer = None
        else:
            code = None
            key = await subject_key(tx, row.subject_id) if row.subject_id else None
            buyer = json.loads(decrypt_field(key, row.subject_id, f"payments.buyer:{row.id}", row.buyer_enc)) \
                if key is not None and row.buyer_enc is not None else None
            if buyer is None:
                code = "kvkk.subject_erased"
    if code is not None:
        await _note(tenant_id, payment_id, code)
        return code
    from kopru.einvoice.models import Invoice
    from kopru.einvoice.service import registered_user, request_invoice

    rate = Decimal(str(conf.get("kdv_rate", 20)))
    registered = await registered_user(buyer["identity_number"]) is not None
    customer = {"tckn": buyer["identity_number"], "first_name": buyer["name"], "family_name": buyer["surname"],
                "address": {"street": buyer["address"][:255], "district": buyer.get("district") or "Merkez",
                            "city": buyer["city"], **({"postal_code": buyer["zip_code"]} if buyer.get("zip_code") else {})},
                "email": buyer["email"], **({"phone": buyer["phone"]} if buyer.get("phone") else {})}
    today = to_business_time(now_utc()).date()
    paid_on = to_business_time(row.paid_at).date() if row.paid_at else today
    body: dict[str, Any] = {
        "profile": "TEMELFATURA" if registered else "EARSIVFATURA", "type": "SATIS",
        "issue_date": today.isoformat(), "customer": customer,
        "lines": [{"name": i["name"][:500], "quantity": "1", "unit_code": "C62",
                   "unit_price": str(net_for(Decimal(i["price"]), rate)), "kdv_rate": str(rate)} for i in row.basket],
        "notes": [f"iyzico ödeme no: {row.iyzico_payment_id}"],
    }
    if not registered and conf.get("website"):
        sale: dict[str, Any] = {"website": conf["website"], "payment_means": "ODEMEARACISI", "payment_agent": "iyzico",
                                "payment_date": paid_on.isoformat()}
        if any(i["type"] == "PHYSICAL" for i in row.basket):
            sale["shipment_date"] = paid_on.isoformat()
            if conf.get("carrier_name"):
                sale["carrier_name"] = conf["carrier_name"]
            if conf.get("carrier_tax_number"):
                sale["carrier_tax_number"] = conf["carrier_tax_number"]
        body["internet_sale"] = sale
    from pydantic import ValidationError

    from kopru.errors import validation_error

    try:
        try:
            invoice = Invoice.model_validate(body)
        except ValidationError as exc:  # the payment's data breaks an invoice rule: that rule's code
            err = validation_error(exc, "tr")
            raise KopruError("chain.invoice_refused" if err.code == "request.validation_failed" else err.code) \
                from None
        out = await request_invoice(_ctx(tenant_id), invoice, f"payment-{payment_id}")
    except KopruError as err:
        if err.http_status >= 500:
            raise  # Nilvera or GİB's list unreachable: redelivered
        await _note(tenant_id, payment_id, err.code)
        return err.code
    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        await tx.execute("update payments set invoice_id = %(inv)s where id = %(id)s and invoice_id is null",
                         {"inv": uuid.UUID(out["id"]), "id": payment_id})
    await _note(tenant_id, payment_id, "chain.invoiced")
    return "invoiced"


async def text_invoice(tenant_id: uuid.UUID, einvoice_id: uuid.UUID) -> str:
    """kopru.einvoice.accepted.v1 of a payment's invoice -> the buyer's SMS with the link (once)."""
    from kopru.db import tenant_transaction
    from kopru.einvoice.view import view_link
    from kopru.kvkk import subject_key
    from kopru.kvkk.subjects import decrypt_field
    from kopru.sms.models import SmsIn
    from kopru.sms.service import request_sms
    from kopru.work.integrations import load

    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        row = (await tx.execute("select * from payments where invoice_id = %(inv)s", {"inv": einvoice_id})).first()
        if row is None:
            return "not_ours"  # an invoice nobody paid through Köprü
        if (await tx.execute("select id from payment_history where payment_id = %(id)s "
                             "and code = 'chain.invoice_texted'", {"id": row.id})).first() is not None:
            return "done"  # texted before (the Idempotency-Key covers a crash before this mark, for 24 hours)
        got = await load(tx, "iyzico")
        if got is None or not got[0].get("invoice_sms"):
            return "off"
        number = (await tx.execute("select number from einvoices where id = %(id)s", {"id": einvoice_id})).scalar()
        shop = (await tx.execute("select name from tenants")).scalar() or ""
        key = await subject_key(tx, row.subject_id) if row.subject_id else None
        buyer = json.loads(decrypt_field(key, row.subject_id, f"payments.buyer:{row.id}", row.buyer_enc)) \
            if key is not None and row.buyer_enc is not None else None
        netgsm = await load(tx, "netgsm")
    if buyer is None:
        code = "kvkk.subject_erased"
    elif not buyer.get("phone"):
        code = "chain.no_phone"
    elif netgsm is None:
        code = "sms.not_configured"
    else:
        code = None
    if code is not None:
        await _note(tenant_id, row.id, code)
        return code
    link = view_link(tenant_id, einvoice_id)
    text = f"{shop[:40]}: {number} numaralı faturanız: {link}"
    try:
        await request_sms(_ctx(tenant_id), SmsIn(to=buyer["phone"], message=text, kind="transactional"),
                          f"invoice-sms-{einvoice_id}")
    except KopruError as err:
        if err.http_status >= 500:
            raise
        await _note(tenant_id, row.id, err.code)
        return err.code
    await _note(tenant_id, row.id, "chain.invoice_texted")
    return "texted"


async def money_back(tenant_id: uuid.UUID, payment_id: uuid.UUID) -> str:
    """kopru.payment.refunded.v1 / cancelled.v1 of an invoiced payment: say what the
    tenant must do about the invoice (see the module's note)."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tenant_id, actor=ACTOR) as tx:
        invoice_id = (await tx.execute("select invoice_id from payments where id = %(id)s",
                                       {"id": payment_id})).scalar()
    if invoice_id is None:
        return "no_invoice"
    await _note(tenant_id, payment_id, "invoice.return_manual")
    return "noted"
