"""A data subject's identifiers: normalised one way everywhere, and masked for display.

- Phone: E.164 with the `phonenumbers` library, default region TR, so `05321234567`,
  `5321234567`, `+90 532 123 45 67` and `00905321234567` are one number.
- E-mail: NFC + Unicode casefold (`kopru.text.fold_email`), then a shape check.
- TCKN: 11 digits with NVİ's check digits.

Invalid input raises `InvalidIdentifier` (a ValueError carrying the error code, so
a pydantic validator surfaces the code); the value is never put in the message.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["phone", "email", "tckn"]
KINDS: tuple[Kind, ...] = ("phone", "email", "tckn")

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]{4,32}$")
_EMAIL = re.compile(
    r"^[^\s@\"(),:;<>\[\]\\]{1,64}@(?=.{1,253}$)(?:[^\s@.\"(),:;<>\[\]\\]{1,63}\.)+[^\s@.\"(),:;<>\[\]\\]{2,63}$"
)


class InvalidIdentifier(ValueError):
    """The identifier is not a valid phone, e-mail or TCKN; args[0] is the error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalise_phone(raw: str) -> str:
    import phonenumbers

    s = raw.strip()
    if not _PHONE_CHARS.fullmatch(s):
        raise InvalidIdentifier("subject.phone_invalid")
    if s.startswith("00"):
        s = "+" + s[2:]
    try:
        num = phonenumbers.parse(s, "TR")
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier("subject.phone_invalid") from None
    if not phonenumbers.is_valid_number(num):
        raise InvalidIdentifier("subject.phone_invalid")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    from kopru.text import fold_email

    s = fold_email(raw)
    if len(s) > 254 or not _EMAIL.fullmatch(s):
        raise InvalidIdentifier("subject.email_invalid")
    return s


def normalise_tckn(raw: str) -> str:
    from kopru.tenancy.identifiers import tckn_valid

    s = raw.strip()
    if not tckn_valid(s):
        raise InvalidIdentifier("subject.tckn_invalid")
    return s


NORMALISERS = {"phone": normalise_phone, "email": normalise_email, "tckn": normalise_tckn}


def normalise(kind: Kind, raw: str) -> str:
    return NORMALISERS[kind](raw)


def detect(raw: str) -> tuple[Kind, str]:
    """Which identifier a free-form string is (`GET /consents?subject=`), normalised:
    an e-mail has an @, a TCKN is 11 digits with valid check digits, anything else
    must be a phone number."""
    from kopru.tenancy.identifiers import tckn_valid

    s = raw.strip()
    if not s or len(s) > 254:
        raise InvalidIdentifier("subject.query_invalid")
    if "@" in s:
        return "email", normalise_email(s)
    if len(s) == 11 and s.isdigit() and tckn_valid(s):
        return "tckn", s
    try:
        return "phone", normalise_phone(s)
    except InvalidIdentifier:
        raise InvalidIdentifier("subject.query_invalid") from None


def mask(kind: Kind, value: str | None) -> str | None:
    """Enough to recognise, not enough to use: +90532*****67, a***@e***.com, *********46."""
    if value is None:
        return None
    if kind == "phone":
        head = value[:6] if value.startswith("+90") else value[:4]
        return head + "*" * max(len(value) - len(head) - 2, 1) + value[-2:]
    if kind == "email":
        local, _, domain = value.partition("@")
        labels = domain.split(".")
        return f"{local[:1]}***@{labels[0][:1]}***.{labels[-1]}"
    return "*" * (len(value) - 2) + value[-2:]
