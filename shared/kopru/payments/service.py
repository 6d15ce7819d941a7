"""Payments through iyzico's hosted checkout form: the rules behind the payment function.

The lifecycle of one payment (its id is iyzico's `conversationId` and `basketId`):

    initializing --(checkout form initialised: kopru.work)--> pending --(iyzico says)--> succeeded
          |                                                     |                         |
          +--> failed (iyzico refused, or it was never started) +--> failed               +--> partially_refunded / refunded
                                                                                          +--> cancelled

- **The page.** `POST /payments` records the payment and that a checkout form is owed, in
  one transaction, then initialises the form through `kopru.work.perform` and answers the
  page URL. The card is typed on iyzico's page; Köprü never sees it. An initialisation
  whose answer was lost is simply made again: iyzico has no idempotency key, but a form
  nobody received the URL of cannot be paid, so a second one charges nobody twice.
- **Paid is what iyzico says.** The browser's callback and iyzico's merchant notification
  are only prompts: either makes Köprü *retrieve* the form from iyzico (signature of the
  answer verified by the client) and record what that says, once: the payment row is
  locked and a payment already ended is left alone, so callback and notification arriving
  twice each, at the same moment, give one `kopru.payment.succeeded.v1`. The callback URL
  and the notification URL carry a MAC of the tenant (and payment) under the master key,
  and the notification's `X-IYZ-SIGNATURE-V3` is checked with the tenant's secret key;
  a notification's reference is kept, so a replay is refused.
- **Nothing stalls.** A payment still `pending` when its form has expired (or after
  `payment_settle_after_seconds`) is settled by the schedule: `payment/detail` by our
  conversationId; iyzico knowing no payment for it after the form expired ends it
  `failed` with `payment.expired` (nobody paid).
- **Money back.** Refunds and cancellations are outward calls (kopru.work) with no key at
  iyzico: an attempt whose answer was lost is never blindly repeated; it is parked
  `unknown` for an operator (`kopru work parked`), who reads iyzico's panel.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from kopru.errors import KopruError

INITIALIZED = "kopru.payment.initialized.v1"
SUCCEEDED = "kopru.payment.succeeded.v1"
FAILED = "kopru.payment.failed.v1"
REFUNDED = "kopru.payment.refunded.v1"
CANCELLED = "kopru.payment.cancelled.v1"
SOURCE = "/kopru/payment"

FINAL = frozenset({"succeeded", "failed", "cancelled", "refunded", "partially_refunded", "unknown"})
CALLBACK_PURPOSE = "kopru/iyzico-callback/v1"
NOTIFY_PURPOSE = "kopru/iyzico-notification/v1"
FORM_TTL_S = 30 * 60  # iyzico's checkout form token lives 30 minutes


def _money(d: Decimal | None) -> str | None:
    return None if d is None else f"{Decimal(d):.2f}"


async def _history(tx, payment_id: uuid.UUID, status: str, code: str | None = None) -> None:
    await tx.conn.queue("insert into payment_history (tenant_id, payment_id, status, code) "
                        "values (%(t)s, %(p)s, %(s)s, %(c)s)",
                        {"t": tx.tenant_id, "p": payment_id, "s": status, "c": code})


def callback_url(tenant_id: uuid.UUID | str, payment_id: uuid.UUID | str) -> str:
    """Where iyzico sends the payer's browser back (a form POST with `token`)."""
    from kopru.auth.crypto import push_url

    return push_url(CALLBACK_PURPOSE, f"/function/payment/payments/{payment_id}/callback", tenant_id, payment_id)


def notification_url(tenant_id: uuid.UUID | str) -> str:
    """The merchant notification URL the tenant sets in iyzico's panel."""
    from kopru.auth.crypto import push_url

    return push_url(NOTIFY_PURPOSE, "/function/payment/payments/notifications", tenant_id)


# -- settings -------------------------------------------------------------------------------

def _client(api_key: str, secret_key: str):
    """An iyzico client with a tenant's keys over the process's shared HTTP pool."""
    from kopru.connectors import iyzico
    from kopru.connectors.common import shared_http

    return iyzico.IyzicoClient(api_key, secret_key, http=shared_http())


async def check_iyzico(tenant_id: uuid.UUID, body):
    """The iyzico connection check (kopru.providers): a signed read (`payment/detail` of a
    conversationId nobody used) that iyzico answers "no such payment" only for keys it
    accepts. The chain's parts need their own integrations."""
    from kopru.connectors import iyzico
    from kopru.work.integrations import Checked

    try:
        async with _client(body.api_key, body.secret_key) as c:
            await c.payment_detail(conversation_id=f"kopru-check-{uuid.uuid4()}")
    except iyzico.PaymentNotFound:
        pass
    except iyzico.AuthError:
        raise KopruError("iyzico.credentials_invalid") from None
    except iyzico.TransientError:
        raise KopruError("iyzico.unavailable") from None
    except iyzico.PermanentError:
        raise KopruError("iyzico.credentials_invalid") from None
    return Checked()


def iyzico_view(tenant_id: uuid.UUID, public: dict[str, Any]) -> dict[str, Any]:
    """What a read of the iyzico settings adds: the notification URL for iyzico's panel."""
    return {"notification_url": notification_url(tenant_id)}


# -- POST /payments -------------------------------------------------------------------------

