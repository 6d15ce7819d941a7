"""The outside services Köprü integrates, each declared once: its per-tenant settings
(model, secrets, connection check) for `PUT/GET /tenants/{id}/integrations/{provider}`.
Domain modules are named by string and imported only when a provider is used."""

from __future__ import annotations

from kopru.errors import KopruError
from kopru.work.integrations import Provider

PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("netgsm", "Netgsm (SMS)", "kopru.sms.models:NetgsmSettingsIn", ("password", "appkey"),
             check="kopru.sms.service:check_netgsm", view="kopru.sms.service:netgsm_view"),
    Provider("nilvera", "Nilvera (e-Fatura / e-Arşiv)", "kopru.einvoice.settings:NilveraSettingsIn",
             ("api_key", "p12", "p12_password"), check="kopru.einvoice.service:check_nilvera"),
    Provider("iyzico", "iyzico (payments)", "kopru.payments.models:IyzicoSettingsIn", ("api_key", "secret_key"),
             check="kopru.payments.service:check_iyzico", view="kopru.payments.service:iyzico_view"),
    # credit reports (kopru.credit): the tenant's account at the deployment's KKB-member partner
    Provider("credit-partner", "KKB üyesi iş ortağı (kredi raporu / Findeks)", "kopru.credit.models:CreditPartnerSettingsIn",
             ("api_key",), check="kopru.credit.service:check_partner"),
    Provider("bulutfon", "Bulutfon (bulut santral)", "kopru.calls.models:BulutfonSettingsIn",
             ("api_key", "webhook_password"), check="kopru.calls.service:check_bulutfon",
             view="kopru.calls.service:bulutfon_view"),
    # vehicles (Arvento): the REST login; the check logs in once, within the account's rate limit
    Provider("arvento", "Arvento (araç takip / vehicle tracking)", "kopru.vehicles.models:ArventoSettingsIn",
             ("password",), check="kopru.vehicles.service:check_arvento"),
    Provider("whatsapp", "WhatsApp Business (Meta WhatsApp Cloud API)", "kopru.whatsapp.models:WhatsAppSettingsIn",
             ("access_token", "app_secret", "verify_token"), check="kopru.whatsapp.service:check_whatsapp",
             view="kopru.whatsapp.service:whatsapp_view"),
)}


# Every side effect kopru.work performs, by (provider, operation): the Effect class, made
# with (tenant_id, our reference). The sweep and the operator's `kopru work` use it.
EFFECTS: dict[tuple[str, str], str] = {
    ("netgsm", "sms.send"): "kopru.sms.service:SmsSend",
    ("nilvera", "einvoice.upload"): "kopru.einvoice.service:InvoiceUpload",
    ("iyzico", "checkout.initialize"): "kopru.payments.service:CheckoutInit",
    ("iyzico", "threeds.initialize"): "kopru.payments.service:ThreeDSStart",
    ("iyzico", "threeds.auth"): "kopru.payments.service:ThreeDSAuth",
    ("iyzico", "payment.refund"): "kopru.payments.service:RefundCall",
    ("iyzico", "payment.cancel"): "kopru.payments.service:CancelCall",
    ("webhook", "webhook.deliver"): "kopru.webhooks.delivery:WebhookDelivery",
    ("credit-partner", "credit.report"): "kopru.credit.service:CreditFetch",
    ("bulutfon", "call.bridge"): "kopru.calls.service:CallBridge",
    ("whatsapp", "whatsapp.send"): "kopru.whatsapp.service:WhatsAppSend",
}


def effect(tenant_id, provider: str, operation: str, ref: str):
    import importlib
    import uuid

    target = EFFECTS.get((provider, operation))
    if target is None:
        raise KopruError("work.not_found")
    mod, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(mod), name)(tenant_id, uuid.UUID(ref))
    except ValueError:
        raise KopruError("work.not_found") from None


def provider(name: str) -> Provider:
    p = PROVIDERS.get(name)
    if p is None:
        raise KopruError("integration.unknown_provider")
    return p
