"""token: OAuth 2.0 token issuance (RFC 6749), revocation (RFC 7009),
introspection (RFC 7662) and the JWKS.

    functions-framework --asgi --source functions/token/main.py --target handle
"""

from kopru.runtime import Call, Function

fn = Function("token", max_body_bytes=16 * 1024)


@fn.route("POST", "/oauth2/token", returns="kopru.auth.models:TokenResponse", summary="Issue tokens: client_credentials, password, refresh_token (RFC 6749)",
          auth="client", public=True, responses=(200, 400, 401, 429), form="kopru.auth.forms:TokenRequest")
async def token(call: Call):
    from kopru.auth.oauth import token_endpoint

    return await token_endpoint(call)


@fn.route("POST", "/oauth2/revoke", returns="kopru.auth.models:Revoked", summary="Revoke an access or refresh token (RFC 7009)",
          auth="client", public=True, responses=(200, 400, 401, 429), form="kopru.auth.forms:TokenByValue")
async def revoke(call: Call):
    from kopru.auth.oauth import revoke_endpoint

    return await revoke_endpoint(call)


@fn.route("POST", "/oauth2/introspect", returns="kopru.auth.models:Introspection", summary="Introspect a token, for confidential clients (RFC 7662)",
          auth="client", public=True, responses=(200, 400, 401, 429), form="kopru.auth.forms:TokenByValue")
async def introspect(call: Call):
    from kopru.auth.oauth import introspect_endpoint

    return await introspect_endpoint(call)


@fn.route("GET", "/.well-known/jwks.json", returns="kopru.auth.models:JwkSet", summary="Public keys that verify live tokens (RFC 7517)",
          public=True, responses=(200,), content="application/jwk-set+json")
async def jwks(call: Call):
    from kopru.auth.oauth import jwks_endpoint

    return await jwks_endpoint(call)


@fn.route("GET", "/.well-known/oauth-authorization-server", returns="kopru.auth.models:ServerMetadata",
          summary="Authorization-server metadata: the issuer, its endpoints and what they support (RFC 8414)",
          public=True, responses=(200,))
async def oauth_metadata(call: Call):
    from kopru.auth.oauth import metadata
    from kopru.runtime import json_response

    return json_response(metadata(), 200, {"Cache-Control": "public, max-age=300"})


@fn.route("GET", "/.well-known/openid-configuration", returns="kopru.auth.models:ServerMetadata",
          summary="The same metadata where OpenID Connect discovery looks for it", public=True, responses=(200,))
async def openid_configuration(call: Call):
    return await oauth_metadata(call)


async def handle(request):
    return await fn(request)
