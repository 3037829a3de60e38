"""Which network addresses the service may fetch from: only globally routable ones.

Hosts are judged by what the operating system resolves them to, never by their spelling,
so `2130706433`, `0x7f.1` and `[::ffff:127.0.0.1]` are all seen as 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# First match wins, so the narrower networks come before the ones containing them.
_FORBIDDEN_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "unspecified address"),
    (_V4("0.0.0.0/8"), "reserved ('this network') address"),
    (_V4("10.0.0.0/8"), "private address"),
    (_V4("100.64.0.0/10"), "shared (CGNAT) address"),
    (_V4("127.0.0.0/8"), "loopback address"),
    (_V4("169.254.0.0/16"), "link-local address"),
    (_V4("172.16.0.0/12"), "private address"),
    (_V4("192.0.0.0/24"), "reserved (IETF protocol) address"),
    (_V4("192.0.2.0/24"), "documentation address"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay) address"),
    (_V4("192.168.0.0/16"), "private address"),
    (_V4("198.18.0.0/15"), "benchmarking address"),
    (_V4("198.51.100.0/24"), "documentation address"),
    (_V4("203.0.113.0/24"), "documentation address"),
    (_V4("224.0.0.0/4"), "multicast address"),
    (_V4("255.255.255.255/32"), "broadcast address"),
    (_V4("240.0.0.0/4"), "reserved address"),
)

_FORBIDDEN_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified address"),
    (_V6("::1/128"), "loopback address"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64 address"),
    (_V6("100::/64"), "reserved (discard-only) address"),
    (_V6("2001:db8::/32"), "documentation address"),
    (_V6("fc00::/7"), "private (unique-local) address"),
    (_V6("fe80::/10"), "link-local address"),
    (_V6("fec0::/10"), "private (site-local) address"),
    (_V6("ff00::/8"), "multicast address"),
)

_MAPPED = _V6("::ffff:0:0/96")
_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")


class _NetworkSettings(Protocol):
    allow_private_networks: bool


class ForbiddenAddress(Exception):
    """A host resolved to an address the service must not connect to."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        subject = address if host == address else f"{host} resolves to {address}, which"
        super().__init__(f"{subject} is {_article(reason)} {reason}")


class UnresolvableHost(Exception):
    """The resolver could not turn a host name into any address; ``temporary`` when it
    said so itself (no DNS server answered), as opposed to the name not existing."""

    def __init__(self, host: str, detail: str, *, temporary: bool = False) -> None:
        self.host = host
        self.detail = detail
        self.temporary = temporary
        super().__init__(f"cannot resolve {host}: {detail}")


def normalize_host(host: str) -> str:
    """The name the resolver will look up, compared and checked in one spelling: without
    brackets, lower case, and without the trailing dot of a fully qualified name, which
    names the same host (`localhost.` is `localhost`) but may escape a lookup in hosts files."""
    return host.removeprefix("[").removesuffix("]").lower().rstrip(".")


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses outgoing requests may reach; by default only global ones."""

    allow_private: bool = False
    allowed_cidrs: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: _NetworkSettings) -> AddressPolicy:
        """The policy ALLOW_PRIVATE_NETWORKS and ALLOWED_PRIVATE_CIDRS describe."""
        cidrs: tuple[str, ...] = getattr(settings, "allowed_private_cidrs", ())
        return cls(
            allow_private=settings.allow_private_networks,
            allowed_cidrs=tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs),
        )

    def why_forbidden(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached ("loopback address", ...), or None if it may."""
        if self.allow_private or self._explicitly_allowed(address):
            return None
        return forbidden_reason(address)

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, once all of them have been checked.

        Raises ForbiddenAddress when any address is forbidden, so a name that mixes public
        and private answers is refused; raises UnresolvableHost when nothing comes back.
        """
        host = normalize_host(host)
        addresses = _getaddrinfo(host, port)
        for text in addresses:
            reason = self.why_forbidden(ipaddress.ip_address(text))
            if reason is not None:
                raise ForbiddenAddress(host, text, reason)
        return addresses

    def _explicitly_allowed(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            candidate in network for candidate in candidates for network in self.allowed_cidrs
        )


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not globally routable, or None when it is."""
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4_reason(address)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        label, inner = embedded
        inner_reason = _ipv4_reason(inner)
        return None if inner_reason is None else f"{label} {inner_reason}"
    if address in _COMPATIBLE and int(address) > 1:
        inner_reason = _ipv4_reason(_low_ipv4(address))
        return f"IPv4-compatible {inner_reason or 'address (deprecated)'}"
    return _ipv6_reason(address)


def _ipv4_reason(address: ipaddress.IPv4Address) -> str | None:
    for network, reason in _FORBIDDEN_V4:
        if address in network:
            return reason
    return None if address.is_global else "non-global address"


def _ipv6_reason(address: ipaddress.IPv6Address) -> str | None:
    for network, reason in _FORBIDDEN_V6:
        if address in network:
            return reason
    sixtofour = address.sixtofour
    if sixtofour is not None and (inner := _ipv4_reason(sixtofour)) is not None:
        return f"6to4 {inner}"
    teredo = address.teredo
    if teredo is not None and any(_ipv4_reason(part) for part in teredo):
        return "Teredo address embedding a forbidden IPv4 address"
    return None if address.is_global else "non-global address"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    # The kernel (mapped) or a NAT64 gateway turns these into a connection to the IPv4 inside.
    if address in _MAPPED:
        return "IPv4-mapped", _low_ipv4(address)
    if address in _NAT64:
        return "NAT64", _low_ipv4(address)
    return None


def _low_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _getaddrinfo(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        temporary = exc.errno == socket.EAI_AGAIN
        raise UnresolvableHost(host, exc.strerror or str(exc), temporary=temporary) from exc
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(host, str(exc)) from exc
    # Scope ids ("fe80::1%eth0") come back in the sockaddr, not in the address text.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnresolvableHost(host, "no addresses")
    return addresses


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"
