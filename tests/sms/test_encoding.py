"""kopru.sms.encoding: the alphabet a text goes out in and how many parts it costs.

Tables are checked against 3GPP TS 23.038 (§6.2.1 default alphabet, §6.2.1.1
extension table, Annex A.2.1 Turkish single shift table), segment counts at every
boundary, escape pairs and surrogate pairs that must not be split, the
fewest-segments choice and Netgsm's length limit."""

import random
import subprocess
import sys
import unicodedata

import pytest

from kopru.sms import MAX_SEGMENTS, Estimate, MessageTooLong, estimate, split
from kopru.sms.encoding import (
    DEFAULT_ALPHABET, DEFAULT_EXTENSION, ESC, LIMITS, MAX_GSM7_UNITS, TURKISH_SINGLE_SHIFT, candidates, septets,
)

EMOJI = "\U0001F600"  # 😀, outside the BMP: a surrogate pair in UTF-16
CYRILLIC = "\u0436"  # ж: in the BMP, in no GSM table


def _units(e: Estimate) -> tuple[str, int, int]:
    return e.encoding, e.segments, e.characters


# --- the tables, position by position -------------------------------------------------

# 3GPP TS 23.038 Annex A.2.1, laid out as in the spec: one row per low nibble,
# one column per high nibble (0x0..0x7); "" is an empty cell, ESC the escape.
_A21 = {
    0x0: ["", "", "", "", "|", "", "", ""],
    0x3: ["", "", "", "", "", "\u015e", "\u00e7", "\u015f"],
    0x4: ["", "^", "", "", "", "", "", ""],
    0x5: ["", "", "", "", "", "", "\u20ac", ""],
    0x7: ["", "", "", "", "\u011e", "", "\u011f", ""],
    0x8: ["", "", "{", "", "", "", "", ""],
    0x9: ["", "", "}", "", "\u0130", "", "\u0131", ""],
    0xA: ["\x0c", "", "", "", "", "", "", ""],
    0xC: ["", "", "", "[", "", "", "", ""],
    0xD: ["", "", "", "~", "", "", "", ""],
    0xE: ["", "", "", "]", "", "", "", ""],
    0xF: ["", "", "\\", "", "", "", "", ""],
}


def test_turkish_single_shift_table_is_annex_a21():
    spec = {hi * 16 + lo: c for lo, row in _A21.items() for hi, c in enumerate(row) if c}
    assert TURKISH_SINGLE_SHIFT == spec
    # it keeps the whole default extension table at the same codes
    assert DEFAULT_EXTENSION.items() <= TURKISH_SINGLE_SHIFT.items()
    assert set(TURKISH_SINGLE_SHIFT.values()) - set(DEFAULT_EXTENSION.values()) == set("ĞğİıŞşç")


def test_default_alphabet_and_extension_table():
    assert len(DEFAULT_ALPHABET) == 128
    assert DEFAULT_ALPHABET[ESC] == "\x1b"
    # the Turkish letters the default alphabet does have (and where)
    assert {c: DEFAULT_ALPHABET.index(c) for c in "ÇÖöÜüIi"} == {
        "Ç": 0x09, "Ö": 0x5C, "ö": 0x7C, "Ü": 0x5E, "ü": 0x7E, "I": 0x49, "i": 0x69}
    # 0x09 is the CAPITAL C cedilla; small ç, Ğ ğ İ ı Ş ş are not in it at all
    for c in "çĞğİıŞş":
        assert c not in DEFAULT_ALPHABET
    assert DEFAULT_EXTENSION == {0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
                                 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}


def test_septets_escape_into_the_shift_table():
    assert septets("Aç", "GSM7_TR") == [0x41, ESC, 0x63]
    assert septets("Ğİş€", "GSM7_TR") == [ESC, 0x47, ESC, 0x49, ESC, 0x73, ESC, 0x65]
    assert septets("[x]", "GSM7") == [ESC, 0x3C, 0x78, ESC, 0x3E]
    with pytest.raises(ValueError):
        septets("ğ", "GSM7")


# --- the 12 Turkish letters (and I/i) -------------------------------------------------

@pytest.mark.parametrize("letter", list("ÇÖöÜüIi"))
def test_turkish_letters_in_the_default_alphabet_stay_plain_gsm7(letter):
    e = estimate(letter)
    assert _units(e) == ("GSM7", 1, 1)
    assert e.netgsm_encoding == ""


