"""Key-encryption-key epochs: what makes an erasure reach the copies of the database.

The gap they close. Crypto-shredding (kopru.kvkk.subjects.destroy_subject_key) sets
data_subjects.wrapped_key to NULL. A pg_dump or WAL archive taken before that still
holds the wrapped subject key, and everything that opens it (tenant_keys.wrapped_key,
also in the dump, and the master key or KMS key that opens that) is unchanged, so a
restored old copy would decrypt the subject's phone, e-mail and texts for as long as the
copy exists. Whatever is in the dump cannot be taken back; only something *outside* the
database that the dump needs, and that Köprü destroys, can end it.

The design.

    master key / AWS KMS ─ tenant key (tenant_keys) ─┐
                                                     ├─ HKDF ─ KEK(tenant, epoch) ─ seals the subject key
    key store (outside PostgreSQL) ─ epoch key ──────┘          (data_subjects.wrapped_key, .key_epoch)

- An *epoch* is a 32-byte key in a key store outside PostgreSQL, with an id, a start and
  a planned end (start + KOPRU_KEY_EPOCH_DAYS). A subject key is sealed (AES-256-GCM, aad =
  subject id + epoch id) under KEK = HKDF-SHA256(salt = epoch key, ikm = tenant key,
  info = "kopru/subject-kek/v1" | tenant id | epoch id): the epoch key alone (a stolen key
  store) opens nothing, and neither does the database with the master key alone.
  `data_subjects.key_epoch` names the epoch; NULL is the pre-epoch form (sealed under the
  tenant key alone, rows made before migration 0017), still read.
- New subject keys are sealed under the newest epoch. The rotation (`rotate`, run by the
  retention-purge's daily tick and by `kopru keys epochs rotate`) starts a new epoch once
  the newest has reached its planned end, and every run re-seals every live subject key
  that is not under the newest epoch (pre-epoch rows included), tenant by tenant, in
  batches of one short transaction each (rows taken FOR UPDATE SKIP LOCKED, keyset order):
  killed at any point it leaves each row either in its old form or its new one, both
  readable, and the next run carries on. Re-sealing changes only the wrapping; the subject
  key and every ciphertext under it stay as they are.
- An epoch's key is destroyed once no live row uses it (counted across every tenant by the
  security-definer function kopru_key_epochs_in_use(), migration 0017) and its planned end
  lies more than KOPRU_BACKUP_RETENTION_DAYS behind. A copy taken at time T holds subject
  keys only under epochs started by T, whose planned ends are at most T + epoch length; so
  it can be decrypted at most until **T + KOPRU_KEY_EPOCH_DAYS + KOPRU_BACKUP_RETENTION_DAYS**
  (plus the KMS deletion window with the KMS store), and every backup kept within its
  retention stays restorable. For an erased subject the bound is exact: the epoch its key
  was under at the erasure, planned end + retention (kopru.kvkk.applications.copies_bound).
  The destruction is done by the first rotation run at or after that moment (the tick is
  daily). The planned end, not the moment the rotation actually ran, counts: when rotations
  stop for days, a backup taken while one was overdue loses those subjects before its own
  retention ends, rather than the stated bound becoming false; the rotation report and the
  log say `overdue`. A live row still under an epoch due for destruction holds it back
  (the report lists it under `waiting`): live data is never destroyed.

Key stores (`KOPRU_KEY_STORE`):
- a directory (default `<data dir>/key-store`, mode 0700, one 0600 JSON file per epoch).
  Destruction overwrites the file with zeros, fsyncs and unlinks it, and leaves a tombstone
  naming the epoch. On a journaling file system or an SSD that does not guarantee the bytes
  are gone from the medium: use an encrypted volume, and keep the directory out of the
  database's backups (a backup of the key store kept N days adds N days to every bound). For
  development, tests and a single host; a directory shared by many instances must be one
  volume they all mount.
- `kms:<alias prefix>` (e.g. `kms:kopru/epochs`): one AWS KMS customer-managed HMAC key
  (HMAC_256, GENERATE_VERIFY_MAC) per epoch, aliased `alias/<prefix>/<epoch id>`, its
  start and end in its description; the epoch key is GenerateMac(that key, "kopru/epoch-key/
  v1:<epoch id>"), so no key material is ever stored anywhere. Destruction is
  ScheduleKeyDeletion with the shortest window AWS allows (7 days): the key is disabled at
  once (KMS refuses GenerateMac from then on) and its material deleted when the window
  ends, after which AWS cannot recover it either; the bound therefore includes those 7 days.
  Each epoch key is one KMS key (about 1 USD a month each; with weekly epochs and a 30-day
  retention some 6 exist at once).

Reads stay fast: epoch keys are cached in process for KEY_TTL seconds like tenant keys
(a warm instance may hold a destroyed epoch's key that long), the newest epoch for
CURRENT_TTL seconds, and the KEK is two HMACs.

What this does not reach: copies taken *before* a subject was first sealed under an epoch
(`data_subjects.pre_epoch_wrap`, true for rows made before 0017) hold the pre-epoch form,
which the tenant key opens, and the tenant key is sealed by the master key (or KMS key) in
the same copy: those copies stay decryptable until the master key / KMS key of that time is
retired (re-seal the tenant keys under a new one, then destroy the old). The erasure report
says so for such a subject. The blind indexes in an old copy still let someone holding the
tenant key test a guessed phone number against it (a membership test, not a decryption).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from kopru.logs import get_logger

log = get_logger("kopru.kvkk.epochs")

KEK_INFO = b"kopru/subject-kek/v1"
KEY_TTL = 300.0  # seconds a warm instance keeps an epoch key
CURRENT_TTL = 60.0  # seconds it keeps "the newest epoch"


class EpochKeyDestroyed(Exception):
    """The epoch's key is gone (destroyed, or never in this store): what it sealed cannot be opened."""

    def __init__(self, epoch_id: str) -> None:
        super().__init__(f"key epoch {epoch_id}: key destroyed or unknown")
        self.epoch_id = epoch_id


