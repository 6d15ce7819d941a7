"""token: OAuth 2.0 token issuance and the JWKS.

    functions-framework --asgi --source functions/token/main.py --target handle
"""

from kopru.runtime import Call, Function

fn = Function("token", max_body_bytes=16 * 1024)


@fn.route("POST", "/oauth2/token")
async def token(call: Call):
    from kopru.auth.oauth import token_endpoint

    return await token_endpoint(call)


@fn.route("GET", "/.well-known/jwks.json")
async def jwks(call: Call):
    from kopru.auth.oauth import jwks_endpoint

    return await jwks_endpoint(call)


async def handle(request):
    return await fn(request)