@pytest.mark.parametrize("letter", list("çĞğİıŞş"))
def test_turkish_letters_outside_it_take_the_turkish_single_shift_at_two_septets(letter):
    e = estimate(letter)
    assert _units(e) == ("GSM7_TR", 1, 2)
    assert e.per_segment == 155
    assert e.netgsm_encoding == "TR"


def test_all_turkish_letters_together():
    text = "ÇçĞğIıİiÖöŞşÜü"
    # Ç I i Ö ö Ü ü: 1 septet each; ç Ğ ğ ı İ Ş ş: ESC + code
    assert _units(estimate(text)) == ("GSM7_TR", 1, 7 + 7 * 2)
    assert _units(estimate("Çöp Üzüm İÇİN")) == ("GSM7_TR", 1, 15)
    assert _units(estimate("Çöp Üzüm")) == ("GSM7", 1, 8)
    text = "Günaydın, siparişiniz yola çıktı."  # 33 characters; ı ş ç ı ı cost 2 septets
    assert len(text) == 33
    assert _units(estimate(text)) == ("GSM7_TR", 1, 33 + 5)


def test_decomposed_letters_are_not_the_turkish_ones():
    decomposed = "s\u0327"  # s + COMBINING CEDILLA: not in any GSM table
    assert _units(estimate(decomposed)) == ("UCS2", 1, 2)
    assert _units(estimate(unicodedata.normalize("NFC", decomposed))) == ("GSM7_TR", 1, 2)


# --- euro sign, escapes, control characters ---------------------------------------------

def test_euro_sign_is_an_escape_in_both_gsm_tables():
    assert _units(estimate("€")) == ("GSM7", 1, 2)
    assert _units(estimate("Toplam 5 €")) == ("GSM7", 1, 11)
    assert _units(estimate("ğ€")) == ("GSM7_TR", 1, 4)
    assert _units(estimate("€" * 80)) == ("GSM7", 1, 160)
    assert _units(estimate("€" * 81)) == ("GSM7", 2, 162)
    assert _units(estimate("^{}\\[~]|")) == ("GSM7", 1, 16)


def test_line_breaks_form_feed_and_tab():
    assert _units(estimate("a\r\nb")) == ("GSM7", 1, 4)
    assert _units(estimate("a\x0cb")) == ("GSM7", 1, 4)  # form feed: extension table
    assert _units(estimate("a\tb")) == ("UCS2", 1, 3)  # no tab in GSM 03.38


# --- emoji and other non-GSM text --------------------------------------------------------

def test_emoji_is_ucs2_and_counts_two_units():
    assert _units(estimate(EMOJI)) == ("UCS2", 1, 2)
    e = estimate("Siparişiniz hazır " + EMOJI)
    assert _units(e) == ("UCS2", 1, 18 + 2)
    assert e.per_segment == 70
    assert e.netgsm_encoding == ""
    assert _units(estimate(EMOJI * 35)) == ("UCS2", 1, 70)
    assert _units(estimate(EMOJI * 36)) == ("UCS2", 2, 72)
    assert _units(estimate("\u2014")) == ("UCS2", 1, 1)  # em dash: BMP, not GSM


def test_surrogate_pair_is_never_split_across_parts():
    # 66 + 2 + 66 = 134 units = 67 x 2, but the emoji cannot start in unit 67 of part 1
    text = "a" * 66 + EMOJI + "b" * 66
    e = estimate(text)
    assert _units(e) == ("UCS2", 3, 134)
    parts = split(text)
    assert parts == ["a" * 66, EMOJI + "b" * 65, "b"]
    for p in parts:
        p.encode("utf-16-le")  # no lone surrogate anywhere
    # with the emoji one unit earlier it fits: 65 + 2 = 67
    assert _units(estimate("a" * 65 + EMOJI + "b" * 67)) == ("UCS2", 2, 134)


# --- boundary lengths ----------------------------------------------------------------------

@pytest.mark.parametrize(("n", "segments"), [
    (1, 1), (159, 1), (160, 1), (161, 2), (305, 2), (306, 2), (307, 3), (459, 3), (460, 4),
])
def test_gsm7_boundaries(n, segments):
    e = estimate("a" * n)
    assert _units(e) == ("GSM7", segments, n)
    assert e.per_segment == (160 if segments == 1 else 153)


