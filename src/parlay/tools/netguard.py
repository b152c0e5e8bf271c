"""The SSRF guard for fetches a user (or a model) asks for: only public addresses.

A URL passes when its scheme is http or https and every address its host stands for is
public. aiohttp connects only to addresses this module vetted: host names go through
`GuardedResolver` (which answers with the checked addresses, so a second DNS answer cannot
slip in), and IP literals, which aiohttp never sends to a resolver, are checked by
`check_url` before the request. `PARLAY_WEB_ALLOWED_HOSTS` (host names and CIDRs) lets an
operator open specific internal sites.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from parlay.tools.base import ToolFailure

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Dotted/hex/octal/integer IPv4 spellings that inet_aton (and so getaddrinfo) accept.
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(OSError):
    """Raised inside aiohttp's connect path; the scraper turns it into a ToolFailure."""


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast, and not an IPv6 form that wraps a private IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return False  # ::ffff:a.b.c.d reaches IPv4 hosts through the v6 socket API
        embedded = _embedded_v4(ip)
        if embedded is not None and not is_public(embedded):
            return False
    return (ip.is_global and not ip.is_multicast and not ip.is_reserved
            and not ip.is_loopback and not ip.is_link_local and not ip.is_private
            and not ip.is_unspecified)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address a host string spells directly, including 0x7f000001, 2130706433, 127.1."""
    candidate = host.strip("[]")
    try:
        return ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_V4.match(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


class AddressPolicy:
    """Public addresses, plus the operator's allowed host names and networks."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        self.hosts = frozenset(hosts)
        self.networks = tuple(networks)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address_allowed(self, ip: IPAddress) -> bool:
        return is_public(ip) or any(ip in net for net in self.networks
                                    if net.version == ip.version)


def check_url(raw: str, policy: AddressPolicy) -> URL:
    """The URL to fetch, or ToolFailure(url_not_allowed) naming why it is refused."""
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError):
        raise ToolFailure("invalid_url", "the URL cannot be parsed") from None
    if url.scheme not in ("http", "https"):
        raise ToolFailure("url_not_allowed", "only http and https URLs can be fetched")
    host = url.raw_host
    if not host:
        raise ToolFailure("invalid_url", "the URL has no host")
    if url.raw_user is not None or url.raw_password is not None:
        raise ToolFailure("url_not_allowed", "URLs with credentials are not fetched")
    if policy.host_allowed(host):
        return url
    literal = ip_literal(host)
    if literal is not None and not policy.address_allowed(literal):
        raise ToolFailure("url_not_allowed", f"{host} is not a public address")
    return url


class GuardedResolver(AbstractResolver):
    """getaddrinfo (hosts file included), then every answer must pass the policy."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        literal = ip_literal(host)
        if literal is not None:  # numeric spellings reach the resolver as names
            results: list[Any] = [{"hostname": host, "host": str(literal), "port": port,
                                   "family": socket.AF_INET if literal.version == 4
                                   else socket.AF_INET6, "proto": 0, "flags": 0}]
        else:
            results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        for result in results:
            address = ipaddress.ip_address(result["host"].split("%", 1)[0])
            if not self._policy.address_allowed(address):
                raise BlockedAddress(f"{host} resolves to {address}, which is not public")
        return results

    async def close(self) -> None:
        await self._inner.close()
