"""Checks every request body and stored header passes before a model sees it.

One mechanism for every route, so no model has to remember it:
- JSON nested deeper than `MAX_DEPTH` is refused (`request.too_deep`) by a scan of the
  bytes that never recurses, before any parser does;
- bytes that are not UTF-8, and lone surrogates (`"\\ud800"`), are refused
  (`request.invalid_unicode`): PostgreSQL cannot store them;
- control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) in any key or
  string, at any depth, are refused (`request.control_characters`), except TAB, LF and CR,
  which multi-line text (an SMS, an invoice note, a consent text) legitimately holds.
  PostgreSQL cannot store NUL in text at all; the others end up in XML, SMS and logs.
Errors name the JSON path of the field (`lines.0.name`), never its value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kopru.errors import CATALOG, KopruError

MAX_DEPTH = 32

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# a JSON string, escapes included, without backtracking (the "unrolled loop")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested past `limit`, without recursion. Strings are blanked first so
    brackets inside them do not count; an unterminated string leaves its brackets in,
    which can only over-count a body the parser refuses anyway."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b'""', raw))
    depth = 0
    opening = (ord("["), ord("{"))
    for b in brackets:
        if b in opening:
            depth += 1
            if depth > limit:
                raise KopruError("request.too_deep", detail=f"at most {limit} levels")
        else:
            depth -= 1


def _field(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


def _problem(code: str, path: list[Any] | None, lang: str) -> KopruError:
    if path is None:
        return KopruError(code)
    spec = CATALOG[code]
    return KopruError(code, errors=[{"field": _field(path), "type": code.split(".", 1)[1],
                                     "message": spec.en if lang == "en" else spec.tr}])


def check_text(value: str, path: list[Any] | None, lang: str, detail: str | None = None) -> None:
    if _SURROGATE.search(value):
        err = _problem("request.invalid_unicode", path, lang)
        err.detail = detail and detail + " a lone surrogate"
        raise err
    if _CONTROL.search(value):
        err = _problem("request.control_characters", path, lang)
        err.detail = detail and detail + " a control character"
        raise err


def check_tree(doc: Any, lang: str) -> None:
    """Every key and string of a parsed JSON document, iteratively (depth is bounded
    already, but a wide document must not cost a frame per value either)."""
    stack: list[tuple[Any, list[Any]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            check_text(value, path, lang)
        elif isinstance(value, dict):
            for k, v in value.items():
                check_text(k, path, lang)  # a bad key: named by its parent, never echoed
                stack.append((v, path + [k]))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                stack.append((v, path + [i]))


def check_json(raw: bytes, lang: str) -> None:
    """Depth, UTF-8, surrogates and control characters of a JSON body. A body that is not
    JSON at all is left to the model's parser (it answers request.malformed_json)."""
    check_depth(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 8259 8.1: JSON exchanged between systems is UTF-8; anything else is not JSON
        raise KopruError("request.malformed_json") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return
    check_tree(doc, lang)


# form parameters an answer may name (OAuth 2.0's, RFC 6749/7009/7662); any other name is
# the caller's own text and is never echoed
FORM_PARAMETERS = frozenset({"grant_type", "scope", "username", "password", "tenant", "client_id", "client_secret",
                             "refresh_token", "token", "token_type_hint"})


def parameter_name(k: str) -> str:
    return f"parameter {k}" if k in FORM_PARAMETERS else "a parameter"


def check_form(pairs: list[tuple[str, str]], lang: str) -> None:
    for k, v in pairs:
        # the detail names no value: the OAuth endpoints answer with it (RFC 6749 5.2)
        check_text(k, None, lang, "a parameter name holds")
        check_text(v, [k] if k in FORM_PARAMETERS else None, lang, f"{parameter_name(k)} holds")


def check_idempotency_key(value: str | None) -> None:
    """Refused before the body is read, by the one rule the idempotency mechanism keeps
    (kopru.work.idempotency.check_key: 1 to 100 printable ASCII characters)."""
    from kopru.work.idempotency import check_key

    check_key(value)


def client_address(peer: str | None, forwarded_for: list[str]) -> str | None:
    """See Call.client_ip: the rightmost address of X-Forwarded-For that is not a trusted
    proxy, when the peer itself is one; else the peer."""
    import ipaddress

    from kopru.config import settings

    nets = settings().trusted_proxies
    if not nets or peer is None or not forwarded_for:
        return peer

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr.strip())
        except ValueError:
            return False
        return any(ip in n for n in nets)

    if not trusted(peer):
        return peer
    hops = [h.strip() for v in forwarded_for for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # not an address: a forged header, not a client
    return peer


def over_tls(scheme: str, peer: str | None, forwarded_proto: list[str]) -> bool:
    """Did the caller reach us over TLS: the connection itself is https, or a trusted proxy
    (KOPRU_TRUSTED_PROXIES) that terminated TLS says so in X-Forwarded-Proto (its last
    value: the hop nearest to us). From anyone else the header means nothing."""
    import ipaddress

    from kopru.config import settings

    if scheme == "https":
        return True
    nets = settings().trusted_proxies
    if not nets or peer is None or not forwarded_proto:
        return False
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if not any(ip in n for n in nets):
        return False
    last = [p.strip().lower() for v in forwarded_proto for p in v.split(",") if p.strip()]
    return bool(last) and last[-1] == "https"
