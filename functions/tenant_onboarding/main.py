"""tenant-onboarding: create tenants (platform operators), read them back, and let a
tenant's admins manage their own API clients.

    functions-framework --asgi --source functions/tenant_onboarding/main.py --target handle
"""

from uuid import UUID

from kopru.errors import KopruError
from kopru.runtime import Call, Function, json_response

fn = Function("tenant-onboarding")


def _tenant_id(call: Call) -> UUID:
    try:
        return UUID(call.path_params["id"])
    except ValueError:
        raise KopruError("tenant.not_found") from None


@fn.route("POST", "/tenants", summary="Onboard a tenant (platform operator only)",
          body="kopru.tenancy.models:TenantIn", responses=(201, 401, 403, 409, 413, 415, 422))
async def create_tenant(call: Call):
    from kopru.tenancy import onboard_tenant
    from kopru.tenancy.models import TenantIn

    principal = await call.principal()
    principal.require_operator()
    body = await call.json(TenantIn)
    out = await onboard_tenant(principal, body)
    return json_response(out, 201, {"Location": f"/tenants/{out['tenant']['id']}", "Cache-Control": "no-store"})


@fn.route("GET", "/tenants/{id}", summary="Read a tenant (the operator, or the tenant itself)",
          responses=(200, 401, 403, 404, 429))
async def read_tenant(call: Call):
    from kopru.tenancy import get_tenant

    principal = await call.principal()
    return await get_tenant(principal, _tenant_id(call))


@fn.route("GET", "/tenants/{id}/clients", summary="List the tenant's API clients (tenant:admin)",
          responses=(200, 401, 403, 404, 429))
async def list_clients(call: Call):
    from kopru.auth.clients import list_clients

    principal = await call.principal()
    return {"clients": await list_clients(principal, _tenant_id(call))}


@fn.route("POST", "/tenants/{id}/clients", summary="Create an API client; its secret is shown once (tenant:admin)",
          body="kopru.tenancy.models:ClientIn", responses=(201, 401, 403, 404, 409, 422, 429))
async def create_client(call: Call):
    from kopru.auth.clients import add_client
    from kopru.tenancy.models import ClientIn

    principal = await call.principal()
    tenant_id = _tenant_id(call)
    principal.tenant_for(tenant_id)
    body = await call.json(ClientIn)
    out = await add_client(principal, tenant_id, body.name, body.scopes)
    return json_response(out, 201, {"Cache-Control": "no-store"})


@fn.route("DELETE", "/tenants/{id}/clients/{client_id}", summary="Revoke an API client and its refresh tokens (tenant:admin)",
          responses=(204, 401, 403, 404, 429))
async def delete_client(call: Call):
    from starlette.responses import Response

    from kopru.auth.clients import revoke_client

    principal = await call.principal()
    await revoke_client(principal, _tenant_id(call), call.path_params["client_id"])
    return Response(status_code=204)


@fn.route("PUT", "/tenants/{id}/integrations/netgsm",
          summary="Netgsm settings: checked against Netgsm (its sender names), password sealed, never returned (tenant:admin)",
          body="kopru.sms.models:NetgsmSettingsIn", responses=(200, 401, 403, 404, 422, 429, 503))
async def put_netgsm(call: Call):
    from kopru.sms.models import NetgsmSettingsIn
    from kopru.sms.service import save_netgsm_settings

    principal = await call.principal()
    tenant_id = _tenant_id(call)
    principal.tenant_for(tenant_id)
    body = await call.json(NetgsmSettingsIn)
    return json_response(await save_netgsm_settings(principal, tenant_id, body), 200, {"Cache-Control": "no-store"})


@fn.route("PUT", "/tenants/{id}/integrations/nilvera",
          summary="e-Invoice settings: Nilvera API key (checked), series, address, optional PKCS#12; secrets sealed, "
                  "never returned (tenant:admin)",
          body="kopru.einvoice.settings:NilveraSettingsIn", responses=(200, 401, 403, 404, 422, 429, 503))
async def put_nilvera(call: Call):
    from kopru.einvoice.service import save_nilvera_settings
    from kopru.einvoice.settings import NilveraSettingsIn

    principal = await call.principal()
    tenant_id = _tenant_id(call)
    principal.tenant_for(tenant_id)
    body = await call.json(NilveraSettingsIn)
    return json_response(await save_nilvera_settings(principal, tenant_id, body), 200, {"Cache-Control": "no-store"})


async def handle(request):
    return await fn(request)
