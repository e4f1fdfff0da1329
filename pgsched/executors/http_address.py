"""Which addresses an http job may reach: decided after DNS resolution, at connect time.

Whoever writes ``pgsched.jobs`` chooses the URL, so the URL is not what is checked:
the host is resolved when the connection is opened, every address it resolves to is
judged, and the socket connects to an address that passed, never to the name again.
A name that resolves differently a second later (DNS rebinding) or an odd spelling of
an address (``0x7f000001``, ``2130706433``, ``[::ffff:127.0.0.1]``) gains nothing.

- **Always refused**: link-local addresses (``169.254.0.0/16``, ``fe80::/10``), where
  cloud metadata services answer, and the metadata addresses and names themselves
  (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``, ``168.63.129.16``,
  ``metadata.google.internal``); unspecified, multicast, broadcast and reserved
  addresses. IPv4 addresses carried inside IPv6 (mapped, NAT64, 6to4) are judged as
  the IPv4 address they carry.
- **Refused unless the worker allows them** (``--http-allow CIDR|HOST``): loopback,
  private and other non-global ranges (``127.0.0.0/8``, ``10.0.0.0/8``,
  ``172.16.0.0/12``, ``192.168.0.0/16``, ``100.64.0.0/10``, ``fc00::/7``, ``::1``...).
  A CIDR (or a single address) allows the addresses in it; a host name allows
  whatever that name resolves to, within the first rule.
- **Allowed**: global addresses.

The http executor opens its connections through ``checked_connection``; anything else
that sends requests to addresses a job author (or any database user) chooses, such
as a webhook hook, must use it too, so one set of rules holds everywhere.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's host endpoint (WireServer)
    )
)
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
     "instance-data.ec2.internal"}
)  # fmt: skip
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64).
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class AddressRefused(OSError):
    """The http job's host resolves only to addresses this worker may not connect to."""


@dataclass(frozen=True)
class AddressRules:
    """What ``--http-allow`` opened beyond the global internet: networks and host names."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> AddressRules:
        """Rules from ``--http-allow`` values: CIDRs, addresses, host names.

        ``ValueError`` says why an entry cannot be used, e.g. one that would open
        link-local addresses, which no flag opens.
        """
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in entries:
            text = entry.strip()
            network = _network(text)
            if network is None:
                if not _is_host_name(text):
                    raise ValueError(f"{entry!r} is neither a CIDR, an address nor a host name")
                if _host_key(text) in METADATA_HOSTS:
                    raise ValueError(f"{entry!r} is a cloud metadata service, always refused")
                hosts.add(_host_key(text))
                continue
            if any(network.overlaps(link_local) for link_local in _same(LINK_LOCAL, network)):
                raise ValueError(
                    f"{entry!r} covers link-local addresses (cloud metadata services), "
                    "which are always refused"
                )
            networks.append(network)
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, address: Address) -> str | None:
        """Why a job may not connect to ``address`` (which ``host`` resolved to), or None."""
        address = _carried_ipv4(address) or address
        if address in METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address: always refused"
        if any(address in network for network in _same(LINK_LOCAL, address)):
            return f"{address} is link-local, where cloud metadata services answer: always refused"
        if (
            address.is_unspecified
            or address.is_multicast
            # ::1 lies in the reserved ::/8; it is loopback, judged below.
            or (address.is_reserved and not address.is_loopback)
            or address == ipaddress.IPv4Address("255.255.255.255")
        ):
            return f"{address} is not an address to connect to"
        if address.is_global or _host_key(host) in self.hosts:
            return None
        if any(address in network for network in _same(self.networks, address)):
            return None
        kind = "loopback" if address.is_loopback else "private"
        return (
            f"{address} is a {kind} address, refused unless the worker allows it "
            f"(--http-allow {address} or a CIDR holding it)"
        )

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP socket to ``host``: resolved now, connected to the first address allowed.

        ``AddressRefused`` when every address ``host`` resolves to is refused (its
        message names the first); other ``OSError`` when none could be reached.
        """
        if _host_key(host) in METADATA_HOSTS:
            raise AddressRefused(f"{host} is a cloud metadata service: always refused")
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        refused: str | None = None
        failure: OSError | None = None
        for family, kind, protocol, _, socket_address in candidates:
            address = ipaddress.ip_address(str(socket_address[0]).partition("%")[0])
            reason = self.refusal(host, address)
            if reason is not None:
                refused = refused or reason
                continue
            sock = socket.socket(family, kind, protocol)
            try:
                sock.settimeout(timeout)
                sock.connect(socket_address)
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            return sock
        if failure is not None:
            raise failure
        raise AddressRefused(refused or f"{host} resolves to no address")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, rules: AddressRules) -> None:
        super().__init__(host, port)
        self._rules = rules

    def connect(self) -> None:
        self.sock = _nodelay(self._rules.connect(self.host, self.port, self.timeout))


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, rules: AddressRules, tls: ssl.SSLContext) -> None:
        super().__init__(host, port, context=tls)
        self._rules = rules
        self._tls = tls

    def connect(self) -> None:
        sock = _nodelay(self._rules.connect(self.host, self.port, self.timeout))
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def checked_connection(
    scheme: str, host: str, port: int, rules: AddressRules, tls: ssl.SSLContext
) -> http.client.HTTPConnection:
    """An ``http.client`` connection that opens its socket through ``rules.connect``."""
    if scheme == "https":
        return _CheckedHTTPSConnection(host, port, rules, tls)
    return _CheckedHTTPConnection(host, port, rules)


def _nodelay(sock: socket.socket) -> socket.socket:
    # As http.client does: a request's headers and body leave without waiting.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _carried_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _same(networks: Iterable[Network], address: Address | Network) -> list[Network]:
    return [network for network in networks if network.version == address.version]


def _network(text: str) -> Network | None:
    """``text`` as a network (an address is a network of one), or None for a host name."""
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return None


def _host_key(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _is_host_name(text: str) -> bool:
    labels = _host_key(text).split(".")
    return bool(text) and all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    )
