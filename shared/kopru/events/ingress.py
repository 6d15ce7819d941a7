"""Authenticated event ingress: who may POST an event or a schedule tick to a function.

`POST /` of every function runs what it is sent (the retention purge, the polls, an
SMS send) and trusts the event's `tenantid`. So before the runtime reads anything
of the event, `verify_sender` must know who sent it; otherwise 401
`cloudevent.unauthenticated` with `WWW-Authenticate: Bearer` (RFC 6750 §3), and
nothing is parsed, run or written. Two kinds of sender are verified, both as an
`Authorization: Bearer <JWT>` header, both with PyJWT:

1. **Köprü's own senders** (the Kafka dispatcher `kopru dispatch`, the relay's
   in-process bus of `kopru dev`, the schedule ticker, an operator with
   `kopru events token`): an HS256 JWT the platform issues per function.
   - `aud` = the function's name, `iss` = `urn:kopru:events`, `sub` = the sender
     (one of SENDERS), `iat`/`exp` (300 s by default, KOPRU_EVENT_TOKEN_TTL),
     `jti`.
   - The key is per function: HKDF-SHA256 (RFC 5869, `cryptography`) of the platform
     secret with the function's name as `info`. A token for one function is refused
     by every other on its audience *and* its key; a function holding the platform
     secret could mint tokens for others, but every function already holds the
     master key that seals every secret, so a per-function asymmetric key would not
     raise that wall, while HMAC keeps verification to one hash and no database or
     network round trip.
   - The platform secret is KOPRU_EVENT_SIGNING_KEY (base64, at least 32 bytes) or,
     by default, HKDF of the master key (`kopru.auth.crypto.master_key()`) with its
     own `info`, so the sealing key itself never signs anything.

2. **Knative Eventing's sender identity** (feature flag `authentication-oidc`,
   https://knative.dev/docs/eventing/features/sender-identity/): a source
   (KafkaSource, PingSource, a Broker's Trigger) requests a token for its own
   service account from the Kubernetes TokenRequest API with the target's
   audience and sends it as `Authorization: Bearer`. The token is a Kubernetes
   service-account JWT: `iss` is the cluster's service-account issuer, `sub`
   `system:serviceaccount:<namespace>:<name>`, `aud` the audience asked for,
   `exp`/`iat`/`nbf`, signed RS256 (or ES256) with a key published through OIDC
   discovery (`<issuer>/.well-known/openid-configuration` -> `jwks_uri`).
   - The audience: Knative's `auth.GetAudience` (knative/eventing
     pkg/auth/audience.go) forms `<group>/<kind>/<namespace>/<name>`, lower-cased,
     for the Addressables that announce one in `status.address.audience`. A
     Knative Serving Service announces none, so the rendered sources set
     `spec.sink.audience` (the CRDs' "Audience is the OIDC audience. This only needs
     to be set if the target is not an Addressable…") to the same format for the
     Service: `serving.knative.dev/service/<namespace>/<function>`
     (KOPRU_EVENT_AUDIENCE, a template with {namespace} and {function};
     KOPRU_NAMESPACE).
   - Trusted issuers: KOPRU_OIDC_ISSUERS (space- or comma-separated URLs, compared
     exactly with `iss`); none configured, no OIDC token is accepted. The discovery
     document's `issuer` must equal the URL (OpenID Connect Discovery 1.0 §4.3). The
     JWKS is fetched with httpx (KOPRU_OIDC_CA_BUNDLE for a private CA), cached for
     JWKS_TTL seconds, and fetched again for an unknown `kid` at most once per
     JWKS_MIN_REFRESH seconds (rotation without letting random kids hammer the
     issuer). The algorithm is the key's own (its JWK `alg`, else its type's
     default), never the token header's choice: `alg: none` and HS256 signed with
     the public key are refused.

Verified tokens are cached (function, token) -> sender until their `exp`, at most
CACHE_MAX entries: every event pays one dictionary look-up after the first.

The OpenFaaS connectors (kafka-connector, cron-connector) can send no
Authorization header (connector-sdk's Invoker adds only Content-Type, X-Topic and
the connector's own headers; cron-connector posts an empty body), so on OpenFaaS
Köprü's own dispatcher and ticker deliver instead (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from kopru.errors import KopruError

PLATFORM_ISSUER = "urn:kopru:events"
PLATFORM_ALG = "HS256"
SENDERS = ("dispatcher", "bus", "relay", "schedule", "operator")
LEEWAY = 5  # seconds of clock skew allowed on exp/iat/nbf
CACHE_MAX = 4096
JWKS_TTL = 300.0
JWKS_MIN_REFRESH = 10.0
REALM = "kopru-events"


@dataclass(frozen=True)
class Sender:
    """Who sent an event: `kind` "platform" (sub = one of SENDERS) or "oidc"
    (sub = the Kubernetes service account, iss = the cluster's issuer)."""

    kind: str
    subject: str
    issuer: str


def _unauthenticated(detail: str, invalid: bool = True) -> KopruError:
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    return KopruError("cloudevent.unauthenticated", detail=detail, headers={"WWW-Authenticate": challenge})


# -- keys ----------------------------------------------------------------------

def _hkdf(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kopru-events-v1", info=info).derive(secret)


@lru_cache(maxsize=1)
def _platform_secret() -> bytes:
    import base64
    import binascii

    from kopru.config import settings

    raw = settings().event_signing_key
    if raw:
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RuntimeError("KOPRU_EVENT_SIGNING_KEY must be base64") from None
        if len(key) < 32:
            raise RuntimeError("KOPRU_EVENT_SIGNING_KEY must hold at least 32 bytes")
        return key
    from kopru.auth.crypto import master_key

    return _hkdf(master_key(), b"kopru event signing secret")


@lru_cache(maxsize=512)
def function_key(function: str) -> bytes:
    """The HS256 key of one function's sender tokens."""
    return _hkdf(_platform_secret(), b"function:" + function.encode())


def reset_keys() -> None:
    """Forget derived keys, verified tokens and issued tokens (tests that change the secret)."""
    _platform_secret.cache_clear()
    function_key.cache_clear()
    _verified.clear()
    _issued.clear()


# -- issuing (Köprü's senders) ------------------------------------------------------

def issue(function: str, sender: str = "operator", ttl: int | None = None) -> str:
    """A fresh sender token for `function`."""
    import jwt

    from kopru.config import settings

    if sender not in SENDERS:
        raise ValueError(f"unknown sender {sender!r}")
    ttl = settings().event_token_ttl if ttl is None else int(ttl)
    if ttl < 1:
        raise ValueError("ttl must be at least 1 second")
    now = int(time.time())
    claims = {"iss": PLATFORM_ISSUER, "sub": sender, "aud": function, "iat": now, "nbf": now,
              "exp": now + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, function_key(function), algorithm=PLATFORM_ALG, headers={"typ": "JWT"})


_issued: dict[tuple[str, str], tuple[float, str]] = {}


def bearer(function: str, sender: str) -> str:
    """`Bearer <token>` for a sender's next delivery to `function`: one token reused
    until half its lifetime is gone (a retry after a long backoff still carries a
    live one)."""
    from kopru.config import settings

    key = (function, sender)
    now = time.time()
    hit = _issued.get(key)
    if hit is None or hit[0] <= now:
        ttl = settings().event_token_ttl
        hit = (now + ttl / 2, "Bearer " + issue(function, sender, ttl))
        _issued[key] = hit
    return hit[1]


# -- verifying -----------------------------------------------------------------

_verified: dict[tuple[str, str], tuple[float, Sender]] = {}


def _remember(key: tuple[str, str], exp: Any, sender: Sender) -> None:
    if not isinstance(exp, (int, float)):
        return
    if len(_verified) >= CACHE_MAX:
        now = time.time()
        for k in [k for k, (e, _) in _verified.items() if e <= now]:
            del _verified[k]
        if len(_verified) >= CACHE_MAX:
            _verified.clear()
    _verified[key] = (float(exp), sender)


def expected_audience(function: str) -> str:
    """The audience a Knative source's OIDC token must carry for this function."""
    from kopru.config import settings

    s = settings()
    return s.event_audience.format(function=function, namespace=s.namespace).lower()


async def verify_sender(function: str, headers: Mapping[str, str]) -> Sender:
    """The verified sender of a request to `function`'s `POST /`, or 401."""
    auth = headers.get("authorization")
    if not auth:
        raise _unauthenticated("no sender token (Authorization: Bearer)", invalid=False)
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthenticated("the Authorization header is not a Bearer token", invalid=False)
    key = (function, token)
    hit = _verified.get(key)
    if hit is not None:
        if hit[0] > time.time():
            return hit[1]
        _verified.pop(key, None)
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _unauthenticated("the sender token is not a JWT") from None
    alg = header.get("alg")
    if alg == PLATFORM_ALG:
        claims, sender = _verify_platform(function, token)
    elif alg in _ASYMMETRIC:
        claims, sender = await _verify_oidc(function, token, header)
    else:
        raise _unauthenticated("the sender token's algorithm is not accepted")
    _remember(key, claims.get("exp"), sender)
    return sender


_REQUIRED = ["exp", "iat", "iss", "sub", "aud"]


def _verify_platform(function: str, token: str) -> tuple[dict, Sender]:
    import jwt

    try:
        claims = jwt.decode(token, function_key(function), algorithms=[PLATFORM_ALG], audience=function,
                            issuer=PLATFORM_ISSUER, leeway=LEEWAY, options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise _unauthenticated("the sender token has expired") from None
    except jwt.PyJWTError:
        raise _unauthenticated("the sender token is not valid for this function") from None
    if claims.get("sub") not in SENDERS:
        raise _unauthenticated("the sender token names no known sender")
    return claims, Sender("platform", claims["sub"], PLATFORM_ISSUER)


# -- Knative Eventing OIDC -------------------------------------------------------

_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


@dataclass
class _Issuer:
    url: str
    keys: Any = None  # jwt.PyJWKSet
    fetched: float = 0.0
    lock: asyncio.Lock | None = None


_issuers: dict[str, _Issuer] = {}


async def _fetch_keys(iss: _Issuer) -> None:
    import httpx
    import jwt

    from kopru.config import settings

    verify: Any = settings().oidc_ca_bundle or True
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=verify, follow_redirects=False) as c:
            r = await c.get(iss.url.rstrip("/") + "/.well-known/openid-configuration")
            r.raise_for_status()
            doc = r.json()
            if not isinstance(doc, dict) or doc.get("issuer") != iss.url or not isinstance(doc.get("jwks_uri"), str):
                raise ValueError("discovery document does not match its issuer")
            r = await c.get(doc["jwks_uri"])
            r.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(r.json())
    except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
        from kopru.logs import get_logger

        get_logger("kopru.events.ingress").warning(
            "OIDC issuer keys unavailable", extra={"fields": {"issuer": iss.url, "error": type(exc).__name__}})
        iss.fetched = time.monotonic()  # not again before JWKS_MIN_REFRESH
        # the sender may be genuine: 503 lets Knative retry instead of dead-lettering
        raise KopruError("unavailable", detail="the event sender's token issuer cannot be reached") from None
    iss.keys, iss.fetched = keys, time.monotonic()


async def _signing_key(url: str, kid: str | None):
    iss = _issuers.get(url)
    if iss is None:
        iss = _issuers.setdefault(url, _Issuer(url, lock=asyncio.Lock()))
    assert iss.lock is not None

    def find():
        if iss.keys is None:
            return None
        for k in iss.keys.keys:
            if k.key_id == kid or (kid is None and len(iss.keys.keys) == 1):
                return k
        return None

    age = time.monotonic() - iss.fetched
    key = find() if age < JWKS_TTL else None
    if key is None and (iss.keys is None or age >= JWKS_MIN_REFRESH):
        async with iss.lock:
            if time.monotonic() - iss.fetched >= JWKS_MIN_REFRESH or iss.keys is None:
                await _fetch_keys(iss)
        key = find()
    if key is None:
        raise _unauthenticated("the sender token's key is not published by its issuer")
    return key


async def _verify_oidc(function: str, token: str, header: dict) -> tuple[dict, Sender]:
    import jwt

    from kopru.config import settings

    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _unauthenticated("the sender token is not a JWT") from None
    url = unverified.get("iss")
    if not isinstance(url, str) or url not in settings().oidc_issuers:
        raise _unauthenticated("the sender token's issuer is not trusted")
    kid = header.get("kid")
    key = await _signing_key(url, kid if isinstance(kid, str) else None)
    if key.algorithm_name != header.get("alg"):
        raise _unauthenticated("the sender token's algorithm does not match its key")
    try:
        claims = jwt.decode(token, key, algorithms=[key.algorithm_name], audience=expected_audience(function),
                            issuer=url, leeway=LEEWAY, options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise _unauthenticated("the sender token has expired") from None
    except jwt.PyJWTError:
        raise _unauthenticated("the sender token is not valid for this function") from None
    return claims, Sender("oidc", str(claims["sub"]), url)


def reset_issuers() -> None:
    _issuers.clear()
    _verified.clear()
