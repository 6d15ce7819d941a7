"""A human-readable view of an invoice, and the signed, expiring link that opens it.

- `render_html(xml) -> str`: the signed UBL-TR document turned into HTML by its own display
  stylesheet (the cac:AdditionalDocumentReference of cbc:DocumentType XSLT, the one GİB's
  viewers use), or by Köprü's (kopru.einvoice/kopru.xslt) when the document carries none.
  The document and the stylesheet are parsed by `kopru.einvoice.xmlsafe.parse_safely` (no DTD,
  no entities, no network); a stylesheet that imports or includes another is refused before it
  is compiled, and it runs under `XSLTAccessControl.DENY_ALL` (no file or network read, no
  write, no directory creation): `document('file:///…')` or an exsl:document write fails, and the
  failure is `einvoice.xslt_invalid` (422), never the file's content.
- `view_link(tenant_id, einvoice_id, ttl_seconds=None) -> str`: a short URL for an SMS:
  `{public_url}/function/einvoice-submit/einvoices/view/{token}`. The token (70 characters,
  base64url) packs the tenant id, the invoice id, the expiry (unix seconds, 32 bits) and the
  first 128 bits of an HMAC-SHA256 over the three (`kopru.auth.crypto.url_mac` under the purpose
  VIEW_PURPOSE, a key derived from the master key). Links live `KOPRU_INVOICE_LINK_TTL_SECONDS`
  (7 days by default, as export links).
- `serve_view(token)`: einvoice-submit's public `GET /einvoices/view/{token}`: 403
  `einvoice.view_link_invalid` for a token that is not ours (forged, truncated, altered),
  410 `einvoice.view_link_expired` once its time is over (checked after the MAC, so an expiry
  cannot be forged), 404 `einvoice.not_found` when the tenant named in the token has no such
  invoice (row-level security: another tenant's invoice is not found); the HTML otherwise, with
  a Content-Security-Policy that lets no script, image, frame or connection run.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import threading
import time
import uuid
from typing import TYPE_CHECKING, Optional

from kopru.errors import KopruError

if TYPE_CHECKING:
    from lxml import etree
    from starlette.responses import Response

VIEW_PURPOSE = "kopru/einvoice-view/v1"
MAC_BYTES = 16  # 128 bits
_TOKEN = struct.Struct(">16s16sI")
TOKEN_CHARS = 70  # base64url of 16 + 16 + 4 + 16 bytes, without padding
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{%d}$" % TOKEN_CHARS)
ROUTE = "/einvoices/view/"
FUNCTION_PATH = "/function/einvoice-submit"

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

_NS = {
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_XSL_NS = "http://www.w3.org/1999/XSL/Transform"
_local = threading.local()


# -- the HTML -------------------------------------------------------------------------------

def embedded_xslt(tree: "etree._ElementTree") -> Optional[bytes]:
    """The display stylesheet a document carries (the first cac:AdditionalDocumentReference whose
    cbc:DocumentType is XSLT, or whose attachment is a .xslt/.xsl file), decoded; None if none."""
    for obj in tree.getroot().xpath(
            "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", namespaces=_NS):
        ref = obj.getparent().getparent()
        kind = (ref.findtext(f"{{{_NS['cbc']}}}DocumentType") or "").strip().upper()
        name = (obj.get("filename") or "").strip().lower()
        if kind == "XSLT" or name.endswith((".xslt", ".xsl")):
            try:
                return base64.b64decode("".join((obj.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                raise KopruError("einvoice.xslt_invalid") from None
    return None


def _compile(xslt: bytes) -> "etree.XSLT":
    from lxml import etree

    from kopru.einvoice.xmlsafe import parse_safely

    try:
        doc = parse_safely(xslt)
    except KopruError:
        raise KopruError("einvoice.xslt_invalid") from None
    # xsl:import/xsl:include are resolved while compiling, before any transform context (and its
    # access control) exists: a stylesheet that names another is refused outright
    if doc.getroot().xpath("//xsl:import | //xsl:include", namespaces={"xsl": _XSL_NS}):
        raise KopruError("einvoice.xslt_invalid")
    try:
        return etree.XSLT(doc, access_control=etree.XSLTAccessControl.DENY_ALL)
    except etree.XSLTParseError:
        raise KopruError("einvoice.xslt_invalid") from None


def _kopru_transform() -> "etree.XSLT":
    """Köprü's stylesheet, compiled once per thread (an XSLT object is not shared between threads)."""
    t = getattr(_local, "kopru", None)
    if t is None:
        from kopru.einvoice.render import kopru_xslt

        t = _local.kopru = _compile(kopru_xslt())
    return t