@pytest.mark.parametrize(("n", "segments"), [
    (154, 1), (155, 1), (156, 2), (297, 2), (298, 2), (299, 3), (447, 3), (448, 4),
])
def test_gsm7_turkish_boundaries(n, segments):
    text = "ğ" + "a" * (n - 2)  # one Turkish letter (2 septets) forces the shift table
    e = estimate(text)
    assert _units(e) == ("GSM7_TR", segments, n)
    assert e.per_segment == (155 if segments == 1 else 149)


@pytest.mark.parametrize(("n", "segments"), [
    (69, 1), (70, 1), (71, 2), (133, 2), (134, 2), (135, 3), (201, 3), (202, 4),
])
def test_ucs2_boundaries(n, segments):
    e = estimate(CYRILLIC * n)
    assert _units(e) == ("UCS2", segments, n)
    assert e.per_segment == (70 if segments == 1 else 67)


def test_limits_table():
    assert LIMITS == {"GSM7": (160, 153), "GSM7_TR": (155, 149), "UCS2": (70, 67)}


# --- escape pairs at a boundary ------------------------------------------------------------

def test_escape_pair_is_never_split_in_a_single_sms():
    assert _units(estimate("a" * 158 + "€")) == ("GSM7", 1, 160)
    assert _units(estimate("a" * 159 + "€")) == ("GSM7", 2, 161)
    assert _units(estimate("a" * 153 + "ğ")) == ("GSM7_TR", 1, 155)
    assert _units(estimate("a" * 154 + "ğ")) == ("GSM7_TR", 2, 156)


def test_escape_pair_is_never_split_across_parts_gsm7():
    # 152 + 2 + 152 = 306 septets = 153 x 2, yet 3 parts: the € cannot take septet 153 alone
    text = "a" * 152 + "€" + "b" * 152
    assert _units(estimate(text)) == ("GSM7", 3, 306)
    assert split(text) == ["a" * 152, "€" + "b" * 151, "b"]
    # one septet earlier and it fits exactly
    assert _units(estimate("a" * 151 + "€" + "b" * 153)) == ("GSM7", 2, 306)


def test_escape_pair_is_never_split_across_parts_turkish():
    text = "a" * 148 + "Ş" + "b" * 148  # 298 septets = 149 x 2
    assert _units(estimate(text)) == ("GSM7_TR", 3, 298)
    assert split(text) == ["a" * 148, "Ş" + "b" * 147, "b"]
    assert _units(estimate("a" * 147 + "Ş" + "b" * 149)) == ("GSM7_TR", 2, 298)


# --- the fewest-segments choice ----------------------------------------------------------

def test_candidates_in_preference_order():
    assert [e.encoding for e in candidates("abc")] == ["GSM7", "GSM7_TR", "UCS2"]
    assert [e.encoding for e in candidates("ağ")] == ["GSM7_TR", "UCS2"]
    assert [e.encoding for e in candidates("a" + EMOJI)] == ["UCS2"]


def test_ties_prefer_plain_gsm7_then_turkish_then_ucs2():
    # plain text: GSM7 and GSM7_TR both one segment: GSM7 (no extra UDH, no NLI needed)
    assert estimate("Merhaba").encoding == "GSM7"
    # 70 euro signs: GSM7 140 septets, UCS2 70 units, one segment each: GSM7
    c = {e.encoding: e.segments for e in candidates("€" * 70)}
    assert c == {"GSM7": 1, "GSM7_TR": 1, "UCS2": 1}
    assert estimate("€" * 70).encoding == "GSM7"
    # 70 ğ: GSM7_TR 140 septets and UCS2 70 units, one segment each: GSM7_TR
    c = {e.encoding: e.segments for e in candidates("ğ" * 70)}
    assert c == {"GSM7_TR": 1, "UCS2": 1}
    assert estimate("ğ" * 70).encoding == "GSM7_TR"
    # 134 ş: 268 septets in 2 parts of 149, or 134 units in 2 parts of 67: GSM7_TR
    c = {e.encoding: e.segments for e in candidates("ş" * 134)}
    assert c == {"GSM7_TR": 2, "UCS2": 2}
    assert estimate("ş" * 134).encoding == "GSM7_TR"


