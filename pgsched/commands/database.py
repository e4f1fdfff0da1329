"""The database itself: ``pgsched migrate``, ``psql`` and ``db start|stop|status|url``."""

from __future__ import annotations

import json
import os

import click

from pgsched.catalog.sessions import Access, database_url
from pgsched.commands.options import F, database_options
from pgsched.config import Settings
from pgsched.db import embedded, migrations
from pgsched.db.connection import redact


@click.command("migrate")
@database_options
@click.option("--to", "target", default="head", show_default=True, help="Revision to upgrade to.")
@click.option("--downgrade-to", metavar="REV", help="Downgrade instead, e.g. to 'base'.")
def migrate(settings: Settings, target: str, downgrade_to: str | None) -> None:
    """Bring the pgsched schema to the newest version (idempotent).

    Safe to run from several containers at once: an advisory lock serialises them.

    \b
    Example:
      PGSCHED_DATABASE_URL=postgresql://postgres@db:5432/app pgsched migrate
    """
    url = database_url(settings, Access.WRITE)
    if downgrade_to:
        migrations.downgrade(url, downgrade_to)
    else:
        migrations.upgrade(url, target)
    revision = migrations.current_revision(url) or "base"
    click.echo(f"schema at revision {revision} ({redact(url)})")


@click.command("psql", context_settings={"ignore_unknown_options": True})
@database_options
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(settings: Settings, psql_args: tuple[str, ...]) -> None:
    """Open psql on pgsched's database (the embedded one when no URL is given).

    Uses the psql on PATH, else the one shipped with the embedded server.
    Arguments after the options go to psql.

    \b
    Example:
      pgsched psql -c "SELECT name, next_run FROM pgsched.jobs"
    """
    url = database_url(settings, Access.WRITE)
    program = embedded.client_program("psql")
    os.execv(program, [program, url, *psql_args])


@click.group("db")
def db() -> None:
    """Manage the embedded PostgreSQL server (used when no database URL is given)."""


def home_option(command: F) -> F:
    """``--home`` for the embedded server commands."""
    return click.option(
        "--home", metavar="DIR", help="Where the server keeps its data. Default: $PGSCHED_HOME."
    )(command)


@db.command("start")
@home_option
def db_start(home: str | None) -> None:
    """Start the embedded server (or find it running) and print its URL.

    \b
    Example:
      export PGSCHED_DATABASE_URL=$(pgsched db start)
    """
    click.echo(embedded.ensure_running(Settings.load(home=home).home))


@db.command("url")
@home_option
def db_url(home: str | None) -> None:
    """Print the embedded server's URL, starting it if needed.

    \b
    Example:
      psql "$(pgsched db url)" -c 'TABLE pgsched.jobs'
    """
    click.echo(embedded.ensure_running(Settings.load(home=home).home))


@db.command("stop")
@home_option
def db_stop(home: str | None) -> None:
    """Stop the embedded server.

    \b
    Example:
      pgsched db stop
    """
    if embedded.stop(Settings.load(home=home).home):
        click.echo("embedded database stopped")
    else:
        click.echo("embedded database was not running")


@db.command("status")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def db_status(home: str | None, as_json: bool) -> None:
    """Say whether the embedded server runs, where, and its URL; exit 3 when it is stopped.

    \b
    Example:
      pgsched db status --json
    """
    state = embedded.status(Settings.load(home=home).home)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "data_dir": str(state.data_dir),
                    "initialised": state.initialised,
                    "running": state.running,
                    "pid": state.pid,
                    "url": state.url,
                }
            )
        )
    elif state.running:
        click.echo(f"running (pid {state.pid}) in {state.data_dir}\n{state.url}")
    else:
        created = "exists" if state.initialised else "not created yet"
        click.echo(f"stopped; data directory {state.data_dir} {created}")
    if not state.running:
        raise SystemExit(3)


COMMANDS: list[click.Command] = [migrate, psql, db]
