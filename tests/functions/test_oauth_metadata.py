"""RFC 8414 metadata, checked by a client nobody here wrote: Authlib validates the document
(field by field), then runs client credentials, introspection and revocation from the
endpoints it names alone, over real HTTPS on loopback (the issuer is an https URL, RFC 8414
section 2). The token's `iss` is that issuer, and PyJWT verifies it with the JWKS it names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time

import pytest


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


@pytest.fixture
def https_gateway(apps, tmp_path, monkeypatch):
    """kopru dev's gateway over HTTPS on 127.0.0.1, the issuer set as kopru dev sets it."""
    import uvicorn

    from kopru.config import reset_settings
    from kopru_tools.gateway import Gateway

    crt, pem = _self_signed(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"https://127.0.0.1:{port}"
    monkeypatch.setenv("KOPRU_ISSUER", f"{base}/function/token")
    reset_settings()
    server = uvicorn.Server(uvicorn.Config(Gateway(dict(apps)), lifespan="off", log_level="warning",
                                           ssl_certfile=str(crt), ssl_keyfile=str(pem)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the HTTPS gateway did not start"
        time.sleep(0.02)
    yield base, ssl.create_default_context(cafile=str(crt))
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    monkeypatch.undo()
    reset_settings()


async def test_authlib_discovers_the_endpoints_and_runs_the_grants(https_gateway, operator):
    import httpx
    import jwt
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    base, tls = https_gateway
    async with httpx.AsyncClient(verify=tls) as h:
        # RFC 8414 section 3: the well-known name, then the issuer's path
        r = await h.get(f"{base}/.well-known/oauth-authorization-server/function/token")
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
        alias = await h.get(f"{base}/function/token/.well-known/openid-configuration")
        assert alias.json() == r.json()
    meta = AuthorizationServerMetadata(r.json())
    # Authlib's own checks of RFC 8414's rules, field by field; all but response_types_supported,
    # which Authlib wants non-empty: Köprü has no authorization endpoint, so it lists none
    for name in ("issuer", "token_endpoint", "jwks_uri", "scopes_supported", "grant_types_supported",
                 "token_endpoint_auth_methods_supported", "revocation_endpoint",
                 "revocation_endpoint_auth_methods_supported", "introspection_endpoint",
                 "introspection_endpoint_auth_methods_supported"):
        getattr(meta, f"validate_{name}")()
    assert meta["issuer"] == f"{base}/function/token" and meta["response_types_supported"] == []

    async with AsyncOAuth2Client(operator["client_id"], operator["client_secret"], verify=tls,
                                 token_endpoint_auth_method="client_secret_basic") as oauth:
        token = await oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["access_token"]
        seen = (await oauth.introspect_token(meta["introspection_endpoint"], token=token["access_token"])).json()
        assert seen["active"] is True and seen["token_type"] == "Bearer" and seen["iss"] == meta["issuer"]
        async with httpx.AsyncClient(verify=tls) as h:
            jwks = (await h.get(meta["jwks_uri"])).json()
        header = jwt.get_unverified_header(token["access_token"])
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        claims = jwt.decode(token["access_token"], jwt.PyJWK(key).key, algorithms=[key["alg"]], audience="kopru",
                            issuer=meta["issuer"])
        assert claims["iss"] == meta["issuer"]
        assert (await oauth.revoke_token(meta["revocation_endpoint"], token=token["access_token"])).status_code == 200
        gone = (await oauth.introspect_token(meta["introspection_endpoint"], token=token["access_token"])).json()
        assert gone == {"active": False}


async def test_verifiers_nobody_here_wrote_accept_a_default_token(https_gateway, operator):
    """The default token (ES256) verified with nothing but the JWKS URL, by PyJWT's
    PyJWKClient (fetching it over HTTPS itself), python-jose and joserfc."""
    import asyncio

    import httpx
    import jwt
    from jose import jwt as jose_jwt
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import KeySet

    from kopru import admin
    from kopru.auth.keys import CACHE

    await asyncio.to_thread(admin.rotate_signing_key, immediate=True)  # a key of the default algorithm signs
    CACHE.clear()
    base, tls = https_gateway
    async with httpx.AsyncClient(verify=tls) as h:
        meta = (await h.get(f"{base}/function/token/.well-known/oauth-authorization-server")).json()
        tok = (await h.post(meta["token_endpoint"], data={"grant_type": "client_credentials"},
                            auth=(operator["client_id"], operator["client_secret"]))).json()["access_token"]
        jwks = (await h.get(meta["jwks_uri"])).json()
    assert jwt.get_unverified_header(tok)["alg"] == "ES256"

    fetcher = jwt.PyJWKClient(meta["jwks_uri"], ssl_context=tls)
    key = await asyncio.to_thread(fetcher.get_signing_key_from_jwt, tok)
    assert jwt.decode(tok, key.key, algorithms=["ES256"], audience="kopru", issuer=meta["issuer"])["scope"]

    kid = jwt.get_unverified_header(tok)["kid"]
    published = next(k for k in jwks["keys"] if k["kid"] == kid)  # chosen by kid, as a verifier does
    claims = jose_jwt.decode(tok, published, algorithms=["ES256"], audience="kopru", issuer=meta["issuer"])
    assert claims["iss"] == meta["issuer"]

    token = rfc_jwt.decode(tok, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.claims["iss"] == meta["issuer"] and token.header["kid"] == jwt.get_unverified_header(tok)["kid"]