def test_fewest_segments_wins():
    # one Turkish letter in a 101-character text: 102 septets (1 segment) vs 101 units (2)
    text = "ğ" + "a" * 100
    c = {e.encoding: e.segments for e in candidates(text)}
    assert c == {"GSM7_TR": 1, "UCS2": 2}
    assert _units(estimate(text)) == ("GSM7_TR", 1, 102)
    # a 300-letter Turkish text: 3 parts in GSM7_TR where UCS2 would need 5
    text = ("Sayın müşterimiz, ödemeniz alındı. " * 9)[:300]
    c = {e.encoding: e.segments for e in candidates(text)}
    assert c["UCS2"] == 5 and c["GSM7_TR"] < c["UCS2"]
    assert estimate(text).encoding == "GSM7_TR"
    # 135 ş: 270 septets still in 2 parts of 149; 135 units need 3 parts of 67
    assert {e.encoding: e.segments for e in candidates("ş" * 135)} == {"GSM7_TR": 2, "UCS2": 3}


# --- Netgsm's limit --------------------------------------------------------------------------

def test_netgsm_limit_gsm7():
    assert MAX_SEGMENTS == 6 and MAX_GSM7_UNITS == 917
    assert _units(estimate("a" * 917)) == ("GSM7", 6, 917)
    with pytest.raises(MessageTooLong) as exc:
        estimate("a" * 918)  # fits 6 x 153 but is over Netgsm's documented 917
    assert (exc.value.segments, exc.value.characters) == (6, 918)
    with pytest.raises(MessageTooLong) as exc:
        estimate("a" * 919)
    assert (exc.value.encoding, exc.value.segments) == ("GSM7", 7)


def test_netgsm_limit_turkish_and_ucs2():
    assert _units(estimate("ğ" + "a" * 892)) == ("GSM7_TR", 6, 894)  # 6 x 149
    with pytest.raises(MessageTooLong) as exc:
        estimate("ğ" + "a" * 893)
    assert (exc.value.encoding, exc.value.segments, exc.value.characters) == ("GSM7_TR", 7, 895)
    assert _units(estimate(CYRILLIC * 402)) == ("UCS2", 6, 402)  # 6 x 67
    with pytest.raises(MessageTooLong):
        estimate(CYRILLIC * 403)
    with pytest.raises(MessageTooLong):
        estimate(EMOJI * 201 + "a")  # 403 units


def test_message_too_long_carries_the_code_not_the_text():
    text = "Gizli müşteri bilgisi " * 50
    with pytest.raises(MessageTooLong) as exc:
        estimate(text)
    err = exc.value
    assert isinstance(err, ValueError)  # a pydantic validator can raise it as a domain code
    assert str(err) == "sms.message_too_long" == err.code
    assert err.max_segments == MAX_SEGMENTS
    assert "Gizli" not in str(err) and "Gizli" not in err.detail() and "Gizli" not in repr(err.args)
    assert err.estimate == estimate(text, enforce_limit=False)
    assert estimate(text, enforce_limit=False).segments > MAX_SEGMENTS


# --- split() and invariants ------------------------------------------------------------------

def test_split_single_and_empty():
    assert split("Merhaba") == ["Merhaba"]
    assert split("a" * 161) == ["a" * 153, "a" * 8]
    assert _units(estimate("")) == ("GSM7", 1, 0)
    with pytest.raises(ValueError):
        split("ğ", "GSM7")


def test_random_texts_respect_every_invariant():
    rng = random.Random(20240505)
    alphabet = list("aA1 .,\n") + list("ÇçĞğIıİiÖöŞşÜü") + list("€[]^") + [EMOJI, CYRILLIC, "\u2014"]
    for _ in range(400):
        pool = rng.sample(alphabet, rng.randint(1, 8))
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 500)))
        e = estimate(text, enforce_limit=False)
        single, multi = LIMITS[e.encoding]
        parts = split(text, e.encoding)
        assert "".join(parts) == text
        assert len(parts) == e.segments
        if e.encoding == "UCS2":
            sizes = [len(p.encode("utf-16-le")) // 2 for p in parts]
        else:
            sizes = [len(septets(p, e.encoding)) for p in parts]
        assert sum(sizes) == e.characters
        assert all(s <= (single if len(parts) == 1 else multi) for s in sizes)
        # no encoding the text fits in needs fewer segments
        assert e.segments == min(c.segments for c in candidates(text))


def test_import_is_cheap():
    code = ("import sys, kopru.sms, kopru.sms.encoding; "
            "print(','.join(m for m in ('pydantic', 'sqlalchemy', 'httpx', 'phonenumbers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
