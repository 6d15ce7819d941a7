"""Parsing XML that comes from outside, safely.

Inbound UBL-TR files (`kopru einvoice validate`, the integrator simulator, a
document handed to `sign`) are parsed here before anything else sees them:

- at most `MAX_BYTES` (5 MiB; GİB's own limit for one e-Fatura is lower than this);
- a DOCTYPE is refused outright, so no entity can be declared: a billion-laughs
  file or an external entity (`file:///etc/passwd`, `http://…`) never reaches a
  parser that would expand or fetch it. The bytes are scanned for the declaration
  first (UTF-8 and UTF-16 spellings), then the parsed tree is checked again;
- lxml with resolve_entities=False, no_network=True, load_dtd=False,
  huge_tree=False (libxml2's depth and text-node limits stay on).

This matters beyond lxml: efatura-kontrol hands the document *text* to Saxon,
whose parser would read a DTD and resolve external entities. Only bytes that
passed `parse_safely` are handed on.
"""

from __future__ import annotations

import threading

from lxml import etree

from kopru.errors import KopruError

MAX_BYTES = 5 * 1024 * 1024

_DOCTYPE = tuple(s.encode(enc) for s in ("<!DOCTYPE",) for enc in ("ascii", "utf-16-le", "utf-16-be"))
_ENTITY = tuple(s.encode(enc) for s in ("<!ENTITY",) for enc in ("ascii", "utf-16-le", "utf-16-be"))

_local = threading.local()


def _parser() -> etree.XMLParser:
    p = getattr(_local, "parser", None)
    if p is None:
        p = _local.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_comments=False, remove_pis=False,
        )
    return p


def parse_safely(data: bytes) -> etree._ElementTree:
    """Parse untrusted XML bytes, or raise KopruError with a stable code:
    einvoice.xml_too_large, einvoice.xml_entity_forbidden, einvoice.xml_dtd_forbidden,
    einvoice.xml_malformed."""
    if isinstance(data, str):
        raise TypeError("parse_safely takes bytes (the document as received)")
    data = bytes(data)
    if len(data) > MAX_BYTES:
        raise KopruError("einvoice.xml_too_large")
    if any(m in data for m in _ENTITY):
        raise KopruError("einvoice.xml_entity_forbidden")
    if any(m in data for m in _DOCTYPE):
        raise KopruError("einvoice.xml_dtd_forbidden")
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError):
        raise KopruError("einvoice.xml_malformed") from None
    if root is None:
        raise KopruError("einvoice.xml_malformed")
    tree = root.getroottree()
    # belt and braces: an encoding the byte scan cannot read (e.g. UTF-32, EBCDIC)
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise KopruError("einvoice.xml_dtd_forbidden")
    return tree