async def create_payment(ctx, body, idempotency_key: str | None, *, card=None) -> tuple[int, dict[str, Any]]:
    """Record the payment, then initialise iyzico's checkout form (kopru.work). 201 with the
    page URL; a repeat with the same Idempotency-Key answers the same payment.

    With `card` (direct 3-D Secure): the 3-D Secure payment is started with the card in
    memory only, and the answer carries the bank's page (`threeds_html`) to show the payer;
    a repeat cannot give that page again (the card is not kept) and answers it null."""
    from psycopg.types.json import Jsonb

    from kopru.kvkk import find_or_create_subject
    from kopru.kvkk.subjects import encrypt_field
    from kopru.work import idempotency
    from kopru.work.integrations import load
    from kopru.work.outward import intend

    material = body.model_dump(mode="json", exclude={"card"})  # the card is never kept, not even as a MAC
    flow = "threeds" if card is not None else "checkout"
    route = "POST /payments/3ds" if card is not None else "POST /payments"
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, route, idempotency_key, material)
        if slot.replay is not None:
            payment_id = uuid.UUID(slot.replay[1]["id"])
            replayed = True
        else:
            replayed = False
            if await load(tx, "iyzico") is None:
                raise KopruError("payment.not_configured")
            ref = await find_or_create_subject(tx, {"tckn": body.buyer.identity_number})
            payment_id = uuid.uuid4()
            buyer = body.buyer.model_dump(mode="json")
            extra = {"billing_address": body.billing_address.model_dump(mode="json") if body.billing_address else None,
                     "shipping_address": body.shipping_address.model_dump(mode="json") if body.shipping_address else None}
            await tx.conn.queue(  # installments: JSON null when none, as the JSONB column took None
                "insert into payments (id, tenant_id, flow, subject_id, status, currency, amount, paid_amount, "
                "basket, buyer_enc, return_url, locale, installments) values (%(id)s, %(t)s, %(flow)s, %(s)s, "
                "'initializing', %(cur)s, %(amount)s, %(paid)s, %(basket)s, %(buyer)s, %(url)s, %(locale)s, "
                "%(inst)s)",
                {"id": payment_id, "t": tx.tenant_id, "flow": flow, "s": ref.id, "cur": body.currency,
                 "amount": body.amount, "paid": body.paid_amount or body.amount,
                 "basket": Jsonb([i.model_dump(mode="json") for i in body.items]),
                 "buyer": encrypt_field(ref.key, ref.id, f"payments.buyer:{payment_id}",
                                        json.dumps({**buyer, **extra}, ensure_ascii=False)),
                 "url": body.return_url, "locale": body.locale,
                 "inst": Jsonb(list(body.installments) if body.installments else None)})
            await _history(tx, payment_id, "initializing")
            starter = ThreeDSStart if card is not None else CheckoutInit
            await intend(tx, starter.provider, starter.operation, str(payment_id))
            await slot.save(201, {"id": str(payment_id)})
    from kopru.work import perform

    effect = ThreeDSStart(ctx.tenant_id, payment_id, card=card) if card is not None \
        else CheckoutInit(ctx.tenant_id, payment_id)
    await perform(ctx.tenant_id, effect, actor=ctx.actor)
    out = await get_payment(ctx, payment_id)
    if card is not None:
        out["threeds_html"] = getattr(effect, "html", None)
    if replayed:
        out["replayed"] = True
    return 201, out


class IyzicoCall:
    """What every side effect at iyzico shares (kopru.work's Effect): the tenant's keys
    (`self.creds`, loaded by `prepare`), the lease, and iyzico's errors said as kopru.work's."""

    provider = "iyzico"
    operation = ""
    unavailable_code = "iyzico.unavailable"
    source = SOURCE

    def __init__(self, tenant_id: uuid.UUID, ref_id: uuid.UUID):
        from kopru.config import settings

        self.tenant_id, self.ref = tenant_id, str(ref_id)
        self.lease_s = settings().outward_lease_seconds
        self.row = None

    async def keys(self, tx):
        """Load the tenant's iyzico keys (`self.creds`) inside `prepare`; the effect's end
        (`payment.not_configured`) when there are none."""
        from kopru.work import Outcome
        from kopru.work.integrations import load

        self.creds = await load(tx, "iyzico")
        return Outcome.failed("payment.not_configured") if self.creds is None else None

    async def ask(self, fn, *, ambiguous: bool | None = None, absent: Any = None):
        """`fn(client)` at iyzico with the tenant's keys: (its answer, None); (None, a failed
        Outcome with iyzico's code) when iyzico refused; (`absent`, None) when iyzico knows no
        such payment and `absent` is given. Raises kopru.work.Transient when iyzico could not
        be reached: ambiguous as iyzico's error says, or as `ambiguous` says (a reconciling read)."""
        from kopru.connectors import iyzico
        from kopru.work import Outcome, Transient

        try:
            async with _client(self.creds[1]["api_key"], self.creds[1]["secret_key"]) as c:
                return await fn(c), None
        except iyzico.TransientError as err:
            raise Transient(err.code, ambiguous=err.ambiguous if ambiguous is None else ambiguous) from None
        except iyzico.PaymentNotFound as err:
            if absent is not None:
                return absent, None
            return None, Outcome.failed(err.code)
        except iyzico.PermanentError as err:
            return None, Outcome.failed(err.code)


