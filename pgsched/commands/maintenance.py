"""Keeping pgsched in shape: ``pgsched cleanup``, ``reap``, ``validate`` and ``doctor``."""

from __future__ import annotations

from dataclasses import asdict

import click

from pgsched.catalog import health, maintenance
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import database_options, json_option, read_database_options
from pgsched.commands.output import print_record, print_rows, say
from pgsched.config import Settings
from pgsched.registration.validation import Problem, validate_jobs
from pgsched.text import counted

# How long validate waits for one python target's module to import.
DEFAULT_IMPORT_TIMEOUT_SECONDS = 10.0


@click.command("cleanup")
@database_options
@click.option(
    "--older-than-days",
    required=True,
    type=click.IntRange(0, 36_500),
    metavar="N",
    help="Remove runs that finished, and workers that stopped, more than N days ago.",
)
@json_option
def cleanup_command(settings: Settings, older_than_days: int, as_json: bool) -> None:
    """Delete old runs and stopped workers' rows, and print how many went.

    Calls pgsched.cleanup_runs and pgsched.cleanup_workers. Pending and running
    attempts are never removed, however old, nor workers that have not stopped. Workers never
    wait on it, so it can run at any time, e.g. daily from cron or as a pgsched job.

    \b
    Example:
      pgsched cleanup --older-than-days 90
    """
    with open_session(settings, Access.WRITE) as connection:
        removed = maintenance.cleanup(connection, older_than_days)
    if as_json:
        print_record({"older_than_days": older_than_days, **asdict(removed)}, as_json)
    else:
        runs = counted(removed.removed_runs, "run")
        workers = counted(removed.removed_workers, "worker")
        say(f"removed {runs} finished and {workers} stopped more than {older_than_days} days ago")


@click.command("reap")
@database_options
@json_option
def reap_command(settings: Settings, as_json: bool) -> None:
    """Recover now what workers recover every few seconds: lost runs and orphans.

    A worker silent for longer than its lease is recorded as stopped; its running
    attempts become `lost`, with a retry queued where the job has attempts left.
    Pending attempts of deleted or disabled jobs, which can never start, are
    recorded as `skipped`. Safe to run beside live workers.

    \b
    Example:
      pgsched reap --json
    """
    with open_session(settings, Access.WRITE) as connection:
        reaped = maintenance.reap(connection)
    lost, retries, retired = reaped.lost_runs, reaped.retries_queued, reaped.orphan_runs_retired
    if as_json:
        summary = {"lost_runs": lost, "retries_queued": retries, "orphan_runs_retired": retired}
        print_record(summary, as_json)
        return
    if lost:
        print_rows(lost, as_json)
    say(f"runs of dead workers recorded as lost: {len(lost)} ({retries} retried)")
    say(f"pending runs of deleted or disabled jobs recorded as skipped: {retired}")


@click.command("validate")
@database_options
@click.option(
    "--allow-python",
    multiple=True,
    metavar="PREFIX",
    help="Check python targets against a worker's prefixes (repeatable); others are not imported.",
)
@click.option(
    "--import-timeout",
    default=DEFAULT_IMPORT_TIMEOUT_SECONDS,
    show_default=True,
    type=click.FloatRange(0.1),
    metavar="SECONDS",
    help="Longest wait for one python target's module to import.",
)
@json_option
def validate_command(
    settings: Settings, allow_python: tuple[str, ...], import_timeout: float, as_json: bool
) -> None:
    """Check every job before it is due; exit 1 when any has a problem.

    Checks that the schedule parses and fires, the time zone exists, the target
    fits its kind (python: imports and is callable, with its args; shell: splits
    into a command line; http: an http(s) URL), the args fit the kind, and that no
    worker marked the job invalid (last_error).

    With --allow-python, python targets under those prefixes are imported, each in
    a child process stopped after the import timeout, the way a worker resolves
    them: their import-time code runs. Run it where the workers' code is installed.
    Without it nothing is imported, as on a worker.

    \b
    Example:
      pgsched validate --allow-python myapp.
    """
    with open_session(settings, Access.READ) as connection:
        jobs = maintenance.jobs_to_validate(connection)
    problems = validate_jobs(jobs, allow_python, import_timeout)
    if not allow_python and any(job["kind"] == "python" for job in jobs):
        say(
            "note: python targets were not imported; pass --allow-python PREFIX "
            "(as the workers do, '*' for any) to check that they import",
            err=True,
        )
    if as_json:
        print_rows([asdict(problem) for problem in problems], as_json)
    else:
        _print_problems(len(jobs), problems)
    if problems:
        raise SystemExit(1)


def _print_problems(job_count: int, problems: list[Problem]) -> None:
    current = None
    for problem in problems:
        if problem.job != current:
            say(problem.job)
            current = problem.job
        say(f"  {problem.problem}")
    troubled = len({problem.job for problem in problems})
    if problems:
        found = counted(len(problems), "problem")
        say(f"{found} in {troubled} of {counted(job_count, 'job')}")
    else:
        say(f"all {counted(job_count, 'job')} look valid")


@click.command("doctor")
@read_database_options
@json_option
def doctor_command(settings: Settings, as_json: bool) -> None:
    """Check the installation: database, schema, clock, workers, stuck runs and jobs, lag.

    Each check ends OK, WARN or FAIL; the exit status is 1 when any ends FAIL.
    It runs on a database whose schema is not current, and says so.

    \b
    Example:
      pgsched doctor
    """
    checks = health.run_checks(settings)
    if as_json:
        print_rows([asdict(check) for check in checks], as_json)
    else:
        # Not a table: details are sentences, which a table cell would cut.
        width = max(len(check.check) for check in checks)
        for check in checks:
            say(f"{check.status:<4}  {check.check.ljust(width)}  {check.detail}")
    if any(check.status is health.Level.FAIL for check in checks):
        raise SystemExit(1)


COMMANDS: list[click.Command] = [cleanup_command, reap_command, validate_command, doctor_command]
