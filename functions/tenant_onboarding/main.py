"""tenant-onboarding: create tenants (platform operators), read them back, and let a
tenant's admins manage their own API clients.

    functions-framework --asgi --source functions/tenant_onboarding/main.py --target handle
"""

from kopru.runtime import PAGED, Call, Function, json_response

fn = Function("tenant-onboarding")


@fn.route("POST", "/tenants", returns="kopru.tenancy.models:OnboardedOut", summary="Onboard a tenant (platform operator only)",
          body="kopru.tenancy.models:TenantIn", responses=(201, 401, 403, 409, 413, 415, 422), operator=True,
          links={"read": ("GET /tenants/{id}", {"id": "$response.body#/tenant/id"}),
                 "clients": ("GET /tenants/{id}/clients", {"id": "$response.body#/tenant/id"})})
async def create_tenant(call: Call):
    from kopru.tenancy import onboard_tenant
    from kopru.tenancy.models import TenantIn

    body = await call.json(TenantIn)
    out = await onboard_tenant(call.caller, body)
    return json_response(out, 201, {"Location": f"/tenants/{out['tenant']['id']}", "Cache-Control": "no-store"})


@fn.route("GET", "/tenants", returns="kopru.tenancy.models:TenantsPage", summary="List tenants, oldest first, a page at a time (platform operator only)",
          operator=True, responses=(200, 401, 403, 422, 429), query=PAGED)
async def list_all(call: Call):
    from kopru import pages
    from kopru.tenancy import list_tenants

    return await list_tenants(pages.limit(call.query), call.query.get("cursor"))


@fn.route("GET", "/tenants/{id}", returns="kopru.tenancy.models:TenantOut", summary="Read a tenant (the operator, or the tenant itself)",
          responses=(200, 401, 403, 404, 429), scope="tenant:read", tenant="path")
async def read_tenant(call: Call):
    from kopru.tenancy import get_tenant

    return await get_tenant(call.tenant)


@fn.route("GET", "/tenants/{id}/clients", returns="kopru.tenancy.models:ClientsPage", summary="List the tenant's API clients, oldest first, a page at a time (tenant:admin)",
          responses=(200, 401, 403, 404, 429), scope="tenant:admin", tenant="path", query=PAGED)
async def list_clients(call: Call):
    from kopru import pages
    from kopru.auth.clients import list_clients

    return await list_clients(call.tenant, pages.limit(call.query), call.query.get("cursor"))


@fn.route("POST", "/tenants/{id}/clients", returns="kopru.tenancy.models:ClientCreated",
          summary="Create an API client; its secret is shown once (tenant:admin). It may be granted only scopes "
                  "the caller holds (default: all of them)",
          body="kopru.tenancy.models:ClientIn", responses=(201, 401, 403, 404, 409, 422, 429),
          links={"revoke": ("DELETE /tenants/{id}/clients/{client_id}",
                            {"id": "$request.path.id", "client_id": "$response.body#/client_id"}),
                 "list": ("GET /tenants/{id}/clients", {"id": "$request.path.id"})},
          scope="tenant:admin", tenant="path")
async def create_client(call: Call):
    from kopru.auth.clients import add_client
    from kopru.tenancy.models import ClientIn

    body = await call.json(ClientIn)
    out = await add_client(call.tenant, body.name, body.scopes)
    return json_response(out, 201, {"Cache-Control": "no-store"})


@fn.route("DELETE", "/tenants/{id}/clients/{client_id}", summary="Revoke an API client and its refresh tokens (tenant:admin)",
          responses=(204, 401, 403, 404, 429), scope="tenant:admin", tenant="path")
async def delete_client(call: Call):
    from starlette.responses import Response

    from kopru.auth.clients import revoke_client

    await revoke_client(call.tenant, call.path_params["client_id"])
    return Response(status_code=204)


# What each provider's routes answer (PUT, GET, POST …/test): a provider added to
# kopru.providers adds its three answer models here.
ANSWERS: dict[str, tuple[str, str, str]] = {
    "netgsm": ("kopru.sms.models:NetgsmSettingsSaved", "kopru.sms.models:NetgsmSettingsOut",
               "kopru.sms.models:NetgsmChecked"),
    "nilvera": ("kopru.einvoice.settings:NilveraSettingsOut", "kopru.einvoice.settings:NilveraSettingsOut",
                "kopru.einvoice.settings:NilveraChecked"),
    "iyzico": ("kopru.payments.models:IyzicoSettingsOut", "kopru.payments.models:IyzicoSettingsOut",
               "kopru.payments.models:IyzicoChecked"),
    "credit-partner": ("kopru.credit.models:CreditPartnerSettingsOut", "kopru.credit.models:CreditPartnerSettingsOut",
                       "kopru.credit.models:CreditPartnerChecked"),
    "bulutfon": ("kopru.calls.models:BulutfonSettingsOut", "kopru.calls.models:BulutfonSettingsOut",
                 "kopru.calls.models:BulutfonChecked"),
    "arvento": ("kopru.vehicles.models:ArventoSettingsOut", "kopru.vehicles.models:ArventoSettingsOut",
                "kopru.vehicles.models:ArventoChecked"),
    "whatsapp": ("kopru.whatsapp.models:WhatsAppSettingsSaved", "kopru.whatsapp.models:WhatsAppSettingsOut",
                 "kopru.whatsapp.models:WhatsAppChecked"),
}


# One set of routes per provider of kopru.providers (each documented with its own body).
def _integration_routes(name: str, title: str, model: str) -> None:
    saved, stored, checked = ANSWERS.get(name, (None, None, None))

    @fn.route("PUT", f"/tenants/{{id}}/integrations/{name}", returns=saved,
              summary=f"{title} settings: checked with the provider, secrets sealed, never returned (tenant:admin)",
              body=model, responses=(200, 401, 403, 404, 413, 415, 422, 429, 503), scope="tenant:admin", tenant="path")
    async def put_settings(call: Call):
        from kopru.providers import provider
        from kopru.work import integrations

        p = provider(name)
        body = await call.json(p.body_model())
        return json_response(await integrations.save(call.tenant, p, body), 200, {"Cache-Control": "no-store"})

    @fn.route("GET", f"/tenants/{{id}}/integrations/{name}", returns=stored,
              summary=f"{title} settings as stored, without secrets (tenant:admin)",
              responses=(200, 401, 403, 404, 429), scope="tenant:admin", tenant="path")
    async def get_settings(call: Call):
        from kopru.providers import provider
        from kopru.work import integrations

        async with call.tenant.transaction() as tx:
            out = await integrations.read(tx, provider(name))
        return json_response(out, 200, {"Cache-Control": "no-store"})

    @fn.route("POST", f"/tenants/{{id}}/integrations/{name}/test", returns=checked,
              summary=f"Test the stored {title} settings against the provider (tenant:admin)",
              responses=(200, 401, 403, 404, 422, 429, 503), scope="tenant:admin", tenant="path")
    async def test_settings(call: Call):
        from kopru.providers import provider
        from kopru.work import integrations

        return await integrations.test_connection(call.tenant, provider(name))


def _declare_integrations() -> None:
    from kopru.providers import PROVIDERS

    for p in PROVIDERS.values():
        _integration_routes(p.name, p.title, p.model)


_declare_integrations()


async def handle(request):
    return await fn(request)