def render_html(xml: bytes) -> str:
    """The invoice as HTML, by its own stylesheet (or Köprü's when it carries none); see the module
    docstring. KopruError: the document's parsing codes (einvoice.xml_*), einvoice.xslt_invalid."""
    from lxml import etree

    from kopru.einvoice.xmlsafe import parse_safely

    tree = parse_safely(xml)
    embedded = embedded_xslt(tree)
    transform = _compile(embedded) if embedded is not None else _kopru_transform()
    try:
        result = transform(tree)
    except etree.XSLTApplyError:
        raise KopruError("einvoice.xslt_invalid") from None
    if any(e.level >= etree.ErrorLevels.ERROR for e in transform.error_log):
        # libxslt reports a denied document() or write as an error and carries on: refuse the page
        raise KopruError("einvoice.xslt_invalid")
    return str(result)


# -- the link -------------------------------------------------------------------------------

def _mac(tenant_id: uuid.UUID, einvoice_id: uuid.UUID, expires: int) -> bytes:
    from kopru.auth.crypto import url_mac

    full = url_mac(VIEW_PURPOSE, str(tenant_id), str(einvoice_id), str(expires))
    return base64.urlsafe_b64decode(full + "=" * (-len(full) % 4))[:MAC_BYTES]


def make_token(tenant_id: uuid.UUID, einvoice_id: uuid.UUID, expires: int) -> str:
    packed = _TOKEN.pack(tenant_id.bytes, einvoice_id.bytes, expires) + _mac(tenant_id, einvoice_id, expires)
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def read_token(token: str, now: Optional[float] = None) -> tuple[uuid.UUID, uuid.UUID]:
    """(tenant id, invoice id) of a token of ours that has not expired; KopruError
    einvoice.view_link_invalid (403) or einvoice.view_link_expired (410) otherwise."""
    import hmac

    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise KopruError("einvoice.view_link_invalid")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
        raise KopruError("einvoice.view_link_invalid")  # base64's spare low bits changed: not a token we gave
    tenant_b, invoice_b, expires = _TOKEN.unpack(raw[:_TOKEN.size])
    tenant_id, einvoice_id = uuid.UUID(bytes=tenant_b), uuid.UUID(bytes=invoice_b)
    if not hmac.compare_digest(raw[_TOKEN.size:], _mac(tenant_id, einvoice_id, expires)):
        raise KopruError("einvoice.view_link_invalid")
    if expires < (time.time() if now is None else now):
        raise KopruError("einvoice.view_link_expired")
    return tenant_id, einvoice_id


def view_link(tenant_id: uuid.UUID | str, einvoice_id: uuid.UUID | str, *, ttl_seconds: Optional[int] = None,
              now: Optional[float] = None) -> str:
    """The signed link to the invoice's HTML view, valid `ttl_seconds` (default
    KOPRU_INVOICE_LINK_TTL_SECONDS). It names the invoice; whether it exists is checked when
    the link is opened."""
    from kopru.config import settings

    s = settings()
    ttl = s.invoice_link_ttl if ttl_seconds is None else int(ttl_seconds)
    if ttl <= 0:
        raise ValueError("ttl_seconds must be positive")
    expires = int((time.time() if now is None else now) + ttl)
    if expires >= 2 ** 32:
        raise ValueError("expiry beyond 2106")
    token = make_token(uuid.UUID(str(tenant_id)), uuid.UUID(str(einvoice_id)), expires)
    return f"{s.public_url.rstrip('/')}{FUNCTION_PATH}{ROUTE}{token}"


async def serve_view(token: str) -> "Response":
    """einvoice-submit's GET /einvoices/view/{token}; see the module docstring."""
    import asyncio

    from starlette.responses import Response

    from kopru.db import tenant_transaction

    tenant_id, einvoice_id = read_token(token)
    async with tenant_transaction(tenant_id, actor="link:einvoice-view") as tx:
        xml = (await tx.execute("select xml from einvoices where id = %(id)s", {"id": einvoice_id})).scalar()
    if xml is None:
        raise KopruError("einvoice.not_found")
    html = await asyncio.to_thread(render_html, bytes(xml))
    return Response(html, 200, media_type="text/html; charset=utf-8", headers=HEADERS)
