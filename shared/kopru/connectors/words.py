"""Outcome codes in words: a code an SMS or an invoice ended with (a Köprü code, a
provider's, GİB's) as Turkish and English text, from the one table that defines it
(kopru.errors.CATALOG, the Netgsm, Nilvera and iyzico code tables). Never the provider's own
free text, which may quote a document."""

from __future__ import annotations


def describe(code: str | None) -> dict[str, str] | None:
    """{"code", "tr", "en"} for an outcome code, or None when there is none. An unknown
    code is said to be unknown rather than guessed."""
    if not code:
        return None
    tr, en = _lookup(code)
    return {"code": code, "tr": tr, "en": en}


def _lookup(code: str) -> tuple[str, str]:
    from kopru.errors import CATALOG

    if code in CATALOG:
        spec = CATALOG[code]
        return spec.tr, spec.en
    head, _, rest = code.partition(".")
    if head == "netgsm":
        from kopru.connectors.netgsm import codes as nc

        if rest.startswith("report."):
            status = nc.ReportStatus.parse(rest[len("report."):])
            return status.tr, status.en
        spec = nc.spec(nc.SEND, rest)
        if spec is not nc.UNKNOWN_CODE:
            return spec.tr, spec.en
    elif head in ("nilvera", "gib") and rest.isdigit():
        from kopru.connectors.nilvera import codes as vc

        table = vc.NILVERA_ERRORS if head == "nilvera" else vc.GIB_STATUS
        spec = table.get(int(rest))
        if spec is not None:
            return spec.tr, spec.en
    elif head == "whatsapp" and rest:
        from kopru.connectors.whatsapp import codes as wc

        found = wc.describe(rest)
        if found is not None:
            return found
    elif head == "iyzico" and rest:
        from kopru.connectors.iyzico import codes as ic

        spec = ic.spec(rest)
        if spec is not None:
            return spec.tr, spec.en
    return ("Sağlayıcının bu kodu belgelerimizde yok.", "The provider's code is not in our tables.")
