"""The address policy: every spelling of a forbidden address is refused after resolution."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import pytest

from app.security.addresses import (
    AddressPolicy,
    ForbiddenAddress,
    UnresolvableHost,
    forbidden_reason,
)

# (host as it would appear in a URL, words the refusal reason must contain)
FORBIDDEN_HOSTS: list[tuple[str, str]] = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("017700000001", "loopback"),
    ("0x7f.0.0.1", "loopback"),
    ("localhost", "loopback"),
    ("[::1]", "loopback"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("[::ffff:169.254.169.254]", "IPv4-mapped link-local"),
    ("::ffff:a9fe:aa02", "IPv4-mapped link-local"),
    ("64:ff9b::7f00:1", "NAT64 loopback"),
    ("64:ff9b::169.254.169.254", "NAT64 link-local"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("2002:a9fe:a9fe::1", "6to4 link-local"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "CGNAT"),
    ("169.254.169.254", "link-local"),
    ("169.254.170.2", "link-local"),
    ("fe80::1", "link-local"),
    ("fd12::1", "unique-local"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.2.1", "documentation"),
    ("2001:db8::1", "documentation"),
    ("240.0.0.1", "reserved"),
]

GLOBAL_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]

LOOPBACK_ONLY = AddressPolicy(allowed_cidrs=(ipaddress.ip_network("127.0.0.2/32"),))


@dataclass
class _NetworkSettings:
    allow_private_networks: bool
    allowed_private_cidrs: tuple[str, ...]


@pytest.mark.parametrize(("host", "reason"), FORBIDDEN_HOSTS)
def test_forbidden_hosts_are_refused_with_a_reason(host: str, reason: str) -> None:
    with pytest.raises(ForbiddenAddress) as refused:
        AddressPolicy().resolve(host, 80)

    assert reason in refused.value.reason
    assert refused.value.address in str(refused.value)
    assert refused.value.reason in str(refused.value)


def test_the_table_covers_enough_forms() -> None:
    assert len(FORBIDDEN_HOSTS) >= 25


def test_refusal_messages_name_the_address_and_why() -> None:
    with pytest.raises(ForbiddenAddress) as literal:
        AddressPolicy().resolve("127.0.0.1", 80)
    with pytest.raises(ForbiddenAddress) as named:
        AddressPolicy().resolve("2130706433", 80)

    assert str(literal.value) == "127.0.0.1 is a loopback address"
    assert str(named.value) == "2130706433 resolves to 127.0.0.1, which is a loopback address"
    assert (named.value.host, named.value.address) == ("2130706433", "127.0.0.1")


@pytest.mark.parametrize("address", GLOBAL_ADDRESSES)
def test_global_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().why_forbidden(ipaddress.ip_address(address)) is None
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_a_global_literal_resolves_to_itself() -> None:
    assert AddressPolicy().resolve("8.8.8.8", 443) == ["8.8.8.8"]
    assert AddressPolicy().resolve("[2606:4700:4700::1111]", 443) == ["2606:4700:4700::1111"]


@pytest.mark.parametrize(("host", "reason"), FORBIDDEN_HOSTS)
def test_allow_private_allows_everything(host: str, reason: str) -> None:
    assert AddressPolicy(allow_private=True).resolve(host, 80)


def test_allowed_cidrs_lift_only_their_networks() -> None:
    assert LOOPBACK_ONLY.resolve("127.0.0.2", 80) == ["127.0.0.2"]
    assert LOOPBACK_ONLY.resolve("::ffff:127.0.0.2", 80) == ["::ffff:127.0.0.2"]
    with pytest.raises(ForbiddenAddress):
        LOOPBACK_ONLY.resolve("127.0.0.1", 80)
    with pytest.raises(ForbiddenAddress):
        LOOPBACK_ONLY.resolve("2130706433", 80)


def test_policy_from_settings() -> None:
    settings = _NetworkSettings(
        allow_private_networks=False, allowed_private_cidrs=("127.0.0.2", "10.1.2.0/24")
    )

    policy = AddressPolicy.from_settings(settings)

    assert policy == AddressPolicy(
        allow_private=False,
        allowed_cidrs=(
            ipaddress.ip_network("127.0.0.2/32"),
            ipaddress.ip_network("10.1.2.0/24"),
        ),
    )
    assert policy.why_forbidden(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.why_forbidden(ipaddress.ip_address("10.1.3.1")) == "private address"


def test_policy_from_settings_without_cidrs() -> None:
    @dataclass
    class _OlderSettings:
        allow_private_networks: bool

    assert AddressPolicy.from_settings(_OlderSettings(True)) == AddressPolicy(allow_private=True)


def test_any_forbidden_answer_refuses_the_whole_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rebinding name answers with a public and a private address at once.
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)),
    ]

    def fake_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)

    with pytest.raises(ForbiddenAddress) as refused:
        AddressPolicy().resolve("rebind.example", 80)

    assert refused.value.address == "169.254.169.254"


def test_unresolvable_hosts_raise() -> None:
    # A label longer than 63 characters fails in the IDNA codec, before any DNS query.
    with pytest.raises(UnresolvableHost):
        AddressPolicy().resolve("a" * 64 + ".invalid", 80)
