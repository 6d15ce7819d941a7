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
)}


def provider(name: str) -> Provider:
    p = PROVIDERS.get(name)
    if p is None:
        raise KopruError("integration.unknown_provider")
    return p
