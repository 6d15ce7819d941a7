"""SMS encoding and cost: which alphabet a text goes out in, and how many parts it costs.

Three encodings are considered, and the one giving the fewest segments wins (ties go
to the first of GSM7, GSM7_TR, UCS2, i.e. the one needing the least of the handset):

- ``GSM7``: the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) with its
  extension table (§6.2.1.1). A character from the extension table is sent as
  ESC (0x1B) + its code, so it costs 2 septets. 160 septets in a single SMS;
  153 per part when concatenated (6-octet UDH with the 8-bit reference
  concatenation IE: 7 septets).
- ``GSM7_TR``: the same default alphabet with the TURKISH national language
  single shift table (3GPP TS 23.038 Annex A.2.1, national language identifier 1)
  in place of the extension table. The UDH carries the National Language Single
  Shift IE (IEI 0x24, length 1, value 0x01: 3 octets), so a single SMS has a
  4-octet UDH (5 septets): 155 septets; a concatenated part has 6 + 3 = 9 octets
  (11 septets): 149. Every character of the shift table costs 2 septets (ESC + code).
- ``UCS2``: UTF-16 code units, 70 in a single SMS, 67 per part (134 octets after
  the 6-octet UDH). A character outside the BMP (an emoji) is a surrogate pair: 2
  units, never split across parts.

Neither a 2-septet escape sequence nor a surrogate pair is ever split: when only
one unit is left in a part, the whole character moves to the next part (that
unit is wasted, so the part count can exceed ceil(units / per_part)).

Netgsm (the sending path, REST v2 ``POST /sms/rest/v2/send``): its ``encoding``
field is documented as "Türkçe karakter desteği isteniyorsa bu alana TR
girilmeli, istenmiyorsa null olarak gönderilmelidir. SMS boyu hesabı ve
ücretlendirme bu parametreye bağlı olarak değişecektir."
(https://www.netgsm.com.tr/dokuman/, repeated in Netgsm's own composer package
README, https://packagist.org/packages/netgsm/sms). ``TR`` is the only value
documented; no separate Unicode value is, so UCS-2 text goes out with the field
empty. Netgsm does not say whether "TR" means the single or the locking shift; it
is the single shift table: the Turkish market's figures are the single-shift
ones (Infobip's announcement of the National Language Identifier for Turkey:
"only deducting 5 characters from the maximal SMS length - 155 characters",
https://www.infobip.com/en/media/news/national-language-identifier-now-available-in-turkey;
another Turkish provider's API documentation bills Turkish-character SMS at
155 / 298 / 447 / 596 characters for 1-4 credits, i.e. 155 then 149 per part,
with "^ { } \\ [ ] ~ | € Ş ş Ğ ğ ç ı İ" counted twice), which is exactly what the
single shift table gives and what the locking shift table (where those letters
cost 1 septet) does not.

The TURKISH *locking* shift table (Annex A.3.1, UDH IEI 0x25) also exists: it
replaces default-alphabet positions (0x04 è -> €, 0x07 ì -> ı, 0x0B Ø -> Ğ,
0x0C ø -> ğ, 0x1C Æ -> Ş, 0x1D æ -> ş, 0x40 ¡ -> İ, 0x60 ¿ -> ç) so those letters
cost 1 septet, but Netgsm offers no way to ask for it, so it is not a candidate here.

Netgsm's length limit: error code 20 is "standart maksimum mesaj karakter sayısını
geçtiğini ifade eder (Standart maksimum karakter sayısı 917 dir. Eğer mesajınız
türkçe karakter içeriyorsa Türkçe Karakter Hesaplama menüsunden karakter
sayılarının hesaplanış şeklini görebilirsiniz.)" (Netgsm's error table, as quoted
in Netgsm client libraries, e.g. github.com/tcgunel/netgsm src/Traits/ErrorsTrait.php).
917 characters is 6 concatenated GSM 7-bit parts (6 x 153 = 918). We enforce
both: at most ``MAX_SEGMENTS`` (6) parts in every encoding, and at most
``MAX_GSM7_UNITS`` (917) septets, so a message Netgsm would refuse with code 20 is
refused here first, before anything is queued.

Pure Python, no I/O; importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM7", "GSM7_TR", "UCS2"]

ESC = 0x1B  # escape to the extension / national single shift table

# 3GPP TS 23.038 §6.2.1, GSM 7-bit default alphabet, indexed by septet value.
# 0x1B is ESC, not a character (the "\x1b" placeholder is never matched).
# 0x09 is LATIN CAPITAL LETTER C WITH CEDILLA (U+00C7) in 3GPP TS 23.038; the
# Unicode consortium's old GSM0338.TXT mapping has small ç there, which the
# 3GPP tables do not: small ç is only in the Turkish (and Spanish, Portuguese)
# shift tables.
DEFAULT_ALPHABET = (
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"  # 0x00-0x0F
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1b\u00c6\u00e6\u00df\u00c9"  # 0x10-0x1F
    " !\"#\u00a4%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "\u00a1ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"  # 0x50-0x5F
    "\u00bfabcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"  # 0x70-0x7F
)

# 3GPP TS 23.038 §6.2.1.1, default alphabet extension table (reached with ESC).
DEFAULT_EXTENSION: dict[int, str] = {
    0x0A: "\x0c",  # FORM FEED (page break)
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "\u20ac",  # €
}

# 3GPP TS 23.038 Annex A.2.1, Turkish National Language Single Shift Table
# (national language identifier 0x01). It keeps every character of the default
# extension table at the same code and adds seven Turkish letters.
TURKISH_SINGLE_SHIFT: dict[int, str] = {
    **DEFAULT_EXTENSION,
    0x47: "\u011e",  # Ğ
    0x49: "\u0130",  # İ
    0x53: "\u015e",  # Ş
    0x63: "\u00e7",  # ç
    0x67: "\u011f",  # ğ
    0x69: "\u0131",  # ı
    0x73: "\u015f",  # ş
}

NATIONAL_LANGUAGE_TURKISH = 0x01
IEI_NATIONAL_SINGLE_SHIFT = 0x24

# (units in a single SMS, units per part of a concatenated SMS)
LIMITS: dict[str, tuple[int, int]] = {
    "GSM7": (160, 153),
    "GSM7_TR": (155, 149),
    "UCS2": (70, 67),
}

# Netgsm's ``encoding`` field for each encoding (see the module docstring).
NETGSM_ENCODING: dict[str, str] = {
    "GSM7": "",
    "GSM7_TR": "TR",
    "UCS2": "",
}

MAX_SEGMENTS = 6
MAX_GSM7_UNITS = 917

_ORDER: tuple[Encoding, ...] = ("GSM7", "GSM7_TR", "UCS2")

_BASIC = frozenset(c for i, c in enumerate(DEFAULT_ALPHABET) if i != ESC)
_SHIFT: dict[str, frozenset[str]] = {
    "GSM7": frozenset(DEFAULT_EXTENSION.values()),
    "GSM7_TR": frozenset(TURKISH_SINGLE_SHIFT.values()),
}


@dataclass(frozen=True)
class Estimate:
    encoding: Encoding
    segments: int
    characters: int  # units used: septets (GSM7, GSM7_TR) or UTF-16 code units (UCS2)
    per_segment: int  # capacity of one segment: the single-SMS limit when segments == 1
    netgsm_encoding: str  # value for Netgsm's ``encoding`` field ("" means send it empty/null)

    def as_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "per_segment": self.per_segment,
            "netgsm_encoding": self.netgsm_encoding,
        }


class MessageTooLong(ValueError):
    """The text needs more than Netgsm accepts. ``str(exc)`` is the error code, so a
    pydantic validator can raise it and surface the code; the numbers are attributes.
    The text itself is never carried (it is personal data)."""

    code = "sms.message_too_long"

    def __init__(self, estimate: Estimate) -> None:
        super().__init__(self.code)
        self.estimate = estimate
        self.encoding = estimate.encoding
        self.segments = estimate.segments
        self.characters = estimate.characters
        self.max_segments = MAX_SEGMENTS

    def detail(self) -> str:
        """Language-neutral detail for a problem response (no message content)."""
        return (f"{self.encoding}: {self.characters} units in {self.segments} segments; "
                f"at most {MAX_SEGMENTS} segments ({MAX_GSM7_UNITS} GSM 7-bit characters)")


def _weights(text: str, encoding: Encoding) -> list[int] | None:
    """Units per character (per code point) in this encoding, or None when a
    character cannot be sent in it."""
    if encoding == "UCS2":
        return [2 if ord(c) > 0xFFFF else 1 for c in text]
    shift = _SHIFT[encoding]
    out: list[int] = []
    for c in text:
        if c in _BASIC:
            out.append(1)
        elif c in shift:
            out.append(2)
        else:
            return None
    return out


def _parts(weights: list[int], encoding: Encoding) -> list[int]:
    """Boundaries: the index (into weights) where each part starts. A character
    is never split: if it does not fit in what is left of a part, it opens the next."""
    single, multi = LIMITS[encoding]
    if sum(weights) <= single:
        return [0]
    starts = [0]
    used = 0
    for i, w in enumerate(weights):
        if used + w > multi:
            starts.append(i)
            used = 0
        used += w
    return starts


def _estimate(text: str, encoding: Encoding) -> Estimate | None:
    weights = _weights(text, encoding)
    if weights is None:
        return None
    segments = len(_parts(weights, encoding))
    single, multi = LIMITS[encoding]
    return Estimate(
        encoding=encoding,
        segments=segments,
        characters=sum(weights),
        per_segment=single if segments == 1 else multi,
        netgsm_encoding=NETGSM_ENCODING[encoding],
    )


def candidates(text: str) -> list[Estimate]:
    """Every encoding the text can be sent in, in preference order."""
    return [e for e in (_estimate(text, enc) for enc in _ORDER) if e is not None]


def _too_long(e: Estimate) -> bool:
    return e.segments > MAX_SEGMENTS or (e.encoding != "UCS2" and e.characters > MAX_GSM7_UNITS)


def estimate(text: str, *, enforce_limit: bool = True) -> Estimate:
    """The encoding with the fewest segments (ties: GSM7, then GSM7_TR, then UCS2).

    Counts the text exactly as given (no normalisation: "s" + U+0327 combining
    cedilla is not "ş"; normalise to NFC before estimating *and* sending if you want
    the precomposed letters). Raises MessageTooLong past Netgsm's limit unless
    ``enforce_limit`` is False."""
    # UCS-2 can always encode the text, so there is at least one candidate.
    best = min(candidates(text), key=lambda e: (e.segments, _ORDER.index(e.encoding)))
    if enforce_limit and _too_long(best):
        raise MessageTooLong(best)
    return best


def split(text: str, encoding: Encoding | None = None) -> list[str]:
    """The text of each segment, in ``encoding`` (default: the one ``estimate`` picks).
    Raises ValueError when the text cannot be sent in the given encoding."""
    enc = encoding or estimate(text, enforce_limit=False).encoding
    weights = _weights(text, enc)
    if weights is None:
        raise ValueError(f"text is not encodable in {enc}")
    starts = _parts(weights, enc) + [len(text)]
    return [text[a:b] for a, b in zip(starts, starts[1:])]


def septets(text: str, encoding: Encoding = "GSM7") -> list[int]:
    """The septet values of ``text`` in GSM7 or GSM7_TR (an escaped character is
    ESC followed by its code). Raises ValueError for a character outside the table."""
    if encoding not in _SHIFT:
        raise ValueError("septets() is for GSM7 and GSM7_TR")
    basic = {c: i for i, c in enumerate(DEFAULT_ALPHABET) if i != ESC}
    table = DEFAULT_EXTENSION if encoding == "GSM7" else TURKISH_SINGLE_SHIFT
    shift = {c: i for i, c in table.items()}
    out: list[int] = []
    for c in text:
        if c in basic:
            out.append(basic[c])
        elif c in shift:
            out.extend((ESC, shift[c]))
        else:
            raise ValueError(f"a character is not in {encoding}")
    return out
