"""Data subjects: a tenant's customers, found by keyed blind indexes and stored only
encrypted, with envelope encryption.

    master key (KOPRU_MASTER_KEY), or AWS KMS (KOPRU_KMS_KEY_ID, via boto3)
      └─ wraps the tenant key        (tenant_keys.wrapped_key, aad / encryption context = tenant id)
           ├─ derives the index key  (HMAC(tenant key, "kopru/bidx/v1"))
           └─ with the current key epoch's key (a key store outside PostgreSQL, kopru.kvkk.epochs),
              HKDF-derives the KEK that seals each subject key
              (data_subjects.wrapped_key + key_epoch, aad = subject id + epoch)
                └─ encrypts the subject's fields (AES-256-GCM, aad = subject id + field name)

Blind index = HMAC-SHA256(index key, "<kind>:<normalised value>"): equal identifiers
of one tenant give equal indexes (unique per tenant), and nothing links the same
person across tenants. Destroying the subject key (crypto-shredding) makes the live
copies of the subject's ciphertext unreadable at once (rows, event payloads, exports);
a backup taken before it still holds the sealed subject key, and stops opening when the
key epoch it was sealed under is destroyed (kopru.kvkk.epochs: at most the epoch length
plus the backup retention after the backup was taken).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kopru.errors import KopruError
from kopru.kvkk.identifiers import KINDS, InvalidIdentifier, Kind, normalise

_VERSION = b"\x01"
_NONCE = 12
_INDEX_INFO = b"kopru/bidx/v1"


def seal_with(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_with(key: bytes, blob: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = bytes(blob)
    if blob[:1] != _VERSION:
        raise ValueError("unknown ciphertext version")
    return AESGCM(key).decrypt(blob[1:1 + _NONCE], blob[1 + _NONCE:], aad)


def field_aad(subject_id: uuid.UUID, name: str) -> bytes:
    return f"{subject_id}:{name}".encode()


def encrypt_field(key: bytes, subject_id: uuid.UUID, name: str, value: str) -> bytes:
    return seal_with(key, value.encode("utf-8"), field_aad(subject_id, name))


class FieldCipher:
    """decrypt_field for many fields of one subject: the AES-GCM key schedule once."""

    def __init__(self, key: bytes, subject_id: uuid.UUID) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aes = AESGCM(key)
        self._prefix = f"{subject_id}:"

    def decrypt(self, name: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        blob = bytes(blob)
        if blob[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        return self._aes.decrypt(blob[1:1 + _NONCE], blob[1 + _NONCE:], (self._prefix + name).encode()).decode("utf-8")


def decrypt_field(key: bytes, subject_id: uuid.UUID, name: str, blob: bytes | None) -> str | None:
    if blob is None:
        return None
    return open_with(key, blob, field_aad(subject_id, name)).decode("utf-8")


@dataclass(frozen=True)
class TenantKeys:
    tenant_id: uuid.UUID
    key: bytes = field(repr=False)
    index_key: bytes = field(repr=False)

    def bidx(self, kind: Kind, normalised: str) -> bytes:
        return hmac.new(self.index_key, f"{kind}:{normalised}".encode("utf-8"), hashlib.sha256).digest()

    def wrap(self, subject_id: uuid.UUID, subject_key: bytes) -> bytes:
        """The pre-epoch form (rows made before migration 0017): kept for reading and tests."""
        return seal_with(self.key, subject_key, str(subject_id).encode())

    def unwrap(self, subject_id: uuid.UUID, wrapped: bytes, epoch: str | None = None) -> bytes:
        """The subject key from data_subjects (wrapped_key, key_epoch); raises
        kopru.kvkk.epochs.EpochKeyDestroyed when its epoch's key is gone. Blocking on a cold
        epoch-key cache: async callers use open_subject_key."""
        from kopru.kvkk.epochs import open_subject_key as _open

        return _open(self.key, self.tenant_id, subject_id, bytes(wrapped), epoch)

    async def seal_new(self, subject_id: uuid.UUID, subject_key: bytes) -> tuple[str, bytes]:
        """(epoch id, sealed subject key) under the newest key epoch."""
        from kopru.kvkk.epochs import current_for_sealing, seal_subject_key

        epoch, ekey = await current_for_sealing()
        return epoch.id, seal_subject_key(self.key, self.tenant_id, subject_id, subject_key, epoch.id, ekey)


async def open_subject_key(keys: TenantKeys, subject_id: uuid.UUID, wrapped: bytes, epoch: str | None) -> bytes:
    """TenantKeys.unwrap with the epoch key loaded off the event loop when not cached."""
    if epoch is not None:
        from kopru.kvkk.epochs import load_key

        await load_key(epoch)
    return keys.unwrap(subject_id, bytes(wrapped), epoch)


_KMS = b"\x02"  # a tenant key wrapped by AWS KMS (version 1: sealed by the master key)
_KEY_CACHE: dict[tuple[uuid.UUID, bytes], tuple[float, bytes]] = {}
KEY_CACHE_TTL = 300.0


def _kms_key_id() -> str | None:
    from kopru.config import settings

    return settings().kms_key_id


@lru_cache(maxsize=1)
def _kms():
    import boto3

    return boto3.client("kms")


def reset_kms() -> None:
    """Forget the KMS client (and the settings naming its key: tests that change the environment)."""
    from kopru.config import reset_settings

    reset_settings()
    _kms.cache_clear()
    _KEY_CACHE.clear()


def _context(tenant_id: uuid.UUID) -> dict[str, str]:
    return {"kopru:purpose": "tenant-key", "kopru:tenant": str(tenant_id)}


def wrap_tenant_key(tenant_id: uuid.UUID, key: bytes) -> bytes:
    """The stored form of a tenant key: AWS KMS Encrypt under KOPRU_KMS_KEY_ID (with the
    tenant in the encryption context) when that is set, else sealed by the master key."""
    from kopru.auth.crypto import seal

    kms_key = _kms_key_id()
    if kms_key:
        out = _kms().encrypt(KeyId=kms_key, Plaintext=key, EncryptionContext=_context(tenant_id))
        return _KMS + out["CiphertextBlob"]
    return seal(key, str(tenant_id).encode())


def unwrap_tenant_key(tenant_id: uuid.UUID, wrapped: bytes) -> bytes:
    """Either form, whatever is configured now (keys made before KMS was turned on keep
    working). Unwrapped keys are cached in process for KEY_CACHE_TTL seconds, so KMS is
    asked once per tenant and warm instance, not once per request."""
    import time

    from kopru.auth.crypto import unseal

    now = time.monotonic()
    hit = _KEY_CACHE.get((tenant_id, wrapped))
    if hit is not None and hit[0] > now:
        return hit[1]
    if wrapped[:1] == _KMS:
        key = _kms().decrypt(CiphertextBlob=wrapped[1:], EncryptionContext=_context(tenant_id))["Plaintext"]
    else:
        key = unseal(wrapped, str(tenant_id).encode())
    if len(_KEY_CACHE) > 10_000:
        _KEY_CACHE.clear()
    _KEY_CACHE[(tenant_id, wrapped)] = (now + KEY_CACHE_TTL, key)
    return key


async def tenant_keys(tx) -> TenantKeys:
    """The transaction's tenant key, created on first use (32 random bytes, wrapped by
    AWS KMS or sealed by the master key: see wrap_tenant_key)."""
    tid = tx.tenant_id
    read = "select wrapped_key from tenant_keys where tenant_id = %(t)s"
    wrapped = (await tx.execute(read, {"t": tid})).scalar()
    if wrapped is None:
        made = await asyncio.to_thread(wrap_tenant_key, tid, secrets.token_bytes(32))
        await tx.conn.queue("insert into tenant_keys (tenant_id, wrapped_key) values (%(t)s, %(k)s) "
                            "on conflict (tenant_id) do nothing", {"t": tid, "k": made})
        # a concurrent first use may have won: read whichever key is stored
        wrapped = (await tx.execute(read, {"t": tid})).scalar_one()
    wrapped = bytes(wrapped)
    if wrapped[:1] == _KMS and (tid, wrapped) not in _KEY_CACHE:
        key = await asyncio.to_thread(unwrap_tenant_key, tid, wrapped)  # a network call to KMS
    else:
        key = unwrap_tenant_key(tid, wrapped)
    return TenantKeys(tid, key, hmac.new(key, _INDEX_INFO, hashlib.sha256).digest())


@dataclass(frozen=True)
class SubjectRef:
    id: uuid.UUID
    key: bytes | None = field(repr=False)  # None once the key is destroyed
    created: bool = False
    added: tuple[str, ...] = ()  # identifiers merged into an existing subject


def normalised_identifiers(subject_in: Any) -> dict[str, str]:
    """{kind: normalised value} of the identifiers given (attributes or dict keys
    phone/email/tckn); at least one is required."""
    out: dict[str, str] = {}
    for kind in KINDS:
        raw = subject_in.get(kind) if isinstance(subject_in, dict) else getattr(subject_in, kind, None)
        if raw is not None:
            try:
                out[kind] = normalise(kind, raw)
            except InvalidIdentifier as exc:
                raise KopruError(exc.code) from None
    if not out:
        raise KopruError("subject.identifier_missing")
    return out


async def find_or_create_subject(tx, subject_in: Any) -> SubjectRef:
    """The one subject these identifiers name, created when none exists and completed
    with identifiers it lacked (phone and e-mail of one person become one subject).

    Refused with subject.identifiers_conflict rather than guessed when the identifiers
    point to two different subjects, or one of them differs from what the subject
    already has (a second phone for the same e-mail)."""
    from psycopg import IntegrityError

    ids = normalised_identifiers(subject_in)
    keys = await tenant_keys(tx)
    bidx = {k: keys.bidx(k, v) for k, v in ids.items()}
    # the kinds are KINDS' own names (phone, email, tckn), never input
    look = ("select id, wrapped_key, key_epoch, phone_bidx, email_bidx, tckn_bidx from data_subjects where "
            + " or ".join(f"{k}_bidx = %({k})s" for k in bidx) + " for update")
    for _ in range(3):
        rows = (await tx.execute(look, bidx)).all()
        if len({r.id for r in rows}) > 1:
            raise KopruError("subject.identifiers_conflict")
        if not rows:
            sid = uuid.uuid4()
            skey = secrets.token_bytes(32)
            epoch, sealed = await keys.seal_new(sid, skey)
            values: dict[str, Any] = {"id": sid, "tenant_id": tx.tenant_id, "wrapped_key": sealed,
                                      "key_epoch": epoch, "pre_epoch_wrap": False}
            for k, v in ids.items():
                values[f"{k}_bidx"] = bidx[k]
                values[f"{k}_enc"] = encrypt_field(skey, sid, k, v)
            cols = ", ".join(values)
            made = (await tx.execute(
                f"insert into data_subjects ({cols}) values ({', '.join(f'%({c})s' for c in values)}) "
                "on conflict do nothing returning id", values)).first()
            if made is None:
                continue  # a concurrent request created it: look again
            return SubjectRef(sid, skey, created=True, added=tuple(ids))
        row = rows[0]
        if row.wrapped_key is None:  # shredding clears the indexes, so this is not reached normally
            raise KopruError("subject.identifiers_conflict")
        skey = await open_subject_key(keys, row.id, row.wrapped_key, row.key_epoch)
        changes: dict[str, Any] = {}
        for k, v in ids.items():
            have = getattr(row, f"{k}_bidx")
            if have is None:
                changes[f"{k}_bidx"] = bidx[k]
                changes[f"{k}_enc"] = encrypt_field(skey, row.id, k, v)
            elif bytes(have) != bidx[k]:
                raise KopruError("subject.identifiers_conflict")
        if changes:
            try:
                async with tx.conn.begin_nested():
                    await tx.execute("update data_subjects set " + ", ".join(f"{c} = %({c})s" for c in changes)
                                     + " where id = %(_id)s", {**changes, "_id": row.id})
            except IntegrityError:
                continue  # a concurrent request gave that identifier to another subject: decide again
        added = tuple(k for k in ids if f"{k}_bidx" in changes)
        return SubjectRef(row.id, skey, added=added)
    raise KopruError("unavailable", detail="subject look-up kept racing; retry")


async def find_subject_row(tx, keys: "TenantKeys", kind: str, value: str):
    """The data_subjects row (id, wrapped_key, key_epoch) an identifier names (value
    normalised here), or None; the subject's key stays sealed (open it once, where needed)."""
    if kind not in KINDS:
        return None
    try:
        norm = normalise(kind, value)
    except InvalidIdentifier:
        return None
    # the kind is one of KINDS' own names, never input
    return (await tx.execute(f"select id, wrapped_key, key_epoch from data_subjects where {kind}_bidx = %(b)s",
                             {"b": keys.bidx(kind, norm)})).first()


