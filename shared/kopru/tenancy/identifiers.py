"""Turkish identifiers with their real check-digit algorithms, and tenant subdomains."""

from __future__ import annotations

import re

_DIGITS10 = re.compile(r"^[0-9]{10}$")
_DIGITS11 = re.compile(r"^[1-9][0-9]{10}$")


def vkn_valid(vkn: str) -> bool:
    """Vergi Kimlik Numarası (10 digits), GİB's check-digit algorithm."""
    if not _DIGITS10.fullmatch(vkn):
        return False
    d = [int(c) for c in vkn]
    total = 0
    for i in range(9):
        t = (d[i] + 9 - i) % 10
        v = (t * 2 ** (9 - i)) % 9
        if t != 0 and v == 0:
            v = 9
        total += v
    return (10 - total % 10) % 10 == d[9]


def tckn_valid(tckn: str) -> bool:
    """T.C. Kimlik Numarası (11 digits, first non-zero), NVİ's two check digits."""
    if not _DIGITS11.fullmatch(tckn):
        return False
    d = [int(c) for c in tckn]
    odd = d[0] + d[2] + d[4] + d[6] + d[8]
    even = d[1] + d[3] + d[5] + d[7]
    if (odd * 7 - even) % 10 != d[9]:
        return False
    return sum(d[:10]) % 10 == d[10]


def tax_number_kind(value: str) -> str | None:
    """'VKN', 'TCKN' or None when the number is neither."""
    if len(value) == 10 and vkn_valid(value):
        return "VKN"
    if len(value) == 11 and tckn_valid(value):
        return "TCKN"
    return None


_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")

RESERVED_SUBDOMAINS = frozenset(
    """
    www api app apps admin administrator auth login logout oauth oauth2 sso id account accounts
    kopru koprü platform operator operators root system sys internal status health healthz
    docs doc help support billing mail email smtp imap pop pop3 mx ns ns1 ns2 dns ftp sftp
    cdn static assets media files img images download downloads dev test staging stage prod
    production demo sandbox beta console dashboard panel portal gateway function functions
    webhook webhooks events kafka redis postgres db metrics grafana prometheus security
    kvkk verbis gib efatura earsiv netgsm iyzico iys blog news shop store www1 www2 localhost
    """.split()
)


def subdomain_problem(value: str) -> str | None:
    """None when the subdomain is acceptable, else the error code."""
    if not _LABEL.fullmatch(value) or len(value) < 3 or "--" in value[2:4]:
        # RFC 1123 label; no "xn--"-style punycode labels
        return "tenant.subdomain_invalid"
    if value in RESERVED_SUBDOMAINS:
        return "tenant.subdomain_reserved"
    return None
