"""Secrets at rest: everything sensitive is sealed with AES-256-GCM under the master key.

The master key comes from KOPRU_MASTER_KEY (base64 of 32 bytes). Only the embedded
dev/test set-up may generate one, into the data dir, readable by its owner alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from kopru.config import settings

_NONCE = 12
_VERSION = b"\x01"


@lru_cache(maxsize=1)
def master_key() -> bytes:
    s = settings()
    raw = s.master_key
    if raw is None:
        if not s.embedded:
            raise RuntimeError("KOPRU_MASTER_KEY is required when DATABASE_URL is set")
        path = s.data_dir / "master.key"
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(secrets.token_bytes(32)).decode())
        raw = path.read_text().strip()
    key = base64.b64decode(raw)
    if len(key) != 32:
        raise RuntimeError("KOPRU_MASTER_KEY must be base64 of exactly 32 bytes")
    return key


def url_mac(purpose: str, *parts: str) -> str:
    """What a URL handed to an outside party (a provider's push, a payer's browser)
    stands for, as a MAC only Köprü can make: HMAC-SHA256 under a key derived from the
    master key for `purpose`, over the parts joined by U+001F, base64url without padding.
    The URL carries no bearer token, so the MAC is what makes it ours."""
    key = hmac.new(master_key(), purpose.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def url_mac_valid(sig: str | None, purpose: str, *parts: str) -> bool:
    """Whether `sig` (from a URL: anyone's text) is `url_mac(purpose, *parts)`, compared in
    constant time as bytes (compare_digest refuses a non-ASCII str with TypeError: a 500)."""
    return hmac.compare_digest(url_mac(purpose, *parts).encode(), (sig or "").encode("utf-8", "surrogatepass"))


def push_url(purpose: str, path: str, tenant_id: object, *more: object) -> str:
    """The public URL `path` with `?tenant=<id>&sig=<url_mac(purpose, tenant, *more)>`: what a
    provider's push or a payer's browser is given (Netgsm's report push, Bulutfon's webhooks,
    iyzico's callback and notification); the route checks it with `url_mac_valid`."""
    from urllib.parse import urlencode

    from kopru.config import settings

    sig = url_mac(purpose, str(tenant_id), *(str(m) for m in more))
    return f"{settings().public_url.rstrip('/')}{path}?" + urlencode({"tenant": str(tenant_id), "sig": sig})


def seal(plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE)
    return _VERSION + nonce + AESGCM(master_key()).encrypt(nonce, plaintext, aad)


def unseal(blob: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if blob[:1] != _VERSION:
        raise ValueError("unknown sealed-blob version")
    nonce, ct = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
    return AESGCM(master_key()).decrypt(nonce, ct, aad)


def new_client_id() -> str:
    return "kc_" + secrets.token_urlsafe(18)


def new_client_secret() -> str:
    # 256 bits of entropy: a plain SHA-256 is the right cost (it is not a human password)
    return "ks_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def secret_matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), bytes(stored_hash))


@lru_cache(maxsize=1)
def _password_hasher():
    from argon2 import PasswordHasher

    # RFC 9106's second recommended option (argon2id, 64 MiB, t=3, p=4)
    return PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def verify_password(password: str, stored: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _password_hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def dummy_password_check() -> bool:
    """As slow as a real check, for unknown users (no timing oracle for user names)."""
    verify_password("x", _dummy_hash())
    return False
