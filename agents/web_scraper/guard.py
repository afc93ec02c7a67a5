"""The SSRF guard: which URLs and IP addresses the scraper may reach, enforced at DNS time.

Every check happens where the connection is made: `GuardedResolver` vets each address a
hostname resolves to and hands aiohttp only vetted ones, so a DNS answer that changes between
a check and the connect (rebinding) cannot slip through. IP-literal hosts never reach a
resolver in aiohttp, so `check_url` vets those itself. Redirect hops go through both again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# NAT64 (RFC 6052) embeds an IPv4 address in its low 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedUrl(OSError):
    """A URL or resolved address the guard refuses; an OSError so aiohttp's connector carries it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _category(ip: IPAddress) -> str | None:
    """Why an address is not a public unicast one, or None if it is."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local, where cloud metadata servers live"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"  # e.g. 100.64.0.0/10 carrier-grade NAT
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which resolved addresses may be connected to."""

    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    def refusal(self, ip: IPAddress | str) -> str | None:
        """Why connecting to `ip` is refused, or None if it is allowed."""
        if isinstance(ip, str):
            ip = ipaddress.ip_address(ip.split("%", 1)[0])
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
            reason = self.refusal(inner)
            return f"{reason} (embedded in {ip})" if reason else None
        category = _category(ip)
        if category is None:
            return None
        # Private and loopback may be opened for local development; link-local (the
        # 169.254.169.254 metadata server), multicast, reserved and unspecified never.
        if self.allow_private and category in ("private", "loopback", "non-public"):
            return None
        return f"{ip} is not a public address ({category})"


def check_url(url: URL, policy: AddressPolicy) -> None:
    """Refuse a URL by scheme, shape, or IP-literal host; hostnames are vetted at resolve time."""
    if url.scheme not in ("http", "https"):
        raise BlockedUrl(f"only http:// and https:// URLs can be read, not {url.scheme or 'no'}:// URLs")
    if not url.host:
        raise BlockedUrl("the URL has no host name")
    if url.user is not None or url.password is not None:
        raise BlockedUrl("URLs with a user name or password are not allowed")
    try:
        ip = ipaddress.ip_address(url.host.split("%", 1)[0])
    except ValueError:
        return  # a hostname: GuardedResolver checks what it resolves to
    if (reason := policy.refusal(ip)) is not None:
        raise BlockedUrl(reason)


class GuardedResolver(AbstractResolver):
    """Resolves with `inner`, then refuses the host if ANY address it resolves to is refused.

    Refusing (rather than filtering) keeps a mixed public/private answer from being used to
    probe internal hosts and gives the user one clear reason.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if (reason := self.policy.refusal(result["host"])) is not None:
                raise BlockedUrl(f"{host} resolves to {reason}")
        if not results:
            raise OSError(f"{host} did not resolve to any address")
        return results

    async def close(self) -> None:
        await self._inner.close()
