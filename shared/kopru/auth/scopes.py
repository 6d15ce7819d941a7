"""Every OAuth scope Köprü knows, in one place: the route declarations
(`@fn.route(..., scope=)`), the token endpoint's allowed-scope check, the client
grants and the OpenAPI security scheme all read this table.

A tenant scope opens routes in the caller's own tenant; `platform:admin` is held only
by platform operator clients (no tenant) and passes every scope check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    tr: str
    en: str


OPERATOR_SCOPE = "platform:admin"

_ALL = (
    Scope("tenant:read", "Kiracının profilini okuma.", "Read the tenant's profile."),
    Scope("tenant:admin", "Kiracının API istemcilerini ve entegrasyon ayarlarını yönetme.",
          "Manage the tenant's API clients and integration settings."),
    Scope("sms:send", "SMS gönderme ve mesajın kaç parça tutacağını hesaplama.", "Send SMS and estimate a message's segments."),
    Scope("sms:read", "SMS durumunu ve geçmişini okuma.", "Read an SMS's status and history."),
    Scope("whatsapp:send", "WhatsApp mesajı (serbest metin ya da onaylı şablon) gönderme.",
          "Send WhatsApp messages (free-form text or approved templates)."),
    Scope("whatsapp:read", "WhatsApp mesajının durumunu ve geçmişini okuma.", "Read a WhatsApp message's status and history."),
    Scope("einvoice:write", "e-Fatura / e-Arşiv fatura düzenleme.", "Issue e-Fatura / e-Arşiv invoices."),
    Scope("einvoice:read", "Faturanın durumunu ve imzalı belgesini okuma.", "Read an invoice's status and signed document."),
    Scope("payments:write", "Ödeme başlatma, iade ve iptal (iyzico).", "Start, refund and cancel payments (iyzico)."),
    Scope("payments:read", "Ödemenin durumunu ve geçmişini okuma.", "Read a payment's status and history."),
    Scope("webhooks:write", "Webhook uç noktalarını kaydetme, değiştirme, silme, gizli anahtarını yenileme ve "
          "teslimatları yeniden gönderme.", "Register, change and delete webhook endpoints, rotate their secrets and "
          "replay deliveries."),
    Scope("webhooks:read", "Webhook uç noktalarını ve teslimat kayıtlarını okuma.",
          "Read webhook endpoints and their delivery log."),
    Scope("workflows:write", "İş akışlarını (bir olay olunca şunu yap) kaydetme, açıp kapatma, silme ve deneme (dry run); "
          "her adımın eyleminin kapsamı da gerekir.", "Save, enable, disable, delete and dry-run workflows (when this "
          "happens, do that); each step's action needs its own scope too."),
    Scope("workflows:read", "İş akışlarını ve çalışmalarını okuma.", "Read workflows and their runs."),
    Scope("calls:write", "Bulutfon ile tıkla-ara (müşteriyi arayıp bir dahiliye, gruba ya da menüye bağlama).",
          "Click-to-call through Bulutfon (call a customer and bridge them to an extension, group or menu)."),
    Scope("calls:read", "Arama kayıtlarını (numaralar ve ses kaydı bağlantısı dahil) ve arama isteklerini okuma.",
          "Read call records (numbers and recording links included) and call requests."),
    Scope("vehicles:write", "Araç sürücülerini bağlama/ayırma ve bölgeleri (geofence) kaydetme, silme.",
          "Link and unlink vehicles' drivers; save and delete geofences."),
    Scope("vehicles:read", "Araçları, son konumlarını ve bölgeleri okuma.", "Read vehicles, their last positions and geofences."),
    Scope("consent:write", "Açık rıza kaydetme ve geri alma.", "Record and withdraw consents."),
    Scope("consent:read", "İlgili kişinin rıza geçmişini okuma.", "Read a data subject's consent history."),
    Scope("kvkk:requests", "İlgili kişi başvurularını (erişim, silme) açma ve izleme.",
          "Open and follow data-subject applications (access, erasure)."),
    # credit reports (kopru.credit)
    Scope("credit:request", "Karşı tarafın açık rızasıyla kredi raporu (Findeks) isteme ya da paylaştığı raporu yükleme.",
          "Request a counterparty's credit report (Findeks) with their explicit consent, or upload the one they shared."),
    Scope("credit:read", "Kredi raporlarını okuma.", "Read credit reports."),
    Scope(OPERATOR_SCOPE, "Platform operatörü: kiracı oluşturma, her kiracıda işlem.",
          "Platform operator: onboard tenants, act in any tenant."),
)

SCOPES: dict[str, Scope] = {s.name: s for s in _ALL}
# what a tenant's API client may be granted (everything but the operator's scope)
TENANT_SCOPES: frozenset[str] = frozenset(n for n in SCOPES if n != OPERATOR_SCOPE)
# what a tenant's human users get, by role (further limited by the client they log in through)
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": TENANT_SCOPES,
    "member": frozenset({"tenant:read", "sms:read", "einvoice:read", "consent:read", "payments:read",
                         "webhooks:read", "workflows:read", "vehicles:read"}),
    "member": frozenset({"tenant:read", "sms:read", "whatsapp:read", "einvoice:read", "consent:read", "payments:read",
                         "webhooks:read", "workflows:read"}),
}


def known(names) -> bool:
    return all(n in SCOPES for n in names)
