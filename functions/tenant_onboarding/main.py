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


# One pair of routes per provider of kopru.providers (each documented with its own body).
def _integration_routes(name: str, title: str, model: str) -> None:
    @fn.route("PUT", f"/tenants/{{id}}/integrations/{name}",
              summary=f"{title} settings: checked with the provider, secrets sealed, never returned (tenant:admin)",
              body=model, responses=(200, 401, 403, 404, 413, 415, 422, 429, 503))
    async def put_settings(call: Call):
        from kopru.db import scoped
        from kopru.providers import provider
        from kopru.work import integrations

        principal = await call.principal()
        principal.require_scope("tenant:admin")
        tenant_id = principal.tenant_for(_tenant_id(call))
        p = provider(name)
        body = await call.json(p.body_model())
        out = await integrations.save(lambda: scoped(principal, tenant_id), tenant_id, p, body)
        return json_response(out, 200, {"Cache-Control": "no-store"})

    @fn.route("GET", f"/tenants/{{id}}/integrations/{name}",
              summary=f"{title} settings as stored, without secrets (tenant:admin)",
              responses=(200, 401, 403, 404, 429))
    async def get_settings(call: Call):
        from kopru.db import scoped
        from kopru.providers import provider
        from kopru.work import integrations

        principal = await call.principal()
        principal.require_scope("tenant:admin")
        tenant_id = principal.tenant_for(_tenant_id(call))
        async with scoped(principal, tenant_id) as tx:
            out = await integrations.read(tx, provider(name))
        return json_response(out, 200, {"Cache-Control": "no-store"})

    @fn.route("POST", f"/tenants/{{id}}/integrations/{name}/test",
              summary=f"Test the stored {title} settings against the provider (tenant:admin)",
              responses=(200, 401, 403, 404, 422, 429, 503))
    async def test_settings(call: Call):
        from kopru.db import scoped
        from kopru.providers import provider
        from kopru.work import integrations

        principal = await call.principal()
        principal.require_scope("tenant:admin")
        tenant_id = principal.tenant_for(_tenant_id(call))
        return await integrations.test_connection(lambda: scoped(principal, tenant_id), tenant_id, provider(name))


def _declare_integrations() -> None:
    from kopru.providers import PROVIDERS

    for p in PROVIDERS.values():
        _integration_routes(p.name, p.title, p.model)


_declare_integrations()


async def handle(request):
    return await fn(request)
