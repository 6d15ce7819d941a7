"""What the token function answers (the OAuth forms it reads are kopru.auth.forms): the
shapes of RFC 6749 §5.1 (token), RFC 7009 (revocation), RFC 7662 §2.2 (introspection),
RFC 7517 (JWK Set) and RFC 8414 §2 (metadata), as far as Köprü fills them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kopru.answers import Out, absent


class TokenResponse(Out):
    """RFC 6749 §5.1."""

    access_token: str = Field(description="a JWT (RFC 9068 profile)")
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=1, description="seconds")
    scope: str = Field(description="the granted scopes, space-separated")
    refresh_token: str = absent("password and refresh_token grants: the (rotated) refresh token, rt_…")


class Revoked(Out):
    """RFC 7009 §2.2: 200 with an empty object, whether or not there was a token to revoke."""


class Introspection(Out):
    """RFC 7662 §2.2: `{"active": false}` for a token that is not active (or not the
    client's to see); for an active one, what it stands for."""

    active: bool
    token_type: Literal["Bearer", "refresh_token"] = absent("active tokens")
    scope: str = absent("active tokens: the scopes, space-separated")
    client_id: str = absent("active tokens")
    sub: str = absent("active tokens: the client or user it was issued to")
    exp: int = absent("active tokens: expiry, seconds since the epoch")
    iat: int = absent("active tokens: issued at, seconds since the epoch")
    jti: str = absent("access tokens")
    iss: str = absent("access tokens")
    aud: str = absent("access tokens")
    tenant_id: str = absent("tokens of a tenant (not a platform operator's)")


class Jwk(Out):
    """A public signing key (RFC 7517 §4, RFC 7518 §6)."""

    kty: Literal["EC", "OKP", "RSA"]
    kid: str
    alg: str
    use: Literal["sig"]
    crv: str = absent("EC and OKP keys")
    x: str = absent("EC and OKP keys")
    y: str = absent("EC keys")
    n: str = absent("RSA keys")
    e: str = absent("RSA keys")


class JwkSet(Out):
    """RFC 7517 §5: the keys that verify live tokens."""

    keys: list[Jwk]


AuthMethod = Literal["client_secret_basic", "client_secret_post"]


class ServerMetadata(Out):
    """RFC 8414 §2 (also served as OpenID Connect discovery's document: no ID tokens, so no
    OpenID Provider fields)."""

    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    introspection_endpoint: str
    jwks_uri: str
    grant_types_supported: list[Literal["client_credentials", "password", "refresh_token"]]
    response_types_supported: list[str] = Field(max_length=0, description="none: no authorization endpoint")
    token_endpoint_auth_methods_supported: list[AuthMethod]
    revocation_endpoint_auth_methods_supported: list[AuthMethod]
    introspection_endpoint_auth_methods_supported: list[AuthMethod]
    scopes_supported: list[str]
