"""``pgsched sync FILE``: make the jobs table hold what a jobs.toml declares."""

from __future__ import annotations

from pathlib import Path

import click

from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import database_options, json_option
from pgsched.commands.output import print_record, say
from pgsched.config import Settings
from pgsched.registration.registry import SyncReport, load_jobs_file, sync_jobs


@click.command("sync")
@database_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--prune",
    is_flag=True,
    help="Also delete every job the file does not declare, hand-made ones included.",
)
@click.option("--dry-run", is_flag=True, help="Check and report the changes; write nothing.")
@json_option
def sync(settings: Settings, file: Path, prune: bool, dry_run: bool, as_json: bool) -> None:
    """Create and update the jobs FILE declares (one [jobs.NAME] table each), in one
    transaction. Jobs that already match are not touched, so running it at every
    deploy is safe; a concurrent sync waits for this one.

    \b
    Example:
      pgsched sync jobs.toml --dry-run
      pgsched sync jobs.toml --prune
    """
    jobs = load_jobs_file(file)
    with open_session(settings, Access.WRITE) as connection:
        report = sync_jobs(connection, jobs, prune=prune, dry_run=dry_run)
    if as_json:
        print_record(report.as_dict(), as_json)
    else:
        print_report(report)


def print_report(report: SyncReport) -> None:
    """One line per job created, updated (with the fields that changed) or removed."""
    for name in report.created:
        say(f"created    {name}")
    for name, changed in report.updated.items():
        say(f"updated    {name} ({', '.join(changed)})")
    for name in report.removed:
        say(f"removed    {name}")
    say(f"unchanged  {len(report.unchanged)} job(s)")
    if report.dry_run:
        say("dry run: nothing was written")


COMMANDS: list[click.Command] = [sync]
