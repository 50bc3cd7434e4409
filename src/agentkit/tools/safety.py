"""The URL guard in front of every fetch: http(s) only, and no loopback/private/link-local/metadata
addresses unless the caller says ``allow_private`` (SSRF: a model or a search result must not make us
read an internal service)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import idna

from agentkit.errors import FetchError, PrivateAddressError

ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata endpoints that are not covered by "private"/"link-local" on every platform.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
# NAT64 (RFC 6052): the well-known prefix carries an IPv4 address in its last 32 bits and is judged by it;
# the local-use prefix (RFC 8215) may embed it at several prefix lengths, so it is refused outright.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address.

    IPv6 addresses that carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) are public only if every
    IPv4 address inside is public, so ``2002:7f00:1::1`` (6to4 around 127.0.0.1) is refused; site-local
    ``fec0::/10`` and the local-use NAT64 prefix are refused. A string that is not an IP address is not public.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _NAT64_LOCAL:
            return False
        if ip.ipv4_mapped is not None:
            return _is_public_ip(ip.ipv4_mapped)
        if ip in _NAT64_WELL_KNOWN:
            return _is_public_ip(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = [ip.sixtofour] if ip.sixtofour is not None else []
        embedded += list(ip.teredo or ())  # (server, client); ipaddress already undoes the client's XOR
        if not all(_is_public_ip(v4) for v4 in embedded):
            return False
    return _is_public_ip(ip)


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip in _METADATA:
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified) and ip.is_global


def check_scheme(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or FetchError (also for a malformed URL: ``http://[::1``, ``http://a..b/``)."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as exc:
        raise FetchError(f"refused {url!r}: malformed URL ({exc})", "check the URL") from None
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError(f"refused {url!r}: scheme '{parts.scheme or '(none)'}' is not http or https", "only web pages can be fetched")
    if not host:
        raise FetchError(f"refused {url!r}: no host", "give a full URL like https://example.org/page")
    try:
        host.encode("idna")  # empty or over-long labels ("a..b"), as the resolver would refuse them
        for label in host.split("."):
            if label.startswith("xn--"):
                idna.decode(label)  # a malformed A-label ("xn--"), as the HTTP client would refuse it
    except (UnicodeError, idna.IDNAError) as exc:
        raise FetchError(f"refused {url!r}: malformed host name ({exc})", "check the URL") from None
    return host, port or (443 if scheme == "https" else 80)


async def check_url(url: str, allow_private: bool = False) -> str | None:
    """Raise FetchError unless ``url`` is http(s) and every address its host resolves to is public.

    Returns the vetted address to connect to (None with ``allow_private``): the fetcher pins the connection to
    it, so a DNS answer that changes between this check and the connection (DNS rebinding) cannot redirect us."""
    host, port = check_scheme(url)
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host '{host}' ({exc.strerror})", "check the URL or your DNS") from None
    except (UnicodeError, ValueError) as exc:  # IDNA failures surface here, not as gaierror
        raise FetchError(f"cannot resolve host '{host}' ({exc})", "check the URL") from None
    for *_, sockaddr in infos:
        if not is_public_address(str(sockaddr[0])):
            raise PrivateAddressError(
                f"refused {url!r}: '{host}' resolves to non-public address {sockaddr[0]}",
                "pass allow_private=True (CLI: --allow-private) to fetch local or internal pages",
            )
    if not infos:
        raise FetchError(f"cannot resolve host '{host}'", "check the URL or your DNS")
    return str(infos[0][4][0])
