"""The ``pgsched`` command: parse, wire, print. No SQL and no business rules here."""

from __future__ import annotations

from typing import Any

import click

from pgsched.commands import (
    database,
    demo,
    history,
    job_history,
    jobs,
    maintenance,
    replay,
    schedule,
    sync,
    tokens,
    web,
    worker,
)
from pgsched.errors import PgschedError
from pgsched.text import printable


class PgschedGroup(click.Group):
    """Turns pgsched's own errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PgschedError as exc:
            # Errors quote what the database said, which may quote what a job author wrote.
            raise click.ClickException(printable(str(exc))) from exc


@click.group(cls=PgschedGroup)
@click.version_option(package_name="pgsched")
def cli() -> None:
    """pgsched: a cron scheduler whose jobs and runs live in PostgreSQL.

    \b
    Quick start on the embedded database:
      pgsched demo --seconds 20
      pgsched migrate
      pgsched jobs add hello '@every 10s' shell 'echo hello'
      pgsched worker --allow-shell
    """


for module in (database, worker, jobs, history, maintenance, sync, schedule, demo, tokens, web):
    for command in module.COMMANDS:
        cli.add_command(command)
# `jobs history` lives in a module of its own.
jobs.jobs_group.add_command(job_history.history)
# `runs retry` too: it writes, where `runs` only reads.
history.runs_command.add_command(replay.retry)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pgsched")