class CheckoutInit(IyzicoCall):
    """iyzico's hosted checkout form for one payment, as an outward call (kopru.work).

    Reconcile: iyzico cannot be asked whether a form was made, and needs not be: a form
    whose answer (token and URL) never reached Köprü never reached a payer either, so it
    cannot be paid; the form is made again (None). A payment nobody finished starting for
    longer than a form lives is ended `failed` (`payment.expired`)."""

    operation = "checkout.initialize"

    def __init__(self, tenant_id: uuid.UUID, payment_id: uuid.UUID):
        super().__init__(tenant_id, payment_id)
        self.payment_id = payment_id

    async def prepare(self, tx, *, first: bool):
        from kopru.kvkk import subject_key
        from kopru.kvkk.subjects import decrypt_field
        from kopru.text import now_utc
        from kopru.work import Outcome

        row = (await tx.execute("select * from payments where id = %(id)s for update",
                                {"id": self.payment_id})).first()
        if row is None:
            return Outcome.failed("payment.not_found")
        if row.status != "initializing":
            return Outcome("succeeded" if row.status != "failed" else "failed", "already_recorded")
        self.row = row
        if now_utc() - row.created_at > timedelta(seconds=FORM_TTL_S):
            return Outcome.failed("payment.expired")
        missing = await self.keys(tx)
        if missing is not None:
            return missing
        key = await subject_key(tx, row.subject_id) if row.subject_id else None
        if key is None:
            return Outcome.failed("kvkk.subject_erased")
        self.buyer = json.loads(decrypt_field(key, row.subject_id, f"payments.buyer:{row.id}", row.buyer_enc))
        return None

    def request(self) -> dict[str, Any]:
        """The checkout form request as iyzico documents it (CreateCheckoutFormInitializeRequest)."""
        row, b = self.row, self.buyer
        billing = b.get("billing_address") or {"contact_name": f"{b['name']} {b['surname']}", "address": b["address"],
                                                "city": b["city"], "country": b["country"], "zip_code": b.get("zip_code")}
        shipping = b.get("shipping_address") or billing

        def addr(a: dict[str, Any]) -> dict[str, Any]:
            out = {"contactName": a["contact_name"], "city": a["city"], "country": a["country"], "address": a["address"]}
            if a.get("zip_code"):
                out["zipCode"] = a["zip_code"]
            return out

        buyer = {"id": str(row.subject_id), "name": b["name"], "surname": b["surname"],
                 "identityNumber": b["identity_number"], "email": b["email"], "registrationAddress": b["address"],
                 "city": b["city"], "country": b["country"], "ip": b["ip"]}
        if b.get("phone"):
            buyer["gsmNumber"] = b["phone"]
        if b.get("zip_code"):
            buyer["zipCode"] = b["zip_code"]
        req: dict[str, Any] = {
            "locale": row.locale, "conversationId": self.ref, "price": _money(row.amount),
            "paidPrice": _money(row.paid_amount), "currency": row.currency, "basketId": self.ref,
            "paymentGroup": "PRODUCT", "callbackUrl": callback_url(self.tenant_id, self.ref),
            "buyer": buyer, "billingAddress": addr(billing),
            "basketItems": [{"id": i["id"], "name": i["name"], "category1": i["category"], "itemType": i["type"],
                             "price": _money(Decimal(i["price"]))} for i in row.basket],
        }
        if any(i["type"] == "PHYSICAL" for i in row.basket):
            req["shippingAddress"] = addr(shipping)
        if row.installments:
            req["enabledInstallments"] = list(row.installments)
        return req

    async def call(self):
        from kopru.work import Outcome

        init, refused = await self.ask(lambda c: c.checkout_form_initialize(self.request()))
        return refused or Outcome.ok(init.token, detail=init)

    async def reconcile(self, *, quiet_for: float):
        return None  # see the class's note: an unseen form cannot be paid; make it again

    async def record(self, tx, outcome) -> None:
        from kopru.text import now_utc

        if self.row is None or outcome.code == "already_recorded":
            return
        if outcome.state == "succeeded":
            init = outcome.detail
            await tx.conn.queue(
                "update payments set status = 'pending', iyzico_token = %(token)s, page_url = %(url)s, "
                "token_expires_at = %(exp)s, updated_at = now() where id = %(id)s",
                {"token": init.token, "url": init.payment_page_url,
                 "exp": _expiry(init.token_expire_time, now_utc()), "id": self.payment_id})
            await _history(tx, self.payment_id, "pending")
            await tx.emit(INITIALIZED, {"payment_id": self.ref, "amount": _money(self.row.amount),
                                        "paid_amount": _money(self.row.paid_amount), "currency": self.row.currency},
                          subject=self.ref, source=SOURCE)
            return
        await _fail(tx, self.payment_id, outcome.code or "payment.failed")


