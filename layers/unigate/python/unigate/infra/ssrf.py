"""Vetting the URLs of custom endpoints (`name@custom`) against server-side request forgery.

A URL must be https, without credentials in it, naming a host whose every address is public: not
loopback, private, link-local, carrier-grade NAT, multicast, reserved or unspecified, and not a cloud
metadata address; IPv4 addresses hidden in IPv6 (mapped, 6to4, Teredo, NAT64) are unwrapped first, and
numeric hosts in anything but canonical dotted form (`2130706433`, `0x7f.1`, `0177.0.0.1`) are refused
outright. The check runs at registration and again at every call, on the addresses the name resolves to
then (before the request holds any credits), and the connection is pinned to the address that was checked
(the TLS name stays the host's), so a DNS answer that changes in between cannot redirect a request.
Redirects are never followed.

Operators who run their own models on private networks can set UNIGATE_CUSTOM_ENDPOINT_POLICY=any.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from unigate.domain.errors import BadRequest
from unigate.infra.config import get_settings

# Metadata services that sit on otherwise routable addresses (link-local and ULA ones are refused anyway).
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254",
))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IETF protocol assignments: Python counts some of these as global, none is a public API.
PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\Z", re.IGNORECASE)
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z")


# IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks) and IPv4-translated (::ffff:0:a.b.c.d,
# SIIT) addresses carry an IPv4 address in their last 32 bits, which is what is checked.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


class UnsafeUrl(BadRequest):
    pass


@dataclass(frozen=True)
class Pinned:
    """Where to connect: the base URL with the checked address in place of the host, the Host header,
    and the name TLS must verify."""

    base_url: str
    host_header: str
    server_name: str


def _unwrapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in NAT64 or address in IPV4_COMPATIBLE or address in IPV4_TRANSLATED:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def blocked(address: str) -> bool:
    ip = _unwrapped(ipaddress.ip_address(address.split("%", 1)[0]))
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return not ip.is_global or ip.is_multicast or site_local or ip in METADATA or ip in PROTOCOL_ASSIGNMENTS


async def _resolve(host: str, port: int) -> list[str]:
    # On the loop's resolver thread: a slow DNS answer holds up this request only, not the event loop.
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"The custom endpoint's host {host!r} does not resolve.", param="url") from None
    return sorted({str(info[4][0]) for info in infos})


def check(url: str) -> tuple[SplitResult, str, int]:
    """The checks of a custom endpoint URL that need no DNS: its scheme, credentials and host; returns the
    URL's parts, host and port. Raises UnsafeUrl (400) when it is refused."""
    policy = get_settings().custom_endpoint_policy
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The custom endpoint's URL is not a valid URL.", param="url") from None
    if parts.scheme != "https" and not (policy == "any" and parts.scheme == "http"):
        raise UnsafeUrl("A custom endpoint's URL must use https.", param="url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("A custom endpoint's URL must not carry credentials; use a custom API key.", param="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The custom endpoint's URL has no host.", param="url")
    if _NUMERIC_HOST.match(host) and not _DOTTED_QUAD.match(host):
        raise UnsafeUrl(f"{host!r} is not a canonical address; write the host name or a dotted IPv4 address.",
                        param="url")
    return parts, host, port or (443 if parts.scheme == "https" else 80)


async def pin(url: str) -> Pinned:
    """Checks a custom endpoint URL and the addresses its host has now; raises UnsafeUrl (400) when it is
    refused. The call connects to the address returned, so a DNS answer that changes later cannot matter."""
    parts, host, port = check(url)
    addresses = await _resolve(host, port)
    if get_settings().custom_endpoint_policy != "any":
        for address in addresses:
            if blocked(address):
                raise UnsafeUrl(f"The custom endpoint's host resolves to {address}, a private, local or metadata "
                                "address; only public addresses are allowed.", param="url")
    chosen = addresses[0]
    literal = f"[{chosen}]" if ":" in chosen else chosen
    netloc = f"{literal}:{port}"
    path = parts.path.rstrip("/")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Pinned(f"{parts.scheme}://{netloc}{path}", host_header, host)