@dataclass(frozen=True)
class Epoch:
    id: str
    started_at: datetime
    ends_at: datetime  # planned: started_at + KOPRU_KEY_EPOCH_DAYS
    destroyed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "started_at": self.started_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "destroyed_at": self.destroyed_at.isoformat() if self.destroyed_at else None}


def _iso(d: datetime) -> str:
    return d.astimezone(timezone.utc).isoformat()


def _new_id(started_at: datetime) -> str:
    # ordered by start, unique across stores (KMS alias characters only)
    return started_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def _newest(epochs: list[Epoch]) -> Epoch | None:
    live = [e for e in epochs if e.destroyed_at is None]
    return max(live, key=lambda e: (e.started_at, e.id)) if live else None


class LocalKeyStore:
    """Epoch keys in a directory: `<id>.key` (0600 JSON with the key), `<id>.destroyed` once gone."""

    kind = "local"
    destroy_delay = timedelta(0)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return str(self.path)

    def _dir(self) -> Path:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.path

    def epochs(self) -> list[Epoch]:
        out: dict[str, Epoch] = {}
        if not self.path.exists():
            return []
        for p in self.path.iterdir():
            if p.suffix not in (".key", ".destroyed"):
                continue
            try:
                doc = json.loads(p.read_text())
                e = Epoch(doc["id"], datetime.fromisoformat(doc["started_at"]), datetime.fromisoformat(doc["ends_at"]),
                          datetime.fromisoformat(doc["destroyed_at"]) if doc.get("destroyed_at") else None)
            except (OSError, ValueError, KeyError):
                continue  # a half-written or zeroed file: not an epoch
            if e.id not in out or e.destroyed_at is not None:
                out[e.id] = e
        return sorted(out.values(), key=lambda e: (e.started_at, e.id))

    def create(self, started_at: datetime, ends_at: datetime) -> Epoch:
        import fcntl

        d = self._dir()
        with open(d / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one creator at a time: two racing rotations make one epoch
            newest = _newest(self.epochs())
            if newest is not None and started_at < newest.ends_at:
                return newest  # another rotation made it while this one waited
            e = Epoch(_new_id(started_at), started_at, ends_at)
            doc = {"v": 1, "id": e.id, "started_at": _iso(started_at), "ends_at": _iso(ends_at),
                   "key": base64.b64encode(secrets.token_bytes(32)).decode()}
            tmp = d / f".{e.id}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(doc))
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, d / f"{e.id}.key")
            _fsync_dir(d)
        return e

    def key(self, epoch_id: str) -> bytes:
        if not _safe_id(epoch_id):
            raise EpochKeyDestroyed(epoch_id)
        try:
            doc = json.loads((self.path / f"{epoch_id}.key").read_text())
            key = base64.b64decode(doc["key"])
        except (OSError, ValueError, KeyError):
            raise EpochKeyDestroyed(epoch_id) from None
        if len(key) != 32 or doc.get("id") != epoch_id:
            raise EpochKeyDestroyed(epoch_id)
        return key

    def destroy(self, epoch: Epoch, now: datetime) -> None:
        d = self._dir()
        tomb = {"v": 1, "id": epoch.id, "started_at": _iso(epoch.started_at), "ends_at": _iso(epoch.ends_at),
                "destroyed_at": _iso(now)}
        tmp = d / f".{epoch.id}.destroyed.tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(tomb))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, d / f"{epoch.id}.destroyed")
        p = d / f"{epoch.id}.key"
        try:
            size = p.stat().st_size
            with open(p, "r+b") as f:
                f.write(b"\0" * size)
                f.flush()
                os.fsync(f.fileno())
            p.unlink()
        except FileNotFoundError:
            pass
        _fsync_dir(d)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_id(epoch_id: str) -> bool:
    return bool(epoch_id) and all(c.isalnum() or c in "-_" for c in epoch_id) and len(epoch_id) <= 64