class ThreeDSStart(CheckoutInit):
    """A direct 3-D Secure payment started at iyzico (kopru.work), the card in memory only.

    Reconcile: iyzico is asked by our conversationId. A payment it holds was started but its
    bank page never reached us (nothing is charged before the payer passes 3-D Secure and
    Köprü calls auth): ended `payment.threeds_lost`. None held: it was never taken, and it
    is started again only by the holder of the card; anyone else (the sweep) ends it
    `payment.card_gone`."""

    operation = "threeds.initialize"

    def __init__(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, card=None):
        super().__init__(tenant_id, payment_id)
        self.card, self.html = card, None

    def request(self) -> dict[str, Any]:
        req = super().request()
        c = self.card
        req["paymentCard"] = {"cardHolderName": c.holder_name, "cardNumber": c.number, "expireMonth": c.expire_month,
                              "expireYear": c.expire_year, "cvc": c.cvc, "registerCard": 0}
        req["installment"] = 1
        req["paymentChannel"] = "WEB"
        return req

    async def call(self):
        from kopru.work import Outcome

        if self.card is None:
            return Outcome.failed("payment.card_gone")
        try:
            tds, refused = await self.ask(lambda c: c.threeds_initialize(self.request()))
        finally:
            self.card = None  # used once
        if refused:
            return refused
        self.html = tds.html
        return Outcome.ok(tds.payment_id, detail=tds)

    async def reconcile(self, *, quiet_for: float):
        from kopru.work import Outcome

        found, refused = await self.ask(lambda c: c.payment_detail(conversation_id=self.ref), ambiguous=True,
                                        absent=False)
        if found is False:
            return None  # iyzico never took it
        return refused or Outcome.failed("payment.threeds_lost")

    async def record(self, tx, outcome) -> None:
        from kopru.text import now_utc

        if self.row is None or outcome.code == "already_recorded":
            return
        if outcome.state == "succeeded":
            await tx.conn.queue(
                "update payments set status = 'pending', iyzico_payment_id = %(pay)s, token_expires_at = %(exp)s, "
                "updated_at = now() where id = %(id)s",
                {"pay": outcome.external_ref, "exp": now_utc() + timedelta(seconds=FORM_TTL_S),
                 "id": self.payment_id})
            await _history(tx, self.payment_id, "pending")
            await tx.emit(INITIALIZED, {"payment_id": self.ref, "amount": _money(self.row.amount),
                                        "paid_amount": _money(self.row.paid_amount), "currency": self.row.currency},
                          subject=self.ref, source=SOURCE)
            return
        await _fail(tx, self.payment_id, outcome.code or "payment.failed")


class ThreeDSAuth(IyzicoCall):
    """Charging a 3-D Secure payment once its payer passed the bank's check (kopru.work).

    Reconcile: iyzico's `payment/detail` by the payment id: paid or failed is recorded as
    it says; still waiting for auth (INIT_THREEDS / CALLBACK_THREEDS) proves auth was never
    taken, and it is called."""

    operation = "threeds.auth"

    def __init__(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, conversation_data: str | None = None):
        super().__init__(tenant_id, payment_id)
        self.payment_id, self.conversation_data = payment_id, conversation_data

    async def prepare(self, tx, *, first: bool):
        from kopru.work import Outcome

        row = (await tx.execute("select * from payments where id = %(id)s for update",
                                {"id": self.payment_id})).first()
        if row is None:
            return Outcome.failed("payment.not_found")
        if row.status != "pending" or row.flow != "threeds" or not row.iyzico_payment_id:
            return Outcome("succeeded" if row.status == "succeeded" else "failed", "already_recorded")
        self.row = row
        return await self.keys(tx)

    def _outcome(self, pay):
        from kopru.work import Outcome

        verdict, code = _verdict(self.row, pay)
        if verdict == "succeeded":
            return Outcome.ok(str(pay.payment_id), detail=pay)
        if verdict == "failed":
            return Outcome.failed(code)
        if verdict == "unknown":
            return Outcome.unknown(code)
        return None

    async def call(self):
        from kopru.work import Outcome

        pay, refused = await self.ask(lambda c: c.threeds_auth(
            self.row.iyzico_payment_id, conversation_id=self.ref, conversation_data=self.conversation_data,
            locale=self.row.locale))
        return refused or self._outcome(pay) or Outcome.unknown("payment.mismatch")

    async def reconcile(self, *, quiet_for: float):
        pay, refused = await self.ask(lambda c: c.payment_detail(payment_id=self.row.iyzico_payment_id),
                                      ambiguous=True)
        return refused or self._outcome(pay)

    async def record(self, tx, outcome) -> None:
        if self.row is None or outcome.code == "already_recorded":
            return
        locked = (await tx.execute("select * from payments where id = %(id)s for update",
                                   {"id": self.payment_id})).first()
        if locked is None or locked.status != "pending":
            return  # iyzico's notification, settled first, recorded it: once
        if outcome.state == "succeeded":
            await _succeed(tx, locked, outcome.detail)
        elif outcome.state == "unknown":
            await _park(tx, locked, outcome.code or "payment.mismatch")
        else:
            await _fail(tx, self.payment_id, outcome.code or "payment.failed")


def _expiry(seconds: Any, now) -> Any:
    try:
        s = int(seconds)
    except (TypeError, ValueError):
        s = FORM_TTL_S
    return now + timedelta(seconds=max(60, min(s, 24 * 3600)))


async def _fail(tx, payment_id: uuid.UUID, code: str) -> None:
    from kopru import metrics

    await tx.conn.queue("update payments set status = 'failed', error_code = %(c)s, updated_at = now() "
                        "where id = %(id)s", {"c": code, "id": payment_id})
    await _history(tx, payment_id, "failed", code)
    await tx.emit(FAILED, {"payment_id": str(payment_id), "code": code}, subject=str(payment_id), source=SOURCE)
    metrics.payment(tx.tenant_id, "failed")


# -- reading --------------------------------------------------------------------------------

def _catalog():
    from kopru.errors import CATALOG

    return CATALOG


