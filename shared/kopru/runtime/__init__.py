"""The function runtime: declaring and serving a Köprü function.

    from kopru.runtime import Function
    fn = Function("tenant-onboarding")

    @fn.route("GET", "/tenants/{id}")
    async def get_tenant(call): ...

    async def handle(request):          # the functions-framework target
        return await fn(request)
"""

from kopru.pages import QUERY as PAGED  # a cursor-paged list route's query: @fn.route(..., query=PAGED)
from kopru.runtime.function import Call, EventCall, Function, Route, created, json_response

__all__ = ["Call", "EventCall", "Function", "PAGED", "Route", "created", "json_response"]
