"""``pgsched tokens ...``: the API tokens of ``pgsched web``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from pgsched.catalog.sessions import Access, open_session
from pgsched.catalog.tokens import ROLES, Role, create_token, list_tokens, revoke_token
from pgsched.commands.options import database_options, json_option
from pgsched.commands.output import print_rows
from pgsched.config import Settings
from pgsched.scheduling.schedule import duration_seconds

LIST_COLUMNS = ("name", "role", "prefix", "state", "created_at", "expires_at", "last_used_at")


def parse_expiry(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--expires``: a duration from now (``90d``, ``12h``) or an ISO 8601 date or time."""
    if value is None:
        return None
    seconds = duration_seconds(value.strip().lower())
    if seconds is not None:
        if seconds <= 0:
            raise click.BadParameter("a token must live for some time, e.g. 90d")
        return datetime.now(UTC) + timedelta(seconds=seconds)
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (12h, 90d) nor a date or time (2027-01-31)"
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if at <= datetime.now(UTC):
        raise click.BadParameter(f"{value!r} has passed already")
    return at


@click.group("tokens")
def tokens_group() -> None:
    """Create, list and revoke the API tokens of `pgsched web`."""


@tokens_group.command("create")
@database_options
@click.option("--name", required=True, help="Who or what uses it; the audit trail shows it.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What it may do.")
@click.option(
    "--expires",
    callback=parse_expiry,
    metavar="WHEN",
    help="When it stops working: 90d, 12h from now, or a date/time (UTC unless given).",
)
def create(settings: Settings, name: str, role: Role, expires: datetime | None) -> None:
    """Create a token and print it once: only its digest is stored.

    A reader token reads everything the dashboard shows; an admin token also
    registers, changes, pauses and runs jobs. Send it as `Authorization: Bearer
    TOKEN`, or paste it into the dashboard's sign-in page.

    \b
    Example:
      pgsched tokens create --name ci-deploy --role admin --expires 90d
    """
    with open_session(settings, Access.WRITE) as connection:
        created = create_token(connection, name, role, expires)
    click.echo(created.token)
    until = f", valid until {created.expires_at.isoformat()}" if created.expires_at else ""
    click.echo(f"{created.role} token {created.name!r}{until}; it is not shown again", err=True)


@tokens_group.command("list")
@database_options
@click.option("--all", "include_revoked", is_flag=True, help="Also revoked tokens.")
@json_option
def list_command(settings: Settings, include_revoked: bool, as_json: bool) -> None:
    """List tokens: name, role, first characters, state and when each was last used.

    \b
    Example:
      pgsched tokens list --all
    """
    with open_session(settings, Access.READ) as connection:
        rows = list_tokens(connection, include_revoked)
    print_rows(rows, as_json, columns=LIST_COLUMNS, empty="(no tokens)")


@tokens_group.command("revoke")
@database_options
@click.argument("name")
def revoke(settings: Settings, name: str) -> None:
    """Revoke a token: the web server refuses it within seconds, sessions included.

    \b
    Example:
      pgsched tokens revoke ci-deploy
    """
    with open_session(settings, Access.WRITE) as connection:
        revoke_token(connection, name)
    click.echo(f"revoked token {name!r}")


COMMANDS: list[click.Command] = [tokens_group]
