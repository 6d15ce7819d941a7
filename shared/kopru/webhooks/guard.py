"""Where an outbound webhook may go, and the one way it is sent.

A tenant names the URL, so a request to it is a request Köprü makes on the tenant's word
from inside the cluster (SSRF). Unless KOPRU_WEBHOOKS_ALLOW_PRIVATE is set (`kopru dev`,
whose receivers are on loopback):

- the URL must be https, with no user name or password and no fragment;
- no address it leads to may be loopback, private (RFC 1918, ULA), link-local, CGNAT
  (100.64.0.0/10), unspecified, multicast or reserved, nor a cloud metadata address
  (169.254.169.254, fd00:ec2::254); IPv4 inside IPv6 (mapped, 6to4, NAT64) is unwrapped
  and judged as IPv4, Teredo refused;
- the host is resolved for every request and **every** address it resolves to is checked;
  the connection then goes to the checked address (the URL's host replaced by it), with
  the original name as Host header and TLS SNI, so the certificate is still verified for
  the name and a DNS answer that changes between the check and the connection
  (rebinding) cannot move the request. Clients are pooled per (name, address, port), so a
  connection verified for one name never carries a request for another;
- redirects are never followed (a 3xx is a failed attempt), proxies from the environment
  are ignored, the whole request has one time-out.

The URL is checked when it is saved too (`check_url`, `check_resolves`), which catches
mistakes early; the check at send time is the one that guards.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kopru.errors import KopruError

_EXTRA_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",        # CGNAT (shared address space)
    "169.254.169.254/32",   # AWS/GCP/Azure/OpenStack metadata (link-local, named for clarity)
    "fd00:ec2::254/128",    # AWS metadata over IPv6 (ULA)
    "192.0.0.0/24",         # IETF protocol assignments
    "198.18.0.0/15",        # benchmarking
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BLOCKED_NAMES = ("localhost", "metadata.google.internal", "metadata")
MAX_URL = 2048


class Forbidden(Exception):
    """The host leads to an address requests may not go to."""


def forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a request may not go to this address (see the module's note)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return forbidden(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            return forbidden(ip.sixtofour)
        if ip.teredo is not None:
            return True
        if ip in _NAT64:
            return forbidden(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback or ip.is_link_local \
            or ip.is_private or not ip.is_global:
        return True
    return any(ip in n for n in _EXTRA_BLOCKED if n.version == ip.version)


def _allow_private() -> bool:
    from kopru.config import settings

    return settings().webhooks_allow_private


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name as written (IDNA-encoded), or the IP literal without brackets
    port: int
    path: str  # path and query

    @property
    def host_header(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return h if self.port == default else f"{h}:{self.port}"


def check_url(url: str) -> Target:
    """The URL's shape and, for an address literal or a known local name, its host; raises
    KopruError webhook.url_invalid / url_https_required / url_forbidden."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise KopruError("webhook.url_invalid")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise KopruError("webhook.url_invalid") from None
    if parts.scheme not in ("https", "http") or not host or parts.username is not None \
            or parts.password is not None or "@" in parts.netloc or parts.fragment or "#" in url:
        raise KopruError("webhook.url_invalid")
    allow = _allow_private()
    if parts.scheme == "http" and not allow:
        raise KopruError("webhook.url_https_required")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise KopruError("webhook.url_invalid") from None
    host = host.rstrip(".").lower()
    if not host:
        raise KopruError("webhook.url_invalid")
    if not allow:
        if host in _BLOCKED_NAMES or host.endswith((".localhost", ".internal", ".local")):
            raise KopruError("webhook.url_forbidden")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and forbidden(ip):
            raise KopruError("webhook.url_forbidden")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


async def resolve(host: str, port: int) -> str:
    """The address to connect to: every address the name resolves to is checked (Forbidden
    when one is not allowed); the first is used. Raises OSError when nothing resolves."""
    allow = _allow_private()
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not allow and forbidden(literal):
            raise Forbidden(host)
        return str(literal)
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 5.0)
    addrs = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not allow and forbidden(ip):
            raise Forbidden(host)
        addrs.append(str(ip))
    if not addrs:
        raise OSError("no address")
    return addrs[0]


