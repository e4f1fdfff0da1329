"""``pgsched web``: the dashboard and the HTTP API, served by uvicorn."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from pgsched.catalog.sessions import Access, open_session
from pgsched.catalog.tokens import ROLES, Role
from pgsched.commands.options import log_options, read_database_options
from pgsched.config import Settings
from pgsched.db.connection import resolve_database_url
from pgsched.errors import ConfigurationError

if TYPE_CHECKING:
    from pgsched.web.settings import WebSettings


def _networks(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(value, strict=False) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("web")
@read_database_options
@log_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--session-secret",
    envvar="PGSCHED_WEB_SESSION_SECRET",
    metavar="TEXT",
    help="Signs session cookies; give every server behind one address the same. "
    "Default: $PGSCHED_WEB_SESSION_SECRET, else random (sessions end with the process).",
)
@click.option(
    "--trusted-header",
    metavar="NAME",
    help="A header naming the user a reverse proxy authenticated, e.g. X-Forwarded-User.",
)
@click.option(
    "--trusted-header-role",
    type=click.Choice(ROLES),
    default="reader",
    show_default=True,
    help="Role of the users --trusted-header names.",
)
@click.option(
    "--trusted-header-admin",
    "trusted_header_admins",
    multiple=True,
    metavar="USER",
    help="A --trusted-header user who is admin (repeatable).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    callback=_networks,
    metavar="CIDR",
    help="Where --trusted-header is believed from (repeatable). Default: loopback.",
)
@click.option(
    "--pool-size",
    default=10,
    show_default=True,
    type=click.IntRange(1, 200),
    help="Database connections at most, per database URL.",
)
def web_command(
    settings: Settings,
    host: str,
    port: int,
    session_secret: str | None,
    trusted_header: str | None,
    trusted_header_role: Role,
    trusted_header_admins: tuple[str, ...],
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    pool_size: int,
) -> None:
    """Serve the dashboard and the HTTP API (needs the `web` extra).

    Listens on 127.0.0.1 unless told otherwise, and refuses any other address
    until authentication is set up: an API token (`pgsched tokens create`) or
    --trusted-header. The database login must be a member of pgsched_reader and
    pgsched_admin: each request runs as one of them, as its token allows.

    \b
    Examples:
      pgsched web
      pgsched tokens create --name ops --role admin
      pgsched web --host 0.0.0.0 --port 8080
    """
    try:
        import uvicorn

        from pgsched.web import WebSettings, create_app
        from pgsched.web.settings import LOOPBACK_NETWORKS, is_loopback_host
    except ImportError as exc:
        raise ConfigurationError(
            f"pgsched web needs the web extra ({exc.name} is missing): pip install 'pgsched[web]'"
        ) from exc
    loopback = is_loopback_host(host)
    web_settings = WebSettings(
        database_url=resolve_database_url(settings),
        # Pages and GET requests read there (--read-database-url, a replica), if set.
        read_database_url=settings.read_database_url,
        trusted_header=trusted_header,
        trusted_header_role=trusted_header_role,
        trusted_header_admins=frozenset(trusted_header_admins),
        trusted_proxies=trusted_proxies or LOOPBACK_NETWORKS,
        open_on_loopback=loopback,
        pool_size=pool_size,
    )
    if session_secret:
        web_settings = replace(web_settings, session_secret=session_secret.encode("utf-8"))
    if not loopback:
        _require_authentication(settings, web_settings, host)
    click.echo(f"pgsched web on http://{_url_host(host)}:{port}/ (API: /api/v1/docs)", err=True)
    # proxy_headers off: the application decides whom to believe about the client
    # (--trusted-proxy), and needs the real peer address to decide it.
    uvicorn.run(
        create_app(web_settings), host=host, port=port, log_config=None, proxy_headers=False
    )


def _require_authentication(settings: Settings, web_settings: WebSettings, host: str) -> None:
    from pgsched.catalog.tokens import tokens_active

    if web_settings.trusted_header:
        return
    with open_session(settings, Access.READ) as connection:
        if tokens_active(connection):
            return
    raise ConfigurationError(
        f"refusing to listen on {host}: no authentication is set up, so anyone who "
        "reaches the port could change jobs. Create a token first (pgsched tokens create "
        "--name NAME --role admin), or set --trusted-header behind a reverse proxy; "
        "or listen on 127.0.0.1"
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


COMMANDS: list[click.Command] = [web_command]
