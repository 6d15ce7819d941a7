"""Phone numbers between E.164 (how Köprü stores them) and Netgsm's form.

Netgsm REST v2 takes a Turkish mobile number as ten digits without the leading 0 or the
country code: `5XXXXXXXXX`. Followed: Netgsm's official Node client README and
`openapi.json` (`messages[].no` pattern `^[0-9]{10}$`, OTP `no` pattern `^5[0-9]{9}$`,
examples `no: '5XXXXXXXXX'`). Older Netgsm examples (XML API) also show `905XXXXXXXXX`;
reports may echo either form, so `from_netgsm` reads both.

Only Turkish mobile numbers (+90 5xx) are accepted: that is what the REST v2 schema
describes; sending abroad is a separate Netgsm service with its own rules.
"""

from __future__ import annotations

import re

from kopru.connectors.netgsm.errors import InvalidRequest

_E164_TR_MOBILE = re.compile(r"\+905\d{9}")
_NETGSM = re.compile(r"(?:90)?(5\d{9})")


def to_netgsm(e164: str) -> str:
    """`+905321234567` -> `5321234567`. Anything else raises InvalidRequest (never echoing it)."""
    if not isinstance(e164, str) or not _E164_TR_MOBILE.fullmatch(e164):
        raise InvalidRequest(
            "netgsm.number_invalid",
            "Numara Netgsm'e gönderilemez: E.164 biçiminde bir Türkiye cep telefonu numarası (+905…) olmalı.",
            "The number cannot go to Netgsm: it must be a Turkish mobile number in E.164 form (+905…).",
        )
    return e164[3:]


def from_netgsm(number: object) -> str | None:
    """`5321234567` or `905321234567` -> `+905321234567`; None when it is neither."""
    m = _NETGSM.fullmatch(str(number or "").strip())
    return f"+90{m.group(1)}" if m else None
