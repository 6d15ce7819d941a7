"""The OAuth 2.0 request forms, as the OpenAPI document states them (the endpoints read
the form themselves, RFC 6749 5.2 errors and all; these models document it, one per grant).
Client authentication: HTTP Basic, or client_id + client_secret in the form."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, Field


class _ClientPost(BaseModel):
    client_id: Optional[str] = Field(None, description="client_secret_post: the client's id (else HTTP Basic)")
    client_secret: Optional[str] = Field(None, description="client_secret_post: the client's secret")


class ClientCredentialsGrant(_ClientPost):
    grant_type: Literal["client_credentials"]
    scope: Optional[str] = Field(None, description="space-separated; default: every scope the client holds")


class PasswordGrant(_ClientPost):
    grant_type: Literal["password"]
    username: str = Field(description="the user's e-mail address")
    password: str
    tenant: str = Field(description="the tenant's subdomain (the client's own tenant); an unknown one is "
                                    "answered like a wrong password")
    scope: Optional[str] = None


class RefreshTokenGrant(_ClientPost):
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(description="single use; the answer carries its successor")
    scope: Optional[str] = Field(None, description="may narrow the family's scopes, never widen them")


class TokenRequest(BaseModel):
    """POST /oauth2/token (RFC 6749 4.3, 4.4, 6)."""

    grant: Union[ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant] = Field(discriminator="grant_type")


class TokenByValue(_ClientPost):
    """POST /oauth2/revoke (RFC 7009) and /oauth2/introspect (RFC 7662)."""

    token: str
    token_type_hint: Optional[Literal["access_token", "refresh_token"]] = None
