"""How the web application is configured: one frozen ``WebSettings``."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from pgsched.catalog.tokens import Role

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NETWORKS: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
# A dashboard session lasts a working day; its token's validity is checked on every request.
SESSION_HOURS = 12
# How long the server trusts what it learnt about a token: revoking one takes
# effect within this time, and no request waits on a token lookup more often.
TOKEN_CACHE_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """Everything ``create_app`` needs.

    - ``database_url``: the login every request runs on; it must be a member of
      ``pgsched_reader`` and ``pgsched_admin``, and each request's transaction
      becomes one of them (``SET LOCAL ROLE``) as its token allows.
    - ``read_database_url``: where pages and GET requests read (a replica), if not there.
    - ``session_secret``: signs session cookies; several servers behind one address
      need the same one. Random per process when not given.
    - ``trusted_header``: a header set by a reverse proxy that authenticated the user
      (``X-Forwarded-User``), believed only from ``trusted_proxies``; its users get
      ``trusted_header_role``, or admin when named in ``trusted_header_admins``.
    - ``open_on_loopback``: while no token is active and no header is trusted,
      serve requests whose Host is a loopback name as a local admin. ``pgsched web``
      sets it when it listens on a loopback address only.
    """

    database_url: str
    read_database_url: str | None = None
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    trusted_header: str | None = None
    trusted_header_role: Role = "reader"
    trusted_header_admins: frozenset[str] = frozenset()
    trusted_proxies: tuple[IpNetwork, ...] = LOOPBACK_NETWORKS
    open_on_loopback: bool = False
    pool_size: int = 10
    statement_timeout_seconds: int = 30
    token_cache_seconds: float = TOKEN_CACHE_SECONDS
    session_hours: int = SESSION_HOURS


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (an address or name, maybe ``[::1]``) is this machine only."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