async def get_payment(ctx, payment_id: uuid.UUID) -> dict[str, Any]:
    """A payment as the tenant sees it: ids, amounts, status, history, refunds; never the buyer."""
    from kopru.connectors.words import describe

    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from payments where id = %(id)s", {"id": payment_id})).first()
        if row is None:
            raise KopruError("payment.not_found")
        hist = (await tx.execute("select status, code, at from payment_history where payment_id = %(id)s order by id",
                                 {"id": payment_id})).all()
        refunds = (await tx.execute("select * from payment_refunds where payment_id = %(id)s order by created_at",
                                    {"id": payment_id})).all()
    out = {
        "id": str(row.id), "status": row.status, "currency": row.currency, "amount": _money(row.amount),
        "paid_amount": _money(row.paid_amount), "refunded_amount": _money(row.refunded_amount),
        "error_code": row.error_code, "error": describe(row.error_code),
        "iyzico_payment_id": row.iyzico_payment_id, "invoice_id": str(row.invoice_id) if row.invoice_id else None,
        "created_at": row.created_at, "paid_at": row.paid_at,
        "history": [{"status": r.status, "code": r.code, "at": r.at,
                     **({"words": describe(r.code)} if r.code in _catalog() else {})} for r in hist],
        "refunds": [{"id": str(r.id), "amount": _money(r.amount), "status": r.status, "error_code": r.error_code,
                     "error": describe(r.error_code), "created_at": r.created_at} for r in refunds],
    }
    if row.status == "pending":
        out["payment_page_url"] = row.page_url
        out["token_expires_at"] = row.token_expires_at
    return out


# -- settling: what iyzico says happened ----------------------------------------------------

async def settle(tenant_id: uuid.UUID, payment_id: uuid.UUID, *, actor: str, by_detail: bool = False) -> str:
    """Ask iyzico what became of a payment and record it once. Returns the payment's
    status afterwards ("pending" when iyzico says it is not finished yet). Raises
    KopruError("iyzico.unavailable") when iyzico could not be asked."""
    from kopru.connectors import iyzico
    from kopru.db import tenant_transaction
    from kopru.text import now_utc
    from kopru.work.integrations import load

    async with tenant_transaction(tenant_id, actor=actor) as tx:
        row = (await tx.execute("select * from payments where id = %(id)s", {"id": payment_id})).first()
        if row is None:
            raise KopruError("payment.not_found")
        if row.status != "pending":
            return row.status
        creds = await load(tx, "iyzico")
    if creds is None:
        return row.status
    expired = row.token_expires_at is not None and row.token_expires_at < now_utc()
    try:
        async with _client(creds[1]["api_key"], creds[1]["secret_key"]) as c:
            if by_detail or not row.iyzico_token:
                pay = await c.payment_detail(conversation_id=str(payment_id))
            else:
                pay = await c.checkout_form_retrieve(row.iyzico_token, conversation_id=str(payment_id),
                                                     locale=row.locale)
    except iyzico.PaymentNotFound:
        pay = None
    except iyzico.TransientError:
        raise KopruError("iyzico.unavailable") from None
    except iyzico.PermanentError as err:
        from kopru.logs import get_logger

        get_logger("kopru.payments").warning("payment.settle_refused", extra={"fields": {
            "payment_id": str(payment_id), "code": err.code}})
        raise KopruError("iyzico.unavailable") from None
    verdict, code = _verdict(row, pay)
    if verdict == "pending":
        if not expired:
            return "pending"
        verdict, code = "failed", "payment.expired"
    async with tenant_transaction(tenant_id, actor=actor) as tx:
        locked = (await tx.execute("select * from payments where id = %(id)s for update", {"id": payment_id})).first()
        if locked is None or locked.status != "pending":
            return locked.status if locked else "failed"  # somebody recorded it first: once
        if verdict == "succeeded":
            await _succeed(tx, locked, pay)
        elif verdict == "unknown":
            await _park(tx, locked, code)
        else:
            await _fail(tx, payment_id, code)
    return verdict


def _verdict(row, pay) -> tuple[str, str | None]:
    """What iyzico's answer says of our payment: succeeded, failed (with a code), pending
    (not paid yet), or unknown (paid, but not what we asked: an operator looks)."""
    if pay is None:
        return "pending", None
    if pay.conversation_id not in (None, "", str(row.id)):
        return "unknown", "payment.mismatch"
    if pay.paid:
        if pay.under_review:
            return "pending", None  # iyzico's fraud check holds it: the schedule asks again
        if pay.price != row.amount or (pay.paid_price or 0) < row.amount or \
                (pay.currency and pay.currency != row.currency):
            return "unknown", "payment.mismatch"
        return "succeeded", None
    if pay.failed:
        return "failed", f"iyzico.{pay.error_code}" if pay.error_code else "payment.declined"
    return "pending", None


async def _succeed(tx, row, pay) -> None:
    from psycopg.types.json import Jsonb

    from kopru import metrics

    tx_items = [{"item_id": i[0], "payment_transaction_id": i[1], "paid_price": _money(Decimal(str(i[2])))}
                for i in (pay.item_transactions or ())]
    await tx.conn.queue(
        "update payments set status = 'succeeded', iyzico_payment_id = %(pay)s, item_transactions = %(items)s, "
        "paid_amount = %(paid)s, paid_at = now(), updated_at = now() where id = %(id)s",
        {"pay": str(pay.payment_id), "items": Jsonb(tx_items), "paid": pay.paid_price, "id": row.id})
    await _history(tx, row.id, "succeeded")
    await tx.emit(SUCCEEDED, {"payment_id": str(row.id), "iyzico_payment_id": str(pay.payment_id),
                              "amount": _money(row.amount), "paid_amount": _money(pay.paid_price),
                              "currency": row.currency}, subject=str(row.id), source=SOURCE)
    metrics.payment(tx.tenant_id, "succeeded")


