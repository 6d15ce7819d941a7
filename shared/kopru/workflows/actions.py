"""The one actions registry: what a workflow step (and anything else that acts for a
tenant by name) may do. Each action declares

- `model`: its input (a pydantic model, "module:Class"), validated from the JSON the step's
  mapping gives;
- `scope`: the OAuth scope it needs: a workflow is saved only by a client holding the scope
  of every step (403 workflow.scope_missing), as if the client did the steps itself;
- `consent`: its consent rules, in Turkish and English (shown by GET /workflows/actions),
  enforced where the action runs (request_sms's İYS check, the webhook endpoint's
  personal-data registration);
- `check`: what must hold in the tenant when the workflow is saved (a webhook endpoint that
  exists and is enabled);
- `preview`: what would be sent, without sending (the dry run);
- `run`: the side effect, through the action's own once-only mechanism, under the
  Idempotency-Key the engine derives from (run id, step index).

`run` raises KopruError: a 5xx code is transient (the run waits at its step and is resumed),
any other code, or `StepFailed(code)`, fails the run at its step with that code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kopru.errors import KopruError


class StepFailed(Exception):
    """A permanent outcome of a step that is not a request error: the code is kept on the
    run (it may be a provider's code, described by kopru.connectors.words)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Action:
    name: str
    tr: str
    en: str
    scope: str
    model: str
    consent: tuple[tuple[str, str], ...]
    run: str
    preview: str
    check: str | None = None

    def load(self, ref: str) -> Any:
        import importlib

        mod, _, name = ref.partition(":")
        return getattr(importlib.import_module(mod), name)

    def input_model(self) -> type[BaseModel]:
        return self.load(self.model)

    def parse(self, values: dict[str, Any]) -> BaseModel:
        """The input model over what a mapping gave (as JSON, like a request body);
        pydantic's ValidationError when it does not fit."""
        import json

        return self.input_model().model_validate_json(json.dumps(values, default=str))

    def describe(self) -> dict[str, Any]:
        schema = self.input_model().model_json_schema()
        return {"name": self.name, "title": {"tr": self.tr, "en": self.en}, "scope": self.scope,
                "consent": [{"tr": tr, "en": en} for tr, en in self.consent], "input": schema}


# -- input models -------------------------------------------------------------------------

class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmsSendIn(_In):
    # No number typed into a workflow: it would be personal data outside the register, kept
    # with no subject to export it to or erase it for. A person to text is a data subject.
    to_subject: Optional[uuid.UUID] = Field(
        default=None, description="text this data subject (its phone, under its key): `data.subject_id` of an event "
                                  "that names one, or a constant id for a person the tenant registered to notify")
    to_payment_buyer: Optional[uuid.UUID] = Field(
        default=None, description="text the buyer of this payment (the phone given at checkout)")
    to_call_caller: Optional[uuid.UUID] = Field(
        default=None, description="text the other party of this call (a kopru.call.*.v1 event's data.call_id: the "
                                  "caller of an incoming call)")
    message: str = Field(min_length=1, max_length=2000)
    kind: Literal["transactional", "commercial"]
    recipient_type: Optional[Literal["BIREYSEL", "TACIR"]] = Field(
        default=None, description="İYS recipient type: required with kind commercial")

    @field_validator("message")
    @classmethod
    def _fits(cls, v: str) -> str:
        import unicodedata

        from kopru.sms.encoding import MessageTooLong, estimate

        try:
            estimate(unicodedata.normalize("NFC", v))
        except MessageTooLong:
            raise ValueError("sms.message_too_long") from None
        return v

    @model_validator(mode="after")
    def _rules(self):
        if [self.to_subject, self.to_payment_buyer, self.to_call_caller].count(None) != 2:
            raise ValueError("workflow.recipient_invalid")
        if self.kind == "commercial" and self.recipient_type is None:
            raise ValueError("sms.recipient_type_required")
        return self


class WebhookCallIn(_In):
    endpoint_id: uuid.UUID = Field(description="one of the tenant's webhook endpoints (a constant)")
    payload: Optional[dict[str, Any]] = Field(
        default=None, description="the delivery's data (a JMESPath multiselect such as "
                                  "`{amount: data.amount, payment: data.payment_id}`); the event's data when absent")


class PaymentRefundIn(_In):
    payment_id: uuid.UUID
    amount: str = Field(pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$", description="a decimal string, e.g. data.amount")
    reason: Optional[Literal["double_payment", "buyer_request", "fraud", "other"]] = None


class EinvoiceIssueIn(_In):
    payment_id: uuid.UUID = Field(description="the payment to invoice, e.g. data.payment_id")


# -- sms.send -------------------------------------------------------------------------------

async def _buyer_phone(ctx, payment_id: uuid.UUID) -> str:
    import json

    from kopru.kvkk import subject_key
    from kopru.kvkk.subjects import decrypt_field

    async with ctx.transaction() as tx:
        row = (await tx.execute("select * from payments where id = %(id)s", {"id": payment_id})).first()
        if row is None:
            raise StepFailed("payment.not_found")
        key = await subject_key(tx, row.subject_id) if row.subject_id else None
        buyer = json.loads(decrypt_field(key, row.subject_id, f"payments.buyer:{row.id}", row.buyer_enc)) \
            if key is not None and row.buyer_enc is not None else None
    if buyer is None:
        raise StepFailed("kvkk.subject_erased")
    if not buyer.get("phone"):
        raise StepFailed("workflow.recipient_missing")
    return buyer["phone"]


async def _subject_phone(ctx, subject_id: uuid.UUID) -> str:
    from kopru.kvkk.subjects import decrypt_subject

    async with ctx.transaction() as tx:
        subject = await decrypt_subject(tx, subject_id)
    if subject is None:  # erased (its key destroyed), or no subject of this tenant
        raise StepFailed("kvkk.subject_erased")
    if not subject.get("phone"):
        raise StepFailed("workflow.recipient_missing")
    return subject["phone"]


async def _call_caller_phone(ctx, call_id: uuid.UUID) -> str:
    from kopru.calls.service import caller_phone

    try:
        return await caller_phone(ctx, call_id)
    except KopruError as err:
        raise StepFailed(err.code) from None


async def sms_run(ctx, inp: SmsSendIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                  index: int) -> dict[str, Any]:
    from pydantic import ValidationError

    from kopru.sms.models import SmsIn
    from kopru.sms.service import request_sms

    if inp.to_subject is not None:
        phone = await _subject_phone(ctx, inp.to_subject)
    elif inp.to_call_caller is not None:
        phone = await _call_caller_phone(ctx, inp.to_call_caller)
    else:
        phone = await _buyer_phone(ctx, inp.to_payment_buyer)
    try:
        body = SmsIn(to=phone, message=inp.message, kind=inp.kind, recipient_type=inp.recipient_type)
    except ValidationError:
        raise StepFailed("sms.invalid_number") from None
    out = await request_sms(ctx, body, key)  # İYS consent of a commercial message checked there
    return {"sms_id": out["id"]}


def _recipient(inp) -> str:
    """Who a step would reach, by reference (never a number)."""
    if getattr(inp, "to_subject", None) is not None:
        return f"data subject {inp.to_subject}"
    if getattr(inp, "to_call_caller", None) is not None:
        return f"the caller of call {inp.to_call_caller}"
    return f"the buyer of payment {inp.to_payment_buyer}"


async def sms_preview(tx, inp: SmsSendIn, *, event: dict[str, Any]) -> dict[str, Any]:
    import unicodedata

    from kopru.sms.encoding import estimate

    est = estimate(unicodedata.normalize("NFC", inp.message))
    to = _recipient(inp)
    return {"provider": "netgsm", "to": to, "message": inp.message, "kind": inp.kind,
            "recipient_type": inp.recipient_type, **est.as_dict()}


# -- whatsapp.send ---------------------------------------------------------------------------

class WhatsAppSendIn(_In):
    # as for sms.send: no number typed into a workflow; the person is a data subject
    to_subject: uuid.UUID = Field(
        description="the data subject to write to: e.g. the customer who wrote (kopru.whatsapp.received.v1's "
                    "data.subject_id), or a constant id of a person the tenant registered")
    category: Literal["transactional", "commercial"]
    text: Optional[str] = Field(default=None, min_length=1, max_length=4096,
                                description="free-form text: only within 24 hours of the customer's last message")
    template: Optional[str] = Field(default=None, min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$",
                                    description="an approved template's name, instead of text")
    language: str = Field(default="tr", min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
    parameters: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _rules(self):
        if (self.text is None) == (self.template is None):
            raise ValueError("whatsapp.content_invalid")
        return self


async def whatsapp_run(ctx, inp: WhatsAppSendIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                       index: int) -> dict[str, Any]:
    from pydantic import ValidationError

    from kopru.whatsapp.models import WhatsAppIn
    from kopru.whatsapp.service import request_message

    phone = await _subject_phone(ctx, inp.to_subject)
    content = {"text": {"body": inp.text}} if inp.text is not None else {
        "template": {"name": inp.template, "language": inp.language, "parameters": list(inp.parameters)}}
    try:
        body = WhatsAppIn.model_validate({"to": phone, "category": inp.category, **content})
    except ValidationError:
        raise StepFailed("whatsapp.content_invalid") from None
    out = await request_message(ctx, body, key)  # the window and the consent checked there
    return {"message_id": out["id"]}


async def whatsapp_preview(tx, inp: WhatsAppSendIn, *, event: dict[str, Any]) -> dict[str, Any]:
    to = _recipient(inp)
    what = {"text": inp.text} if inp.text is not None else {
        "template": inp.template, "language": inp.language, "parameters": list(inp.parameters)}
    return {"provider": "whatsapp", "to": to, "category": inp.category, **what,
            "window": "free-form text only within 24 hours of the customer's last message (checked when it runs)"}


# -- webhook.call ---------------------------------------------------------------------------

async def _endpoint(tx, endpoint_id: uuid.UUID, trigger_type: str):
    ep = (await tx.execute("select * from webhook_endpoints where id = %(id)s", {"id": endpoint_id})).first()
    if ep is None:
        raise StepFailed("webhook.endpoint_not_found")
    if not ep.enabled:
        raise StepFailed("webhook.endpoint_disabled")
    if not ep.personal_data and trigger_type in _personal_triggers():
        raise StepFailed("webhook.personal_data_undeclared")
    return ep


def _personal_triggers() -> frozenset[str]:
    """Trigger types whose data names a data subject (`subject_id` in the schema): their
    data goes only to an endpoint registered for personal data (a KVKK disclosure)."""
    import json

    from kopru.events.catalog import load_catalog
    from kopru.workflows.expressions import trigger_types

    cat = load_catalog()
    return frozenset(t for t in trigger_types()
                     if "subject_id" in (json.loads(cat.events[t].schema_path.read_text()).get("properties") or {}))


async def webhook_check(tx, inp: WebhookCallIn, *, trigger_type: str) -> None:
    try:
        await _endpoint(tx, inp.endpoint_id, trigger_type)
    except StepFailed as err:
        code = "workflow.endpoint_invalid" if err.code != "webhook.personal_data_undeclared" else err.code
        raise KopruError(code) from None


def _body(inp: WebhookCallIn, event: dict[str, Any], run_id: uuid.UUID | None, index: int) -> str:
    import json

    data = inp.payload if inp.payload is not None else event.get("data")
    return json.dumps({"type": event["type"], "timestamp": str(event.get("time") or ""), "data": data,
                       "workflow": {"run_id": str(run_id) if run_id else None, "step": index}},
                      ensure_ascii=False, separators=(",", ":"))


async def webhook_run(ctx, inp: WebhookCallIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                      index: int) -> dict[str, Any]:
    """One delivery to the endpoint, made once: the delivery row is unique per (endpoint,
    source "/kopru/workflows", "<run id>:<step>"); its first attempt now, its retries on the
    Standard Webhooks schedule by `webhooks-retry` (at least once, one webhook-id)."""
    from urllib.parse import urlsplit

    from kopru.webhooks.delivery import INSERT_DELIVERY, deliver, webhook_id

    source, event_id = SOURCE, f"{run_id}:{index}"
    async with ctx.transaction() as tx:
        ep = await _endpoint(tx, inp.endpoint_id, event["type"])
        did = uuid.uuid4()
        ref = (await tx.execute(INSERT_DELIVERY, {
            "id": did, "tid": tx.tenant_id, "endpoint_id": ep.id, "source": source, "event_id": event_id,
            "type": event["type"], "webhook_id": webhook_id(source, event_id), "body": _body(inp, event, run_id, index),
            "subject_id": None, "personal_data": ep.personal_data,
            "purpose": ep.purpose if ep.personal_data else None, "host": urlsplit(ep.url).hostname or ""})).scalar()
        if ref is None:  # made before (this step ran up to here once already): its own retries carry it
            did = (await tx.execute(
                "select id from webhook_deliveries where endpoint_id = %(e)s and event_source = %(source)s "
                "and event_id = %(event_id)s", {"e": ep.id, "source": source, "event_id": event_id})).scalar()
            return {"delivery_id": str(did)}
    await deliver(ctx.tenant_id, ref, actor=ctx.actor)  # a failed attempt is left to the retry schedule
    return {"delivery_id": str(did)}


async def webhook_preview(tx, inp: WebhookCallIn, *, event: dict[str, Any]) -> dict[str, Any]:
    import json

    url = (await tx.execute("select url from webhook_endpoints where id = %(id)s", {"id": inp.endpoint_id})).scalar()
    return {"provider": "webhook", "endpoint_id": str(inp.endpoint_id), "url": url,
            "body": json.loads(_body(inp, event, None, 0))}


# -- payment.refund -------------------------------------------------------------------------

async def refund_run(ctx, inp: PaymentRefundIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                     index: int) -> dict[str, Any]:
    import json

    from kopru.payments.models import RefundIn
    from kopru.payments.service import request_refund

    body = RefundIn.model_validate_json(json.dumps({"amount": inp.amount, "reason": inp.reason}))
    _, out = await request_refund(ctx, inp.payment_id, body, "127.0.0.1", key)
    if out["status"] in ("failed", "unknown"):
        raise StepFailed(out["error_code"] or "work.outcome_unknown")
    return {"refund_id": out["id"]}


async def refund_preview(tx, inp: PaymentRefundIn, *, event: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "iyzico", "payment_id": str(inp.payment_id), "amount": inp.amount, "reason": inp.reason}


# -- einvoice.issue -------------------------------------------------------------------------

async def einvoice_run(ctx, inp: EinvoiceIssueIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                       index: int) -> dict[str, Any]:
    """The payment's invoice, as the payment chain makes it (kopru.payments.chain): one per
    payment, whoever asks (this step again, another workflow, the chain itself)."""
    from kopru.payments.chain import invoice_payment

    got = await invoice_payment(ctx.tenant_id, inp.payment_id, asked=True)
    if got not in ("invoiced", "done"):
        raise StepFailed({"not_paid": "chain.payment_not_paid",
                          "off": "payment.not_configured"}.get(got, got))
    async with ctx.transaction() as tx:
        invoice_id = (await tx.execute("select invoice_id from payments where id = %(id)s",
                                       {"id": inp.payment_id})).scalar()
    return {"invoice_id": str(invoice_id)}


async def einvoice_preview(tx, inp: EinvoiceIssueIn, *, event: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "nilvera", "payment_id": str(inp.payment_id),
            "document": "e-Arşiv (or e-Fatura to a registered buyer) for the payment's basket"}


# -- credit.request ---------------------------------------------------------------------------

class CreditRequestStepIn(_In):
    # as for the messaging actions: no identity number typed into a workflow. The person is a
    # data subject (their TCKN, under their key, is what is asked about); a business's VKN is
    # not personal data and may be given, on its owner's or authorised person's consent.
    subject_id: uuid.UUID = Field(description="the person who consented (data.subject_id, or a constant id): their "
                                              "TCKN is asked about, or with `vkn` they consented for the business")
    vkn: Optional[str] = Field(default=None, pattern=r"^[0-9]{10}$",
                               description="a business's VKN to ask about instead, on the subject's consent")
    consent_id: Optional[uuid.UUID] = Field(default=None, description="one consent; else the newest active one")


async def _credit_body(tx, inp: CreditRequestStepIn):
    import json

    from pydantic import ValidationError

    from kopru.credit.models import CreditRequestIn
    from kopru.kvkk.subjects import decrypt_subject

    if inp.vkn is not None:
        scheme, number = "VKN", inp.vkn
    else:
        who = await decrypt_subject(tx, inp.subject_id)
        if who is None:
            raise StepFailed("kvkk.subject_erased")
        if not who.get("tckn"):
            raise StepFailed("credit.subject_tckn_missing")
        scheme, number = "TCKN", who["tckn"]
    raw = {"scheme": scheme, "number": number, "subject": {"id": str(inp.subject_id)},
           "consent_id": str(inp.consent_id) if inp.consent_id else None}
    try:
        return CreditRequestIn.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as exc:
        codes = [str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors(include_input=False)]
        raise StepFailed(next((c for c in codes if c.startswith("credit.")), "workflow.mapping_failed")) from None


async def credit_run(ctx, inp: CreditRequestStepIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                     index: int) -> dict[str, Any]:
    """The request as POST /credit-reports makes it (consent checked there, once per
    Idempotency-Key); the partner is asked on its own event."""
    from kopru.credit.service import request_report

    async with ctx.transaction() as tx:
        body = await _credit_body(tx, inp)
    out = await request_report(ctx, body, key)
    return {"credit_report_id": out["id"]}


async def credit_preview(tx, inp: CreditRequestStepIn, *, event: dict[str, Any]) -> dict[str, Any]:
    """What would be asked, and whether the consent holds now; nothing is recorded or sent."""
    from kopru.credit.service import _consented

    try:
        body = await _credit_body(tx, inp)
        _, consent = await _consented(tx, body)
        consent_ok, code = True, None
    except KopruError as err:
        consent_ok, code, consent = False, err.code, None
    return {"provider": "credit-partner", "scheme": "VKN" if inp.vkn else "TCKN",
            "subject": f"data subject {inp.subject_id}",
            "consent_ok": consent_ok, "consent_id": str(consent.id) if consent else None, "code": code}


# -- call.bridge (Bulutfon) -------------------------------------------------------------------

class CallBridgeIn(_In):
    # as for sms.send: no number typed into a workflow; the person is named by reference
    to_subject: Optional[uuid.UUID] = Field(default=None, description="call this data subject (its phone)")
    to_call_caller: Optional[uuid.UUID] = Field(
        default=None, description="call back the other party of this call (data.call_id)")
    destination: str = Field(pattern=r"^[0-9]{2,4}$",
                             description="menu (2 digits), group (3) or extension (4) the call is bridged to")

    @model_validator(mode="after")
    def _one(self):
        if (self.to_subject is None) == (self.to_call_caller is None):
            raise ValueError("calls.recipient_invalid")
        return self


async def bridge_run(ctx, inp: CallBridgeIn, *, key: str, event: dict[str, Any], run_id: uuid.UUID,
                     index: int) -> dict[str, Any]:
    """One click-to-call, placed once (kopru.calls.service.request_bridge under the step's
    Idempotency-Key; placed through kopru.work, never twice)."""
    from kopru.calls.models import BridgeIn
    from kopru.calls.service import request_bridge

    callee = await _subject_phone(ctx, inp.to_subject) if inp.to_subject is not None \
        else await _call_caller_phone(ctx, inp.to_call_caller)
    out = await request_bridge(ctx, BridgeIn(callee=callee, destination=inp.destination), key)
    if out["status"] in ("failed", "unknown"):
        raise StepFailed(out["error_code"] or "work.outcome_unknown")
    return {"bridge_id": out["id"]}


async def bridge_preview(tx, inp: CallBridgeIn, *, event: dict[str, Any]) -> dict[str, Any]:
    return {"provider": "bulutfon", "callee": _recipient(inp), "destination": inp.destination}


SOURCE = "/kopru/workflows"
_M = "kopru.workflows.actions"

ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("sms.send", "SMS gönder (Netgsm).", "Send an SMS (Netgsm).", "sms:send", f"{_M}:SmsSendIn",
           (("Ticari (commercial) ileti yalnızca alıcının İYS'de etkin MESAJ izni varken gönderilir; yoksa çalışma "
             "sms.iys_no_consent ile durur. recipient_type zorunludur.",
             "A commercial message is sent only while the recipient has an active İYS MESAJ consent; otherwise the "
             "run stops with sms.iys_no_consent. recipient_type is required."),
            ("Bilgilendirme (transactional) iletisi izin gerektirmez; pazarlama içeremez.",
             "A transactional message needs no consent; it must not market anything.")),
           run=f"{_M}:sms_run", preview=f"{_M}:sms_preview"),
    Action("whatsapp.send", "WhatsApp mesajı gönder (Meta WhatsApp Cloud API).",
           "Send a WhatsApp message (Meta WhatsApp Cloud API).", "whatsapp:send", f"{_M}:WhatsAppSendIn",
           (("Serbest metin yalnızca müşterinin son mesajından sonraki 24 saat içinde gönderilir; dışında çalışma "
             "whatsapp.window_closed ile durur (hiçbir şey gönderilmez). Onaylı şablon her zaman gönderilebilir.",
             "Free-form text is sent only within 24 hours of the customer's last message; outside it the run stops "
             "with whatsapp.window_closed (nothing is sent). An approved template may be sent any time."),
            ("Ticari (commercial) ileti yalnızca alıcının İYS'de etkin MESAJ izni varken gönderilir; yoksa çalışma "
             "whatsapp.consent_missing ile durur.",
             "A commercial message is sent only while the recipient has an active İYS MESAJ consent; otherwise the "
             "run stops with whatsapp.consent_missing.")),
           run=f"{_M}:whatsapp_run", preview=f"{_M}:whatsapp_preview"),
    Action("webhook.call", "Kiracının bir webhook uç noktasına imzalı istek gönder.",
           "Send a signed request to one of the tenant's webhook endpoints.", "webhooks:write",
           f"{_M}:WebhookCallIn",
           (("Bir ilgili kişiyi adlandıran olaylar yalnızca kişisel veri için (personal_data ve amaç) kaydedilmiş "
             "bir uç noktaya gider (KVKK md. 8).",
             "Events that name a data subject go only to an endpoint registered for personal data (with a purpose; "
             "KVKK art. 8)."),),
           run=f"{_M}:webhook_run", preview=f"{_M}:webhook_preview", check=f"{_M}:webhook_check"),
    Action("einvoice.issue", "Ödemenin faturasını kes (e-Arşiv ya da kayıtlı alıcıya e-Fatura, Nilvera).",
           "Issue the payment's invoice (e-Arşiv, or e-Fatura to a registered buyer; Nilvera).", "einvoice:write",
           f"{_M}:EinvoiceIssueIn",
           (("Ödeme başına tek fatura: adım tekrarlansa da, ödeme zinciri de istese de ikinci fatura kesilmez.",
             "One invoice per payment: repeating the step, or the payment chain asking too, issues no second one."),),
           run=f"{_M}:einvoice_run", preview=f"{_M}:einvoice_preview"),
    Action("call.bridge", "Müşteriyi ara ve bir dahiliye, gruba ya da menüye bağla (Bulutfon).",
           "Call a customer and bridge them to an extension, group or menu (Bulutfon).", "calls:write",
           f"{_M}:CallBridgeIn",
           (("Aranacak numara Bulutfon'a iletilir; arama kaydı ve numara kişisel veri olarak 180 gün tutulur.",
             "The number is sent to Bulutfon; the call record and the number are kept as personal data for 180 days."),
            ("Aynı adım tekrarlansa da arama bir kez yapılır; yanıtı kaybolan arama ikinci kez yapılmaz.",
             "Repeating the step places the call once; a call whose answer was lost is never placed twice.")),
           run=f"{_M}:bridge_run", preview=f"{_M}:bridge_preview"),
    # vehicles (Arvento): read-only, sends nothing; the last position Köprü holds
    Action("vehicle.locate", "Aracın bilinen son konumunu oku (Arvento; salt okunur, hiçbir şey göndermez).",
           "Read a vehicle's last known position (Arvento; read-only, sends nothing).", "vehicles:read",
           "kopru.vehicles.models:VehicleLocateIn",
           (("Sürücüsü bağlı aracın konumu sürücünün kişisel verisidir: çalışma kaydında yalnız araç kimliği ve "
             "konumun zamanı tutulur, koordinatlar tutulmaz.",
             "A vehicle's position is its linked driver's personal data: the run keeps only the vehicle's id and "
             "the position's time, never the coordinates."),),
           run="kopru.vehicles.service:locate_run", preview="kopru.vehicles.service:locate_preview"),
    Action("payment.refund", "Ödemenin bir kısmını ya da tamamını iade et (iyzico).",
           "Refund part or all of a payment (iyzico).", "payments:write", f"{_M}:PaymentRefundIn", (),
           run=f"{_M}:refund_run", preview=f"{_M}:refund_preview"),
    Action("credit.request", "Karşı tarafın kredi raporunu (Findeks) KKB üyesi iş ortağından iste.",
           "Request a counterparty's credit report (Findeks) from the KKB-member partner.", "credit:request",
           f"{_M}:CreditRequestStepIn",
           (("Rapor yalnızca kişinin credit_report amacı için geri alınmamış ve süresi dolmamış açık rızası varken "
             "istenir; yoksa çalışma credit.no_consent ile durur ve iş ortağına hiçbir şey gitmez. VKN için rızayı "
             "veren kişi (subject_id) verilmeli.",
             "A report is requested only while the person has an explicit consent for credit_report that is neither "
             "withdrawn nor expired; otherwise the run stops with credit.no_consent and nothing reaches the partner. "
             "A VKN needs the person who consented (subject_id)."),),
           run=f"{_M}:credit_run", preview=f"{_M}:credit_preview"),
)}


def action(name: str) -> Action:
    a = ACTIONS.get(name)
    if a is None:
        raise KopruError("workflow.action_unknown")
    return a
