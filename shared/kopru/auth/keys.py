"""Signing keys: created and rotated by operators, published in the JWKS, cached in process.

Life of a key: created with `signs_from` in the future (published before it signs
anything, so every verifier's cache already has it), signs until the next key takes
over (`retired_at`), then stays in the JWKS until its last token expired
(`expires_at` = retired_at + token lifetime + leeway).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kopru.auth.crypto import seal, unseal

KID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# ES256 by default: the one every mainstream verifier takes (Python's PyJWT, python-jose and
# joserfc, Java's Nimbus, Go's and JavaScript's JOSE libraries, Envoy/Istio, Kong) and cheap
# to sign; EdDSA and RS256 stay selectable (`kopru keys rotate --alg`)
ALGORITHMS = ("ES256", "EdDSA", "RS256")
DEFAULT_ALG = "ES256"
PUBLISH_AHEAD = timedelta(minutes=5)  # >= JWKS cache max-age
LEEWAY_SECONDS = 30
REFRESH_MIN_INTERVAL = 10.0  # an unknown kid triggers at most one reload per 10 s
CACHE_TTL = 300.0

# Verified tokens (kopru.auth.tokens fills it), by their exact bytes: a client reuses its
# token for many calls, and a hit only re-checks the clock. Bounded; emptied whenever the
# key set changes, which is why it lives with the keys.
VERIFIED: "OrderedDict[str, Any]" = OrderedDict()
VERIFIED_MAX = 10_000


def forget_verified() -> None:
    VERIFIED.clear()


@dataclass(frozen=True)
class VerifyKey:
    kid: str
    alg: str
    key: Any  # cryptography public key object
    jwk: dict


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: Any  # cryptography private key object


def generate(alg: str = DEFAULT_ALG) -> tuple[str, dict, bytes]:
    """A new key pair: (kid, public JWK, sealed private key). The JWK is PyJWT's own
    rendering of the public key (RFC 7517/7518/8037), never hand-built."""
    import secrets

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

    if alg not in ALGORITHMS:
        raise ValueError(f"alg must be one of {ALGORITHMS}")
    kid = secrets.token_urlsafe(12)
    if alg == "ES256":
        priv = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(priv.public_key(), as_dict=True)
    elif alg == "EdDSA":
        priv = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(priv.public_key(), as_dict=True)
    else:
        priv = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        jwk = RSAAlgorithm.to_jwk(priv.public_key(), as_dict=True)
    jwk = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return kid, jwk, seal(pem, aad=kid.encode())


def _public_from_jwk(jwk: dict) -> Any:
    """A public key object from our own JWK, through PyJWT's JWK support."""
    import jwt

    return jwt.PyJWK(jwk).key


class KeyCache:
    """Public keys and the current signing key, loaded from the platform tables."""

    def __init__(self) -> None:
        self._verify: dict[str, VerifyKey] = {}
        self._signing: SigningKey | None = None
        self._signing_until: float = 0.0
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def clear(self) -> None:
        forget_verified()
        self._verify.clear()
        self._signing = None
        self._loaded_at = 0.0

    async def _load(self) -> None:
        from kopru.db import platform_transaction

        now = datetime.now(timezone.utc)
        async with platform_transaction() as conn:
            rows = (await conn.execute(
                "select kid, alg, public_jwk, signs_from, retired_at, expires_at from signing_keys "
                "where expires_at is null or expires_at > %(now)s", {"now": now})).all()
        fresh = {r.kid: VerifyKey(r.kid, r.alg, _public_from_jwk(r.public_jwk), dict(r.public_jwk)) for r in rows}
        if set(fresh) != set(self._verify):
            forget_verified()  # a key left the set: its tokens must be checked again
        self._verify = fresh
        self._loaded_at = time.monotonic()

    async def verify_key(self, kid: str) -> VerifyKey | None:
        key = self._verify.get(kid)
        age = time.monotonic() - self._loaded_at
        if key is not None and age < CACHE_TTL:
            return key
        if key is None and age < REFRESH_MIN_INTERVAL:
            return None  # unknown kids cannot force a reload storm
        async with self._lock:
            if time.monotonic() - self._loaded_at >= REFRESH_MIN_INTERVAL:  # nobody reloaded meanwhile
                await self._load()
        return self._verify.get(kid)

    async def jwks(self) -> dict:
        if time.monotonic() - self._loaded_at >= CACHE_TTL or not self._verify:
            async with self._lock:
                await self._load()
        return {"keys": [k.jwk for k in self._verify.values()]}

    async def signing_key(self) -> SigningKey:
        if self._signing is not None and time.monotonic() < self._signing_until:
            return self._signing
        from cryptography.hazmat.primitives import serialization
        from kopru.db import platform_transaction

        now = datetime.now(timezone.utc)
        async with platform_transaction() as conn:
            row = (await conn.execute(
                "select kid, alg, private_key_enc, retired_at from signing_keys "
                "where signs_from <= %(now)s and (retired_at is null or retired_at > %(now)s) "
                "order by signs_from desc limit 1", {"now": now})).first()
            nxt = (await conn.execute(
                "select signs_from from signing_keys where signs_from > %(now)s order by signs_from limit 1",
                {"now": now})).scalar()
        if row is None:
            from kopru.errors import KopruError

            raise KopruError("unavailable", detail="no signing key: run `kopru keys rotate`")
        pem = unseal(bytes(row.private_key_enc), aad=row.kid.encode())
        self._signing = SigningKey(row.kid, row.alg, serialization.load_pem_private_key(pem, password=None))
        # re-read when the next key takes over, and at least every 5 minutes
        horizon = CACHE_TTL
        for t in (nxt, row.retired_at):
            if t is not None:
                horizon = min(horizon, max(0.0, (t - now).total_seconds()))
        self._signing_until = time.monotonic() + horizon
        return self._signing


CACHE = KeyCache()