class KmsKeyStore:
    """One AWS KMS HMAC key per epoch (see the module docstring)."""

    kind = "kms"
    pending_window_days = 7  # the shortest ScheduleKeyDeletion allows
    destroy_delay = timedelta(days=pending_window_days)

    def __init__(self, prefix: str) -> None:
        self.prefix = "alias/" + (prefix.strip("/") or "kopru/epochs") + "/"

    def describe(self) -> str:
        return "kms:" + self.prefix[len("alias/"):-1]

    @property
    def client(self):
        return _kms_client()

    def epochs(self) -> list[Epoch]:
        out = []
        pages = self.client.get_paginator("list_aliases").paginate()
        for page in pages:
            for a in page.get("Aliases", []):
                name = a.get("AliasName", "")
                if not name.startswith(self.prefix) or not a.get("TargetKeyId"):
                    continue
                meta = self.client.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]
                try:
                    doc = json.loads(meta.get("Description") or "{}")
                    started, ends = datetime.fromisoformat(doc["started_at"]), datetime.fromisoformat(doc["ends_at"])
                except (ValueError, KeyError):
                    continue
                destroyed = None
                if meta.get("KeyState") != "Enabled":
                    destroyed = datetime.fromisoformat(doc["destroyed_at"]) if doc.get("destroyed_at") else \
                        (meta.get("DeletionDate") or started)
                out.append(Epoch(name[len(self.prefix):], started, ends, destroyed))
        return sorted(out, key=lambda e: (e.started_at, e.id))

    def create(self, started_at: datetime, ends_at: datetime) -> Epoch:
        e = Epoch(_new_id(started_at), started_at, ends_at)
        desc = json.dumps({"kopru": "key-epoch", "id": e.id, "started_at": _iso(started_at), "ends_at": _iso(ends_at)})
        kid = self.client.create_key(Description=desc, KeyUsage="GENERATE_VERIFY_MAC", KeySpec="HMAC_256",
                                     Tags=[{"TagKey": "kopru:key-epoch", "TagValue": e.id}])["KeyMetadata"]["KeyId"]
        self.client.create_alias(AliasName=self.prefix + e.id, TargetKeyId=kid)
        return e

    def _key_id(self, epoch_id: str) -> str:
        meta = self.client.describe_key(KeyId=self.prefix + epoch_id)["KeyMetadata"]
        if meta.get("KeyState") != "Enabled":
            raise EpochKeyDestroyed(epoch_id)
        return meta["KeyId"]

    def key(self, epoch_id: str) -> bytes:
        if not _safe_id(epoch_id):
            raise EpochKeyDestroyed(epoch_id)
        try:
            kid = self._key_id(epoch_id)
            return self.client.generate_mac(KeyId=kid, MacAlgorithm="HMAC_SHA_256",
                                            Message=f"kopru/epoch-key/v1:{epoch_id}".encode())["Mac"]
        except EpochKeyDestroyed:
            raise
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NotFoundException", "KMSInvalidStateException", "DisabledException"):
                raise EpochKeyDestroyed(epoch_id) from None
            raise

    def destroy(self, epoch: Epoch, now: datetime) -> None:
        kid = self._key_id(epoch.id)
        desc = json.dumps({"kopru": "key-epoch", "id": epoch.id, "started_at": _iso(epoch.started_at),
                           "ends_at": _iso(epoch.ends_at), "destroyed_at": _iso(now)})
        self.client.update_key_description(KeyId=kid, Description=desc)
        self.client.disable_key(KeyId=kid)
        self.client.schedule_key_deletion(KeyId=kid, PendingWindowInDays=self.pending_window_days)


@lru_cache(maxsize=1)
def _kms_client():
    import boto3

    return boto3.client("kms")


_STORE: dict[str, Any] = {}


def key_store():
    """The configured key store (KOPRU_KEY_STORE): a directory, or `kms:<alias prefix>`."""
    from kopru.config import settings

    s = settings()
    where = s.key_store or str(s.data_dir / "key-store")
    store = _STORE.get(where)
    if store is None:
        store = KmsKeyStore(where[4:]) if where.startswith("kms:") else LocalKeyStore(Path(where))
        _STORE.clear()
        _STORE[where] = store
    return store


def epoch_days() -> int:
    from kopru.config import settings

    return settings().key_epoch_days


