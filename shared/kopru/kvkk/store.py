"""The object store for exports: S3 through boto3 when `KOPRU_EXPORT_STORE` is
`s3://bucket[/prefix]` (the endpoint from boto3's own `AWS_ENDPOINT_URL`, credentials
from its usual chain), else a local folder (`KOPRU_EXPORT_STORE` as a path, default
`<data dir>/exports`).

A link is limited in life either way: S3 gives a presigned GET URL (SigV4, at most 7
days); the local store gives a link to data-export's own download route, signed with
an HMAC of the master key over (object key, expiry), which that route checks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from starlette.responses import Response

S3_MAX_LINK = 7 * 24 * 3600


class LocalStore:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError("bad object key")
        return self.root / key

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(path.suffix + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def link(self, key: str, expires_at: float, request_id: str) -> str:
        exp = int(expires_at)
        # the gateway's public address (`kopru dev`: 127.0.0.1:8080); the path is data-export's own route
        from kopru.config import settings

        base = settings().public_url
        q = urlencode({"k": key, "e": exp, "s": sign_link(key, exp)})
        return f"{base.rstrip('/')}/function/data-export/exports/{quote(request_id)}/download?{q}"


class S3Store:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @property
    def client(self):
        return _s3_client()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type,
                               ServerSideEncryption="AES256",
                               ContentDisposition='attachment; filename="kvkk-export.json"')

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def link(self, key: str, expires_at: float, request_id: str) -> str:
        life = max(1, min(S3_MAX_LINK, int(expires_at - time.time())))
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=life)


@lru_cache(maxsize=1)
def _s3_client():
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4", retries={"max_attempts": 3}))


@lru_cache(maxsize=1)
def export_store() -> LocalStore | S3Store:
    from kopru.config import settings

    spec = settings().export_store
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        return S3Store(bucket, prefix)
    return LocalStore(Path(spec).resolve() if spec else settings().data_dir / "exports")


def reset_store() -> None:
    """Forget the store (and the settings it was made from: tests that change the environment)."""
    from kopru.config import reset_settings

    reset_settings()
    export_store.cache_clear()
    _s3_client.cache_clear()


def _link_key() -> bytes:
    from kopru.auth.crypto import master_key

    return hmac.new(master_key(), b"kopru/export-link/v1", hashlib.sha256).digest()


def sign_link(key: str, expires: int) -> str:
    mac = hmac.new(_link_key(), f"{key}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def link_valid(key: str, expires: str, signature: str, now: float | None = None) -> bool:
    try:
        exp = int(expires)
    except (TypeError, ValueError):
        return False
    if exp < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign_link(key, exp).encode(), (signature or "").encode("utf-8", "surrogatepass"))


async def serve_download(request_id, query) -> Response:
    """data-export's GET /exports/{id}/download: the local store's signed link. The
    signature covers the object key and the expiry; the key names the request, so a
    link opens its own export only. Once the purge or an erasure has destroyed the
    object: 410."""
    from starlette.responses import Response

    from kopru.errors import KopruError

    key, expires, sig = query.get("k", ""), query.get("e", ""), query.get("s", "")
    if not key.endswith(f"/{request_id}.json") or not link_valid(key, expires, sig):
        raise KopruError("kvkk.link_invalid")
    store = export_store()
    if store.kind != "local":
        raise KopruError("kvkk.request_not_found")
    data = await asyncio.to_thread(store.get, key)
    if data is None:
        raise KopruError("kvkk.export_gone")
    return Response(data, 200, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="kvkk-export-{request_id}.json"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
