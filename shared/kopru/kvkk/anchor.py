"""Anchors: every audit chain's head, written outside PostgreSQL (see kopru.kvkk.audit).

An anchor is one JSON document:

    {"v": 1, "at": "...Z", "prev": sha256 hex of the previous anchor document (or null),
     "heads": {"<tenant id>": {"seq": n, "link": "<hex of entry n's mac>"}, ...},
     "problems": {"<tenant id>": "<kind>", ...},
     "mac": HMAC-SHA256(HKDF(master key, "kopru/audit-anchor/v1"), the document without "mac")}

Where (`KOPRU_AUDIT_ANCHOR_STORE`):
- `s3://bucket/prefix`: one object per anchor, `<prefix>/anchors/<UTC time>-<random>.json`,
  written with S3 Object Lock (`KOPRU_AUDIT_ANCHOR_LOCK_MODE`, COMPLIANCE by default, for
  `KOPRU_AUDIT_ANCHOR_RETENTION_DAYS`): not even the bucket's owner can delete or overwrite
  it before then. The bucket must have Object Lock enabled (it is set at creation).
- a path (default `<data dir>/audit-anchors.jsonl`): one line per anchor, appended
  (development; a file the database owner can reach proves nothing in production).

Each run checks every chain against the head anchored last before replacing it (the
consistency check of a Certificate Transparency monitor): the entry at the anchored seq
must still be there with the same link. A chain that fails keeps its old head in the new
anchor and is named in `problems`, so `kopru audit verify` keeps finding it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from kopru.logs import get_logger

log = get_logger("kopru.kvkk.anchor")

ANCHOR_INFO = b"kopru/audit-anchor/v1"


@lru_cache(maxsize=1)
def _anchor_key() -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from kopru.auth.crypto import master_key

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ANCHOR_INFO).derive(master_key())


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != "mac"}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def sign(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "mac": hmac.new(_anchor_key(), _canonical(doc), hashlib.sha256).hexdigest()}


@dataclass
class Anchor:
    name: str
    at: str
    heads: dict[str, tuple[int, bytes]] = field(repr=False)
    valid: bool
    raw: bytes = field(repr=False)

    @classmethod
    def parse(cls, name: str, raw: bytes) -> "Anchor":
        try:
            doc = json.loads(raw)
            heads = {t: (int(h["seq"]), bytes.fromhex(h["link"])) for t, h in doc["heads"].items()}
            want = hmac.new(_anchor_key(), _canonical(doc), hashlib.sha256).hexdigest()
            return cls(name, str(doc.get("at")), heads, hmac.compare_digest(want, str(doc.get("mac", ""))), raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(name, "", {}, False, raw)


class FileAnchors:
    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, raw: bytes) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, raw + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return f"{self.path}:{sum(1 for _ in self.path.open('rb'))}"

    def latest(self) -> Anchor | None:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return None
        for n in range(len(lines), 0, -1):
            if lines[n - 1].strip():
                return Anchor.parse(f"{self.path}:{n}", lines[n - 1])
        return None


class S3Anchors:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str, retention_days: int, mode: str) -> None:
        self.bucket = bucket
        self.prefix = (prefix.strip("/") + "/anchors/") if prefix.strip("/") else "anchors/"
        self.retention_days = retention_days
        self.mode = mode

    @property
    def client(self):
        return _s3_client()

    def write(self, raw: bytes) -> str:
        now = datetime.now(timezone.utc)
        key = f"{self.prefix}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(4)}.json"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=raw, ContentType="application/json",
                               ChecksumAlgorithm="SHA256", ObjectLockMode=self.mode,
                               ObjectLockRetainUntilDate=now + timedelta(days=self.retention_days))
        return f"s3://{self.bucket}/{key}"

    def latest(self) -> Anchor | None:
        last = None
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                if last is None or obj["Key"] > last:
                    last = obj["Key"]
        if last is None:
            return None
        raw = self.client.get_object(Bucket=self.bucket, Key=last)["Body"].read()
        return Anchor.parse(f"s3://{self.bucket}/{last}", raw)


@lru_cache(maxsize=1)
def _s3_client():
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4", retries={"max_attempts": 3}))


@lru_cache(maxsize=1)
def anchor_store() -> FileAnchors | S3Anchors:
    from kopru.config import settings

    s = settings()
    spec = s.audit_anchor_store
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        return S3Anchors(bucket, prefix, s.audit_anchor_retention_days, s.audit_anchor_lock_mode)
    return FileAnchors(Path(spec).resolve() if spec else s.data_dir / "audit-anchors.jsonl")


def reset_anchor_store() -> None:
    """Forget the store (and the settings it was made from: tests that change the environment)."""
    from kopru.config import reset_settings

    reset_settings()
    anchor_store.cache_clear()
    _s3_client.cache_clear()
    _anchor_key.cache_clear()


def latest_anchor() -> Anchor | None:
    return anchor_store().latest()


@dataclass
class AnchorResult:
    name: str
    at: str
    chains: int
    problems: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "at": self.at, "chains": self.chains, "problems": self.problems}


async def _head(tid: uuid.UUID, anchored: tuple[int, bytes] | None) -> tuple[tuple[int, bytes] | None, str | None]:
    """(the chain's head, a problem with the head anchored before), read with the
    application role in the tenant's own transaction."""
    from kopru.db import tenant_transaction

    async with tenant_transaction(tid, actor="schedule:audit-anchor") as tx:
        head = (await tx.execute("select seq, coalesce(mac, hash) as link from audit_log "
                                 "where seq > 0 order by seq desc limit 1")).first()
        if anchored is not None:
            then = (await tx.execute("select coalesce(mac, hash) as link from audit_log where seq = %(s)s",
                                     {"s": anchored[0]})).first()
            if then is None:
                return anchored, "truncated"
            if then.link is None or not hmac.compare_digest(bytes(then.link), anchored[1]):
                return anchored, "anchor_mismatch"
    if head is None or head.link is None:
        return anchored, None
    return (head.seq, bytes(head.link)), None


async def anchor() -> AnchorResult:
    """Write every chain's head to the anchor store (see the module's docstring)."""
    from kopru.work.sweep import for_each_tenant

    store = anchor_store()
    prev = await asyncio.to_thread(store.latest)
    carried: dict[str, tuple[int, bytes]] = {}
    problems: dict[str, str] = {}
    if prev is not None:
        if prev.valid:
            carried = dict(prev.heads)
        else:
            problems["*"] = "anchor_invalid"
            log.error("audit.anchor_invalid", extra={"fields": {"anchor": prev.name}})
    heads = dict(carried)

    async def one(tid: uuid.UUID) -> None:
        head, problem = await _head(tid, carried.get(str(tid)))
        if head is not None:
            heads[str(tid)] = head
        if problem:
            problems[str(tid)] = problem
            log.error("audit.chain_not_consistent", extra={"fields": {"tenant_id": str(tid), "kind": problem}})

    await for_each_tenant(one, name="audit-anchor")
    doc = sign({"v": 1, "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "prev": hashlib.sha256(prev.raw).hexdigest() if prev is not None else None,
                "heads": {t: {"seq": s, "link": link.hex()} for t, (s, link) in sorted(heads.items())},
                "problems": problems})
    name = await asyncio.to_thread(store.write, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    log.info("audit.anchored", extra={"fields": {"anchor": name, "chains": len(heads), "problems": len(problems)}})
    return AnchorResult(name, doc["at"], len(heads), problems)


async def scheduled_anchor() -> dict[str, Any]:
    """The schedule's anchoring (after the retention purge): a store that is down does
    not undo what ran before it; it is logged as an error and said in the answer."""
    try:
        return (await anchor()).as_dict()
    except Exception as exc:
        log.error("audit.anchor_failed", extra={"fields": {"error": type(exc).__name__}})
        return {"error": type(exc).__name__}