def backup_retention() -> timedelta:
    from kopru.config import settings

    return timedelta(days=settings().backup_retention_days)


# -- caches ----------------------------------------------------------------------------

_KEYS: dict[str, tuple[float, bytes]] = {}
_CURRENT: list[tuple[float, str, Epoch]] = []  # (expiry, store, epoch)


def reset() -> None:
    """Forget cached epoch keys, the newest epoch and the store (tests that change the environment)."""
    _KEYS.clear()
    _CURRENT.clear()
    _STORE.clear()
    _kms_client.cache_clear()


def cached_key(epoch_id: str) -> bytes | None:
    hit = _KEYS.get(epoch_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return None


def epoch_key(epoch_id: str) -> bytes:
    """The epoch's key (blocking on a cold cache: a file read, or a KMS call)."""
    key = cached_key(epoch_id)
    if key is None:
        key = key_store().key(epoch_id)
        if len(_KEYS) > 1000:
            _KEYS.clear()
        _KEYS[epoch_id] = (time.monotonic() + KEY_TTL, key)
    return key


async def load_key(epoch_id: str) -> bytes:
    key = cached_key(epoch_id)
    if key is not None:
        return key
    import asyncio

    return await asyncio.to_thread(epoch_key, epoch_id)


def current_epoch(now: datetime | None = None) -> Epoch:
    """The newest epoch of the store (made when the store has none): new subject keys are
    sealed under it. Cached CURRENT_TTL seconds, and looked up again once its planned end
    has passed (the rotation may have started the next one)."""
    now = now or datetime.now(timezone.utc)
    store = key_store()
    if _CURRENT:
        exp, where, e = _CURRENT[0]
        if exp > time.monotonic() and where == store.describe() and now < e.ends_at:
            return e
    e = _newest(store.epochs())
    if e is None:
        e = store.create(now, now + timedelta(days=epoch_days()))
    _CURRENT[:] = [(time.monotonic() + CURRENT_TTL, store.describe(), e)]
    return e


async def current_for_sealing() -> tuple[Epoch, bytes]:
    """(newest epoch, its key), off the event loop when not cached."""
    if _CURRENT:
        exp, where, e = _CURRENT[0]
        k = cached_key(e.id)
        if k is not None and exp > time.monotonic() and datetime.now(timezone.utc) < e.ends_at \
                and where == key_store().describe():
            return e, k
    import asyncio

    def both() -> tuple[Epoch, bytes]:
        cur = current_epoch()
        return cur, epoch_key(cur.id)

    return await asyncio.to_thread(both)


def kek(tenant_key: bytes, tenant_id: uuid.UUID, epoch_id: str, key: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869, one block): salt = the epoch key, ikm = the tenant key."""
    prk = hmac.new(key, tenant_key, hashlib.sha256).digest()
    info = KEK_INFO + b"|" + str(tenant_id).encode() + b"|" + epoch_id.encode()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def subject_aad(subject_id: uuid.UUID, epoch_id: str) -> bytes:
    return f"{subject_id}|epoch:{epoch_id}".encode()


_VERSION = b"\x01"  # the blob format of kopru.kvkk.subjects.seal_with: version, 12-byte nonce, AES-GCM


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = bytes(blob)
    if blob[:1] != _VERSION:
        raise ValueError("unknown ciphertext version")
    return AESGCM(key).decrypt(blob[1:13], blob[13:], aad)


def seal_subject_key(tenant_key: bytes, tenant_id: uuid.UUID, subject_id: uuid.UUID, subject_key: bytes,
                     epoch_id: str, key: bytes) -> bytes:
    return _seal(kek(tenant_key, tenant_id, epoch_id, key), subject_key, subject_aad(subject_id, epoch_id))


def open_subject_key(tenant_key: bytes, tenant_id: uuid.UUID, subject_id: uuid.UUID, wrapped: bytes,
                     epoch_id: str | None) -> bytes:
    """The subject key from its stored form: pre-epoch (epoch_id None, the tenant key alone)
    or under an epoch (raises EpochKeyDestroyed once that epoch's key is gone)."""
    if epoch_id is None:
        return _open(tenant_key, wrapped, str(subject_id).encode())
    return _open(kek(tenant_key, tenant_id, epoch_id, epoch_key(epoch_id)), wrapped,
                     subject_aad(subject_id, epoch_id))


def find_epoch(epoch_id: str | None) -> Epoch | None:
    if epoch_id is None:
        return None
    for e in key_store().epochs():
        if e.id == epoch_id:
            return e
    return None


def destruction_due(e: Epoch) -> datetime:
    """When the epoch's key is gone at the latest (but for the daily run that does it):
    planned end + backup retention (+ the KMS deletion window)."""
    return e.ends_at + backup_retention() + key_store().destroy_delay
