"""``pgsched demo``: see pgsched work in twenty seconds, on the embedded database or any."""

from __future__ import annotations

import sys

import click

from pgsched.catalog.sessions import Access, database_url, open_session
from pgsched.commands.options import database_options
from pgsched.commands.output import say
from pgsched.config import Settings
from pgsched.logging import configure_logging

DEFAULT_SECONDS = 30


@click.command("demo")
@database_options
@click.option(
    "--seconds",
    default=DEFAULT_SECONDS,
    show_default=True,
    type=click.IntRange(1),
    help="How long to run before stopping by itself.",
)
@click.option(
    "--cleanup",
    is_flag=True,
    help="Instead of running: delete the demo's jobs, their runs and its stopped workers.",
)
def demo(settings: Settings, seconds: int, cleanup: bool) -> None:
    """Run example jobs of every kind on two workers, with a live table of their runs.

    Migrates the database, registers six jobs named demo-* (python jobs that
    succeed, fail and retry, or time out; a shell command; an HTTP call to a
    tiny local server; an SQL statement) in a queue of their own, starts two
    `pgsched worker` processes and shows the latest runs and each job's figures
    once a second. After --seconds, or on Ctrl-C, it stops the workers, disables
    the demo jobs and prints a summary.

    \b
    Examples:
      pgsched demo --seconds 20
      pgsched demo --cleanup
    """
    # Imported here: the demo's machinery is of no use to the other commands.
    from pgsched.demo.session import delete_demo, run_demo

    configure_logging("warning")
    if cleanup:
        with open_session(settings, Access.WRITE) as connection:
            jobs, runs, workers = delete_demo(connection)
        say(f"removed {jobs} demo jobs, {runs} of their runs and {workers} demo workers")
        return
    status = run_demo(database_url(settings, Access.WRITE), seconds, sys.stdout)
    if status:
        raise SystemExit(status)


COMMANDS: list[click.Command] = [demo]
