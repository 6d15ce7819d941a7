"""The checks an uploaded Findeks PDF passes before it is kept: its size, the `%PDF-`
magic and an end-of-file marker, and a real read of its structure with pypdf (a pure-Python,
well-kept PDF library: the cross-reference table, the trailer, the page tree and every
page's media box). An encrypted PDF is refused (its structure cannot be read without the
password, and a kept report must open for the person's export). pypdf cannot tell a real
Findeks report from any other PDF (KKB's own check is the report's karekod, read by
Findeks); `findeks_mentioned` only says whether its text names Findeks or KKB."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass

from kopru.errors import KopruError

MAX_PAGES = 200


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    bytes: int
    sha256: str
    pdf_version: str
    findeks_mentioned: bool


def check(data: bytes, limit: int) -> PdfFacts:
    """PdfFacts of a readable, unencrypted PDF; KopruError credit.pdf_too_large,
    credit.pdf_invalid or credit.pdf_encrypted otherwise. CPU-bound: call it in a thread."""
    if len(data) > limit:
        raise KopruError("credit.pdf_too_large")
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise KopruError("credit.pdf_invalid")
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings may quote the document
    try:
        reader = PdfReader(io.BytesIO(data), strict=True)
        if reader.is_encrypted:
            raise KopruError("credit.pdf_encrypted")
        n = len(reader.pages)
        if not 1 <= n <= MAX_PAGES:
            raise KopruError("credit.pdf_invalid")
        text = []
        for i, page in enumerate(reader.pages):
            box = page.mediabox
            if box.width <= 0 or box.height <= 0:
                raise KopruError("credit.pdf_invalid")
            if i < 3:
                text.append(page.extract_text() or "")
        version = reader.pdf_header.removeprefix("%PDF-")
    except KopruError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            AssertionError, OSError):
        raise KopruError("credit.pdf_invalid") from None
    joined = " ".join(text).casefold()
    return PdfFacts(n, len(data), hashlib.sha256(data).hexdigest(), version,
                    "findeks" in joined or "kredi kayıt bürosu" in joined or "kkb" in joined)