async def check_resolves(url: str) -> None:
    """At save: a name that resolves now to a forbidden address is refused (a name that does
    not resolve yet is accepted; the send-time check guards)."""
    t = check_url(url)
    try:
        await resolve(t.host, t.port)
    except Forbidden:
        raise KopruError("webhook.url_forbidden") from None
    except (OSError, asyncio.TimeoutError, UnicodeError):
        pass


# -- sending ---------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    retry_after: float | None
    duration_ms: int


class SendError(Exception):
    """No answer: `code` (webhook.address_forbidden, dns_failed, timeout, connection_failed);
    `sent` when the request may have reached the receiver."""

    def __init__(self, code: str, *, sent: bool, duration_ms: int = 0):
        super().__init__(code)
        self.code, self.sent, self.duration_ms = code, sent, duration_ms


_CLIENTS: "OrderedDict[tuple, Any]" = OrderedDict()
_MAX_CLIENTS = 256
_SSL = None


def _ssl_context():
    global _SSL
    if _SSL is None:
        import ssl

        import certifi

        _SSL = ssl.create_default_context(cafile=certifi.where())
    return _SSL


def _client(scheme: str, host: str, ip: str, port: int):
    """A pooled client for one (name, address, port): keep-alive without ever reusing a
    connection verified for another name. One TLS context for all (loading the CA bundle
    is the expensive part)."""
    import httpx

    key = (id(asyncio.get_running_loop()), scheme, host, ip, port)
    c = _CLIENTS.get(key)
    if c is not None and not c.is_closed:
        _CLIENTS.move_to_end(key)
        return c
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context() if scheme == "https" else False, retries=0,
                                         limits=httpx.Limits(max_connections=16, max_keepalive_connections=4,
                                                             keepalive_expiry=30.0))
    c = _CLIENTS[key] = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
    while len(_CLIENTS) > _MAX_CLIENTS:
        _, old = _CLIENTS.popitem(last=False)
        try:
            asyncio.get_running_loop().create_task(old.aclose())
        except RuntimeError:
            pass
    return c


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(min(int(raw), 86400))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, min(when.timestamp() - time.time(), 86400.0))


async def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST `body` to `url` as the module's note says: resolved, checked, pinned, no
    redirects, one time-out for everything. Raises SendError."""
    import httpx

    started = time.perf_counter()

    def ms() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        t = check_url(url)
    except KopruError:
        raise SendError("webhook.address_forbidden", sent=False) from None
    try:
        ip = await resolve(t.host, t.port)
    except Forbidden:
        raise SendError("webhook.address_forbidden", sent=False, duration_ms=ms()) from None
    except (OSError, asyncio.TimeoutError, UnicodeError):
        raise SendError("webhook.dns_failed", sent=False, duration_ms=ms()) from None
    literal = f"[{ip}]" if ":" in ip else ip
    pinned = f"{t.scheme}://{literal}:{t.port}{t.path}"
    ext = {"sni_hostname": t.host} if t.scheme == "https" else {}
    client = _client(t.scheme, t.host, ip, t.port)
    sent = False
    try:
        async with asyncio.timeout(timeout):
            req = client.build_request("POST", pinned, content=body,
                                       headers={**headers, "Host": t.host_header}, extensions=ext)
            sent = True
            r = await client.send(req, stream=True)
            try:
                read = 0
                async for chunk in r.aiter_raw():  # a little of the answer, then the connection goes back
                    read += len(chunk)
                    if read > 64 * 1024:
                        break
            finally:
                await r.aclose()
    except TimeoutError:
        raise SendError("webhook.timeout", sent=sent, duration_ms=ms()) from None
    except httpx.ConnectError:
        raise SendError("webhook.connection_failed", sent=False, duration_ms=ms()) from None
    except httpx.HTTPError:
        raise SendError("webhook.connection_failed", sent=sent, duration_ms=ms()) from None
    return Answer(r.status_code, _retry_after(r.headers.get("retry-after")), ms())
