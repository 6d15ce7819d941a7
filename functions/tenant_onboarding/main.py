"""tenant-onboarding: create tenants (platform operators) and read them back.

    functions-framework --asgi --source functions/tenant_onboarding/main.py --target handle
"""

from uuid import UUID

from kopru.errors import KopruError
from kopru.runtime import Call, Function, json_response

fn = Function("tenant-onboarding")


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
          responses=(200, 401, 403, 404))
async def read_tenant(call: Call):
    from kopru.tenancy import get_tenant

    principal = await call.principal()
    try:
        tenant_id = UUID(call.path_params["id"])
    except ValueError:
        raise KopruError("tenant.not_found") from None
    return await get_tenant(principal, tenant_id)


async def handle(request):
    return await fn(request)
