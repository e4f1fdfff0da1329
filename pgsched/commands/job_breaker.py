"""``pgsched jobs reset-breaker NAME``: close a job's circuit breaker by hand."""

from __future__ import annotations

import click

from pgsched.catalog import jobs
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import database_options
from pgsched.commands.output import say
from pgsched.config import Settings


@click.command("reset-breaker")
@database_options
@click.argument("name")
def reset_breaker(settings: Settings, name: str) -> None:
    """Close a job's circuit breaker by hand: its next due slot runs as usual.
    Recorded in the job's history. (Enabling a job does not close it.)

    \b
    Example:
      pgsched jobs reset-breaker payments-sync
    """
    with open_session(settings, Access.WRITE) as connection:
        previous = jobs.reset_breaker(connection, name)
    if previous == "closed":
        say(f"the circuit breaker of job {name!r} was closed; nothing to reset")
        return
    say(f"closed the circuit breaker of job {name!r} (it was {previous.replace('_', '-')})")
