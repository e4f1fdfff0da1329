"""Which addresses http jobs may reach, decided on what a host resolves to."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from pgsched.executors.http_address import AddressRefused, AddressRules

NOTHING_ALLOWED = AddressRules()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "always refused"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("100.100.100.200", "cloud metadata address"),
        ("168.63.129.16", "cloud metadata address"),
        ("::ffff:169.254.169.254", "always refused"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "always refused"),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", "always refused"),  # 6to4 of 169.254.169.254
        ("0.0.0.0", "not an address to connect to"),
        ("::", "not an address to connect to"),
        ("224.0.0.1", "not an address to connect to"),
        ("255.255.255.255", "not an address to connect to"),
        ("240.0.0.1", "not an address to connect to"),
        ("127.0.0.1", "loopback"),
        ("127.8.8.8", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
    ],
)
def test_internal_addresses_are_refused_without_an_allowance(address: str, reason: str) -> None:
    refusal = NOTHING_ALLOWED.refusal("any.example", ipaddress.ip_address(address))
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1111"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert NOTHING_ALLOWED.refusal("any.example", ipaddress.ip_address(address)) is None


def test_an_allowance_opens_its_networks_and_hosts_never_link_local() -> None:
    rules = AddressRules.allowing(["10.0.0.0/8", "127.0.0.1", "::1", "Internal.Example."])
    assert rules.refusal("x", ipaddress.ip_address("10.200.0.1")) is None
    assert rules.refusal("x", ipaddress.ip_address("127.0.0.1")) is None
    assert rules.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert rules.refusal("x", ipaddress.ip_address("::1")) is None
    assert rules.refusal("x", ipaddress.ip_address("127.0.0.2")) is not None
    assert rules.refusal("x", ipaddress.ip_address("192.168.0.1")) is not None
    assert rules.refusal("internal.example", ipaddress.ip_address("192.168.0.1")) is None
    # A host allowed by name still never reaches a metadata address.
    assert rules.refusal("internal.example", ipaddress.ip_address("169.254.169.254")) is not None


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("169.254.0.0/16", "covers link-local"),
        ("0.0.0.0/0", "covers link-local"),
        ("::/0", "covers link-local"),
        ("169.254.169.254", "covers link-local"),
        ("metadata.google.internal", "cloud metadata service"),
        ("not a host", "neither a CIDR"),
        ("", "neither a CIDR"),
    ],
)
def test_allowances_that_would_open_metadata_or_make_no_sense_are_refused(
    entry: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        AddressRules.allowing([entry])


@pytest.fixture
def resolving_to(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Host names resolving to the addresses the test chooses, as a rebinding DNS would."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield answers


def test_a_name_is_judged_by_what_it_resolves_to_when_connecting(
    resolving_to: dict[str, list[str]],
) -> None:
    resolving_to["innocent.example"] = ["169.254.169.254"]
    with pytest.raises(AddressRefused, match=r"169\.254\.169\.254 is a cloud metadata address"):
        NOTHING_ALLOWED.connect("innocent.example", 80, timeout=1)
    resolving_to["innocent.example"] = ["10.0.0.7"]
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7 is a private address"):
        NOTHING_ALLOWED.connect("innocent.example", 80, timeout=1)


def test_odd_spellings_of_loopback_resolve_to_loopback_and_are_refused() -> None:
    for spelling in ("0x7f000001", "2130706433", "0177.0.0.1", "127.1", "::ffff:127.0.0.1"):
        with pytest.raises(AddressRefused, match="loopback"):
            NOTHING_ALLOWED.connect(spelling, 9, timeout=1)


def test_metadata_names_are_refused_before_any_lookup(
    resolving_to: dict[str, list[str]],
) -> None:
    resolving_to["metadata.google.internal"] = ["93.184.216.34"]
    with pytest.raises(AddressRefused, match="cloud metadata service"):
        NOTHING_ALLOWED.connect("Metadata.Google.Internal.", 80, timeout=1)


def test_the_socket_connects_to_the_address_that_passed(
    resolving_to: dict[str, list[str]],
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        # Private first (refused), then loopback, which this worker allows.
        resolving_to["service.example"] = ["10.0.0.7", "127.0.0.1"]
        rules = AddressRules.allowing(["127.0.0.1"])
        with rules.connect("service.example", port, timeout=2) as client:
            assert client.getpeername() == ("127.0.0.1", port)


def test_the_worker_refuses_allowances_and_secrets_it_cannot_honour() -> None:
    from click.testing import CliRunner

    from pgsched.cli import cli

    for flags, message in (
        (["--http-allow", "169.254.0.0/16"], "always refused"),
        (["--http-allow", "metadata.google.internal"], "cloud metadata service"),
        (["--http-secret", "API_TOKEN"], "is not NAME=HOST"),
        (["--http-secret", "PGSCHED_DATABASE_URL=example.com"], "pgsched's own setting"),
    ):
        result = CliRunner().invoke(cli, ["worker", *flags])
        assert result.exit_code == 2 and message in result.output, (flags, result.output)