async def _park(tx, row, code: str) -> None:
    await tx.conn.queue("update payments set status = 'unknown', error_code = %(c)s, updated_at = now() "
                        "where id = %(id)s", {"c": code, "id": row.id})
    await _history(tx, row.id, "unknown", code)
    await tx.emit("kopru.work.outcome_unknown.v1", {"provider": "iyzico", "operation": "checkout.settle",
                                                   "ref": str(row.id), "code": code},
                  subject=str(row.id), source=SOURCE)


async def browser_callback(payment_id: str, tenant: str | None, sig: str | None,
                           form: dict[str, str] | None = None) -> str:
    """The payer's browser back from iyzico (form POST with `token`, which is not
    trusted: the payment's own token is retrieved). Returns the tenant's return URL with
    ?payment_id=&status= for a 303."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    from kopru.auth.crypto import url_mac_valid
    from kopru.db import tenant_transaction

    try:
        tid, pid = uuid.UUID(tenant or ""), uuid.UUID(payment_id)
    except ValueError:
        raise KopruError("payment.callback_forbidden") from None
    if not url_mac_valid(sig, CALLBACK_PURPOSE, str(tid), str(pid)):
        raise KopruError("payment.callback_forbidden")
    async with tenant_transaction(tid, actor="iyzico:callback") as tx:
        flow = (await tx.execute("select flow from payments where id = %(id)s", {"id": pid})).scalar()
    try:
        if flow == "threeds":
            await _threeds_return(tid, pid, form or {})
        else:
            await settle(tid, pid, actor="iyzico:callback")
    except KopruError as err:
        if err.code != "iyzico.unavailable":
            raise
        # the schedule settles it; the payer is not kept waiting on iyzico
    async with tenant_transaction(tid, actor="iyzico:callback") as tx:
        row = (await tx.execute("select return_url, status from payments where id = %(id)s", {"id": pid})).first()
    if row is None:
        raise KopruError("payment.not_found")
    parts = urlsplit(row.return_url)
    q = (parts.query + "&" if parts.query else "") + urlencode({"payment_id": str(pid), "status": row.status})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))


async def _threeds_return(tid: uuid.UUID, pid: uuid.UUID, form: dict[str, str]) -> None:
    """The bank's 3-D Secure answer through the payer's browser (signed by iyzico with the
    tenant's secret key): authenticated -> auth through kopru.work (once, however often the
    browser posts); not -> the payment fails with `payment.threeds_failed`."""
    from kopru.connectors import iyzico
    from kopru.db import tenant_transaction
    from kopru.work import perform
    from kopru.work.integrations import load

    async with tenant_transaction(tid, actor="iyzico:callback") as tx:
        creds = await load(tx, "iyzico")
        row = (await tx.execute("select iyzico_payment_id from payments where id = %(id)s", {"id": pid})).first()
    if creds is None or row is None:
        raise KopruError("payment.callback_forbidden")
    try:
        cb = iyzico.verify_threeds_callback(creds[1]["secret_key"], form)
    except iyzico.BadNotification:
        raise KopruError("payment.callback_forbidden") from None
    if cb.conversation_id not in (None, str(pid)) or cb.payment_id != row.iyzico_payment_id:
        raise KopruError("payment.callback_forbidden")
    if not cb.authenticated:
        async with tenant_transaction(tid, actor="iyzico:callback") as tx:
            locked = (await tx.execute("select status from payments where id = %(id)s for update",
                                       {"id": pid})).scalar()
            if locked == "pending":
                await _fail(tx, pid, "payment.threeds_failed")
        return
    await perform(tid, ThreeDSAuth(tid, pid, cb.conversation_data), actor="iyzico:callback")


async def notification(tenant: str | None, sig: str | None, raw: bytes, signature: str | None) -> dict[str, Any]:
    """iyzico's merchant notification (X-IYZ-SIGNATURE-V3 over the tenant's secret key).
    Verified, refused when replayed, then the payment is settled by asking iyzico."""
    import hashlib

    from kopru.auth.crypto import url_mac_valid
    from kopru.connectors import iyzico
    from kopru.db import tenant_transaction
    from kopru.work.integrations import load

    try:
        tid = uuid.UUID(tenant or "")
    except ValueError:
        raise KopruError("payment.notification_forbidden") from None
    if not url_mac_valid(sig, NOTIFY_PURPOSE, str(tid)):
        raise KopruError("payment.notification_forbidden")
    async with tenant_transaction(tid, actor="iyzico:notification") as tx:
        creds = await load(tx, "iyzico")
    if creds is None:
        raise KopruError("payment.notification_forbidden")
    try:
        note = iyzico.verify_notification(creds[1]["secret_key"], raw, signature)
    except iyzico.BadNotification:
        raise KopruError("payment.notification_forbidden") from None
    try:
        pid = uuid.UUID(note.conversation_id or "")
    except ValueError:
        return {"matched": False}  # not one of ours (another shop on the same merchant): nothing to do
    reference = (note.reference_code or hashlib.sha256(raw).hexdigest())[:200]
    async with tenant_transaction(tid, actor="iyzico:notification") as tx:
        if (await tx.execute("select reference from payment_notifications where reference = %(r)s",
                             {"r": reference})).first() is not None:
            raise KopruError("payment.notification_replayed")  # taken before: not even iyzico is asked again
    try:
        status = await settle(tid, pid, actor="iyzico:notification", by_detail=not note.token)
    except KopruError as err:
        if err.code != "payment.not_found":
            raise
        return {"matched": False}  # a payment of another shop on the same merchant: nothing of ours
    async with tenant_transaction(tid, actor="iyzico:notification") as tx:  # two at once: the second is the replay
        fresh = (await tx.execute("insert into payment_notifications (tenant_id, reference, payment_id) "
                                  "values (%(t)s, %(r)s, %(p)s) on conflict do nothing returning reference",
                                  {"t": tid, "r": reference, "p": pid})).first()
    if fresh is None:
        raise KopruError("payment.notification_replayed")
    return {"matched": True, "payment_id": str(pid), "status": status}


# -- the schedule ---------------------------------------------------------------------------

async def settle_stalled() -> dict[str, int]:
    """Payments whose callback never came: every `pending` one untouched for
    `payment_settle_after_seconds` (or whose form has expired) is settled by
    `payment/detail` by conversationId; then stalled outward calls (initialisations,
    refunds, cancellations) are taken over through kopru.work."""
    from kopru.config import settings
    from kopru.db import tenant_transaction
    from kopru.work.sweep import for_each_tenant, recover

    after = settings().payment_settle_after_seconds
    counts = {"settled": 0, "pending": 0, "errors": 0}

    async def one_tenant(tid: uuid.UUID) -> None:
        async with tenant_transaction(tid, actor="schedule:payment-settle") as tx:
            ids = (await tx.execute(
                "select id from payments where status = 'pending' "
                "and (updated_at < now() - %(after)s or token_expires_at < now()) order by updated_at limit 200",
                {"after": timedelta(seconds=after)})).scalars().all()
        for pid in ids:
            try:
                st = await settle(tid, pid, actor="schedule:payment-settle", by_detail=True)
            except KopruError:
                counts["errors"] += 1
                continue
            counts["pending" if st == "pending" else "settled"] += 1

    await for_each_tenant(one_tenant, name="payment-settle")
    from kopru.providers import effect

    recovered = await recover("iyzico", lambda tid, op, ref: effect(tid, "iyzico", op, ref),
                              actor="schedule:payment-settle")
    return {**counts, "recovered": recovered}


# -- refunds and cancellations --------------------------------------------------------------

async def request_refund(ctx, payment_id: uuid.UUID, body, origin_ip: str,
                         idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """Refund part or all of a paid payment (iyzico `/v2/payment/refund`), as an outward call."""
    from kopru.work import idempotency, perform
    from kopru.work.outward import intend

    material = [str(payment_id), body.model_dump(mode="json")]
    async with ctx.transaction() as tx:
        slot = await idempotency.begin(tx, "POST /payments/{id}/refunds", idempotency_key, material)
        if slot.replay is not None:
            refund_id = uuid.UUID(slot.replay[1]["id"])
        else:
            row = (await tx.execute("select * from payments where id = %(id)s for update",
                                    {"id": payment_id})).first()
            if row is None:
                raise KopruError("payment.not_found")
            if row.status not in ("succeeded", "partially_refunded"):
                raise KopruError("payment.not_refundable")
            owed = (await tx.execute("select coalesce(sum(amount), 0) from payment_refunds where payment_id = %(id)s "
                                     "and status in ('requested', 'succeeded', 'unknown')",
                                     {"id": payment_id})).scalar()
            if Decimal(owed) + body.amount > row.paid_amount:
                raise KopruError("payment.refund_exceeds")
            refund_id = uuid.uuid4()
            await tx.conn.queue("insert into payment_refunds (id, tenant_id, payment_id, amount, reason, status, "
                                "origin_ip) values (%(id)s, %(t)s, %(p)s, %(amount)s, %(reason)s, 'requested', %(ip)s)",
                                {"id": refund_id, "t": tx.tenant_id, "p": payment_id, "amount": body.amount,
                                 "reason": body.reason, "ip": origin_ip})
            await intend(tx, RefundCall.provider, RefundCall.operation, str(refund_id))
            await slot.save(202, {"id": str(refund_id)})
    await perform(ctx.tenant_id, RefundCall(ctx.tenant_id, refund_id), actor=ctx.actor)
    return 202, await _refund_view(ctx, refund_id)


async def _refund_view(ctx, refund_id: uuid.UUID) -> dict[str, Any]:
    from kopru.connectors.words import describe

    async with ctx.transaction() as tx:
        r = (await tx.execute("select * from payment_refunds where id = %(id)s", {"id": refund_id})).first()
    return {"id": str(r.id), "payment_id": str(r.payment_id), "amount": _money(r.amount), "status": r.status,
            "error_code": r.error_code, "error": describe(r.error_code), "created_at": r.created_at}


class RefundCall(IyzicoCall):
    """One refund at iyzico (kopru.work). iyzico has no idempotency key and no lookup by
    the refund's conversationId, so an attempt whose answer was lost is parked `unknown`
    for an operator rather than repeated: a refund paid twice is money gone."""

    operation = "payment.refund"

    def __init__(self, tenant_id: uuid.UUID, refund_id: uuid.UUID):
        super().__init__(tenant_id, refund_id)
        self.refund_id, self.refund = refund_id, None

    async def prepare(self, tx, *, first: bool):
        from kopru.work import Outcome

        r = (await tx.execute("select * from payment_refunds where id = %(id)s for update",
                              {"id": self.refund_id})).first()
        if r is None:
            return Outcome.failed("payment.not_found")
        if r.status != "requested":
            return Outcome("succeeded" if r.status == "succeeded" else r.status, "already_recorded")
        self.refund = r
        self.payment = (await tx.execute("select * from payments where id = %(id)s", {"id": r.payment_id})).first()
        return await self.keys(tx)

    async def call(self):
        from kopru.work import Outcome

        res, refused = await self.ask(lambda c: c.refund(
            self.payment.iyzico_payment_id, Decimal(self.refund.amount), conversation_id=self.ref,
            ip=self.refund.origin_ip, currency=self.payment.currency))
        if refused:
            return refused
        return Outcome.ok(str(getattr(res, "payment_id", "") or self.payment.iyzico_payment_id))

    async def reconcile(self, *, quiet_for: float):
        from kopru.work import Outcome

        return Outcome.unknown()

    async def record(self, tx, outcome) -> None:
        from kopru import metrics

        if self.refund is None or outcome.code == "already_recorded":
            return
        status = {"succeeded": "succeeded", "failed": "failed"}.get(outcome.state, "unknown")
        await tx.conn.queue("update payment_refunds set status = %(s)s, error_code = %(c)s, updated_at = now() "
                            "where id = %(id)s", {"s": status, "c": None if status == "succeeded" else outcome.code,
                                                  "id": self.refund_id})
        if status != "succeeded":
            return
        pay = (await tx.execute("select * from payments where id = %(id)s for update",
                                {"id": self.refund.payment_id})).first()
        total = Decimal(pay.refunded_amount) + Decimal(self.refund.amount)
        new = "refunded" if total >= pay.paid_amount else "partially_refunded"
        await tx.conn.queue("update payments set refunded_amount = %(total)s, status = %(s)s, updated_at = now() "
                            "where id = %(id)s", {"total": total, "s": new, "id": pay.id})
        await _history(tx, pay.id, new, "refund")
        await tx.emit(REFUNDED, {"payment_id": str(pay.id), "refund_id": self.ref,
                                 "amount": _money(self.refund.amount), "refunded_amount": _money(total),
                                 "currency": pay.currency}, subject=str(pay.id), source=SOURCE)
        metrics.payment(tx.tenant_id, "refunded")


async def request_cancel(ctx, payment_id: uuid.UUID, origin_ip: str) -> dict[str, Any]:
    """Cancel a paid payment the same day (iyzico `/payment/cancel`), as an outward call."""
    from kopru.work import perform
    from kopru.work.outward import intend

    async with ctx.transaction() as tx:
        row = (await tx.execute("select status, refunded_amount from payments where id = %(id)s for update",
                                {"id": payment_id})).first()
        if row is None:
            raise KopruError("payment.not_found")
        if row.status == "cancelled":
            return await get_payment(ctx, payment_id)
        if row.status != "succeeded" or row.refunded_amount:
            raise KopruError("payment.not_cancellable")
        await intend(tx, CancelCall.provider, CancelCall.operation, str(payment_id))
    await perform(ctx.tenant_id, CancelCall(ctx.tenant_id, payment_id, origin_ip), actor=ctx.actor)
    return await get_payment(ctx, payment_id)


class CancelCall(IyzicoCall):
    """Cancelling one payment at iyzico (kopru.work); like a refund, a lost answer is
    parked `unknown`, never repeated blindly."""

    operation = "payment.cancel"

    def __init__(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, origin_ip: str = "127.0.0.1"):
        super().__init__(tenant_id, payment_id)
        self.payment_id, self.origin_ip = payment_id, origin_ip

    async def prepare(self, tx, *, first: bool):
        from kopru.work import Outcome

        row = (await tx.execute("select * from payments where id = %(id)s for update",
                                {"id": self.payment_id})).first()
        if row is None:
            return Outcome.failed("payment.not_found")
        if row.status != "succeeded":
            return Outcome("succeeded" if row.status == "cancelled" else "failed", "already_recorded")
        self.row = row
        return await self.keys(tx)

    async def call(self):
        from kopru.work import Outcome

        _, refused = await self.ask(lambda c: c.cancel(self.row.iyzico_payment_id, conversation_id=f"cancel-{self.ref}",
                                                       ip=self.origin_ip))
        if refused:
            return refused
        return Outcome.ok(self.row.iyzico_payment_id)

    async def reconcile(self, *, quiet_for: float):
        from kopru.work import Outcome

        return Outcome.unknown()

    async def record(self, tx, outcome) -> None:
        from kopru import metrics

        if self.row is None or outcome.code == "already_recorded":
            return
        if outcome.state == "succeeded":
            await tx.conn.queue("update payments set status = 'cancelled', updated_at = now() where id = %(id)s",
                                {"id": self.payment_id})
            await _history(tx, self.payment_id, "cancelled")
            await tx.emit(CANCELLED, {"payment_id": self.ref, "amount": _money(self.row.paid_amount),
                                      "currency": self.row.currency}, subject=self.ref, source=SOURCE)
            metrics.payment(tx.tenant_id, "cancelled")
        else:  # the payment stays paid; the refusal is in its history
            await _history(tx, self.payment_id, "succeeded", outcome.code)