async def resolve_subject_row(tx, keys: "TenantKeys", subject_in):
    """The data_subjects row a `subject` reference names (its `id`, or its phone, e-mail and
    TCKN, which must all name the same one): subject.not_found, subject.identifiers_conflict.
    The key stays sealed."""
    from kopru.errors import KopruError

    if subject_in.id is not None:
        row = (await tx.execute("select id, wrapped_key, key_epoch from data_subjects where id = %(id)s",
                                {"id": uuid.UUID(subject_in.id)})).first()
        rows = [row] if row is not None else []
    else:
        rows = []
        for kind in ("phone", "email", "tckn"):
            value = getattr(subject_in, kind)
            if value is not None:
                row = await find_subject_row(tx, keys, kind, value)
                if row is not None:
                    rows.append(row)
    if not rows:
        raise KopruError("subject.not_found")
    if len({r.id for r in rows}) > 1:
        raise KopruError("subject.identifiers_conflict")
    return rows[0]


async def find_subject(tx, kind: Kind, value: str) -> SubjectRef | None:
    """The subject an identifier names (value normalised here), or None."""
    keys = await tenant_keys(tx)
    row = await find_subject_row(tx, keys, kind, value)
    if row is None:
        return None
    if row.wrapped_key is None:
        return SubjectRef(row.id, None)
    return SubjectRef(row.id, await open_subject_key(keys, row.id, row.wrapped_key, row.key_epoch))


