"""The URL guard in front of every fetch: http(s) only, and no loopback/private/link-local/metadata
addresses unless the caller says ``allow_private`` (SSRF: a model or a search result must not make us
read an internal service)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from agentkit.errors import FetchError

ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata endpoints that are not covered by "private"/"link-local" on every platform.
_METADATA = {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 is judged by its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified) and ip.is_global


def check_scheme(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or FetchError."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(f"refused {url!r}: scheme '{parts.scheme or '(none)'}' is not http or https", "only web pages can be fetched")
    if not parts.hostname:
        raise FetchError(f"refused {url!r}: no host", "give a full URL like https://example.org/page")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise FetchError(f"refused {url!r}: bad port", "check the URL") from None
    return parts.hostname, port


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
    for *_, sockaddr in infos:
        if not is_public_address(str(sockaddr[0])):
            raise FetchError(
                f"refused {url!r}: '{host}' resolves to non-public address {sockaddr[0]}",
                "pass allow_private=True (CLI: --allow-private) to fetch local or internal pages",
            )
    if not infos:
        raise FetchError(f"cannot resolve host '{host}'", "check the URL or your DNS")
    return str(infos[0][4][0])