async def get_subject(tx, subject_id: uuid.UUID) -> SubjectRef | None:
    """The subject with this id in the transaction's tenant, or None."""
    row = (await tx.execute("select id, wrapped_key, key_epoch from data_subjects where id = %(id)s",
                            {"id": subject_id})).first()
    if row is None:
        return None
    if row.wrapped_key is None:
        return SubjectRef(row.id, None)
    return SubjectRef(row.id, await open_subject_key(await tenant_keys(tx), row.id, row.wrapped_key, row.key_epoch))


async def subject_key(tx, subject_id: uuid.UUID) -> bytes | None:
    """The subject's data key, or None when the subject is unknown or shredded."""
    row = (await tx.execute("select wrapped_key, key_epoch from data_subjects where id = %(id)s",
                            {"id": subject_id})).first()
    if row is None or row.wrapped_key is None:
        return None
    return await open_subject_key(await tenant_keys(tx), subject_id, row.wrapped_key, row.key_epoch)


async def decrypt_subject(tx, subject_id: uuid.UUID) -> dict[str, Any] | None:
    """The subject's identifiers in clear, or None once its key is destroyed (or it
    does not exist in this tenant)."""
    row = (await tx.execute("select wrapped_key, key_epoch, phone_enc, email_enc, tckn_enc from data_subjects "
                            "where id = %(id)s", {"id": subject_id})).first()
    if row is None or row.wrapped_key is None:
        return None
    key = await open_subject_key(await tenant_keys(tx), subject_id, row.wrapped_key, row.key_epoch)
    out: dict[str, Any] = {"id": subject_id}
    for k in KINDS:
        out[k] = decrypt_field(key, subject_id, k, getattr(row, f"{k}_enc"))
    return out


async def destroy_subject_key(tx, subject_id: uuid.UUID) -> bool:
    """Crypto-shredding: drop the subject's wrapped key (and its blind indexes, which
    would still let a known identifier be tested). Every ciphertext under that key,
    wherever a copy sits, becomes unreadable. False when unknown or already done."""
    done = (await tx.execute(
        "update data_subjects set wrapped_key = null, key_destroyed_at = now(), phone_bidx = null, "
        "email_bidx = null, tckn_bidx = null where id = %(id)s and wrapped_key is not null returning id",
        {"id": subject_id})).first()
    if done is None:
        return False
    await tx.audit("subject.key_destroyed", target=str(subject_id))
    return True
