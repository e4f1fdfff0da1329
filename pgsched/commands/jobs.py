"""``pgsched jobs ...``: list, inspect, register, change, pause, start and remove jobs."""

from __future__ import annotations

import json
import time
from functools import wraps
from typing import Any

import click
import psycopg
from psycopg.rows import DictRow

from pgsched.commands.connection import command_session
from pgsched.commands.options import F, database_options, json_option, read_database_options
from pgsched.commands.output import print_record, print_rows
from pgsched.config import Settings
from pgsched.db.queries import query
from pgsched.errors import InvalidJob, JobNotFound, PgschedError
from pgsched.registration.registry import Job, change_job, create_job

LIST_COLUMNS = (
    "name",
    "schedule",
    "timezone",
    "kind",
    "target",
    "enabled",
    "queue",
    "next_run",
    "last_status",
)
# How often `jobs run --wait` looks at the run; a manual run starts within about a second.
WAIT_POLL_SECONDS = 0.25
UNFINISHED = ("pending", "running")
# Options of definition_options named as Job fields; --args is parsed apart.
DEFINITION_OPTIONS = (
    "timezone",
    "enabled",
    "timeout_seconds",
    "max_attempts",
    "retry_delay_seconds",
    "overlap",
    "misfire",
    "misfire_threshold_seconds",
    "queue",
    "priority",
    "category",
    "description",
)


def definition_options(command: F) -> F:
    """An option per settable job column, handed to the command as ``definition``:
    only those given, with ``--args`` parsed and ``''`` clearing a label."""
    options = [
        click.option("--timezone", metavar="ZONE", help="IANA zone the schedule is read in [UTC]."),
        click.option("--args", "args_json", metavar="JSON", help="Arguments, a JSON object [{}]."),
        click.option(
            "--enabled/--disabled", default=None, help="Whether it fires [enabled when added]."
        ),
        click.option(
            "--timeout", "timeout_seconds", type=int, metavar="SECONDS", help="Per attempt [300]."
        ),
        click.option("--max-attempts", type=int, help="Attempts per slot, the first included [1]."),
        click.option(
            "--retry-delay",
            "retry_delay_seconds",
            type=int,
            metavar="SECONDS",
            help="Base of the backoff between attempts [5].",
        ),
        click.option(
            "--overlap",
            metavar="skip|allow|queue|replace",
            help="A slot due while the job runs [skip].",
        ),
        click.option(
            "--misfire",
            metavar="run_once|skip|run_all",
            help="Slots missed beyond the threshold [run_once].",
        ),
        click.option(
            "--misfire-threshold",
            "misfire_threshold_seconds",
            type=int,
            metavar="SECONDS",
            help="Lateness that still just runs late [60].",
        ),
        click.option("--queue", help="Queue workers take it from [default]."),
        click.option(
            "--priority",
            type=int,
            help="A number for routing and labels [0]; claims do not order by it yet.",
        ),
        click.option("--category", help="A label; '' clears it."),
        click.option("--description", help="Free text; '' clears it."),
    ]

    @wraps(command)
    def wrapper(*args: Any, args_json: str | None, **kwargs: Any) -> Any:
        definition = {name: kwargs.pop(name) for name in DEFINITION_OPTIONS}
        if args_json is not None:
            definition["args"] = parse_args_json(args_json)
        definition = {name: value for name, value in definition.items() if value is not None}
        for label in ("category", "description"):
            if definition.get(label) == "":
                definition[label] = None
        return command(*args, definition=definition, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def parse_args_json(text: str) -> dict[str, Any]:
    """``--args`` as a dict, or ``InvalidJob`` saying what is wrong with it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJob(f"--args is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidJob(f"--args must be a JSON object such as '{{\"key\": 1}}', not {text}")
    return value


@click.group("jobs")
def jobs_group() -> None:
    """List, inspect, add, change, pause, start and remove jobs."""


@jobs_group.command("list")
@read_database_options
@click.option("--queue", help="Only jobs of this queue.")
@click.option("--enabled/--disabled", default=None, help="Only enabled (or disabled) jobs.")
@json_option
def list_jobs(settings: Settings, queue: str | None, enabled: bool | None, as_json: bool) -> None:
    """List jobs with their next run and the status of their latest run (last 7 days).

    --json prints every column of each job.

    \b
    Example:
      pgsched jobs list --queue reports --enabled
    """
    with command_session(settings, read_only=True) as connection:
        rows = connection.execute(
            query("list_jobs"), {"queue": queue, "enabled": enabled}
        ).fetchall()
    print_rows(rows, as_json, columns=LIST_COLUMNS, empty="(no jobs)")


@jobs_group.command("show")
@read_database_options
@click.argument("name")
@json_option
def show(settings: Settings, name: str, as_json: bool) -> None:
    """Show every column of a job, its latest run, last success and failure
    (30 days), and how many attempts run now.

    \b
    Example:
      pgsched jobs show nightly-report --json
    """
    with command_session(settings, read_only=True) as connection:
        print_record(_job_facts(connection, name), as_json)


@jobs_group.command("add")
@database_options
@click.argument("name")
@click.argument("schedule")
@click.argument("kind", metavar="KIND")
@click.argument("target")
@definition_options
@click.option("--if-not-exists", is_flag=True, help="Succeed, changing nothing, if it exists.")
def add(
    settings: Settings,
    name: str,
    schedule: str,
    kind: str,
    target: str,
    definition: dict[str, Any],
    if_not_exists: bool,
) -> None:
    """Register a job. KIND is python, shell, http or sql; TARGET is
    module:function, a command line, a URL or an SQL statement.

    \b
    Example:
      pgsched jobs add nightly-report '0 3 * * *' python myapp.reports:nightly \\
          --timezone Europe/Berlin --args '{"recipients": ["ops@example.com"]}' \\
          --max-attempts 3
    """
    job = Job(name=name, schedule=schedule, kind=kind, target=target, **definition)
    with command_session(settings) as connection:
        created = create_job(connection, job, if_not_exists=if_not_exists)
    click.echo(f"added job {name!r}" if created else f"job {name!r} exists; left unchanged")


@jobs_group.command("edit")
@database_options
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW_NAME", help="Rename the job.")
@click.option("--schedule", help="New schedule.")
@click.option("--kind", metavar="KIND", help="python, shell, http or sql.")
@click.option("--target", help="New target.")
@definition_options
def edit(
    settings: Settings,
    name: str,
    new_name: str | None,
    schedule: str | None,
    kind: str | None,
    target: str | None,
    definition: dict[str, Any],
) -> None:
    """Change the given columns of a job; the others stay as they are.

    A new schedule or time zone is planned afresh from now by a worker: slots of
    the old schedule are not owed.

    \b
    Example:
      pgsched jobs edit nightly-report --schedule '30 2 * * *' --timeout 600
    """
    given = {"name": new_name, "schedule": schedule, "kind": kind, "target": target}
    changes = {key: value for key, value in given.items() if value is not None} | definition
    with command_session(settings) as connection:
        job, changed = change_job(connection, name, **changes)
    if not changed:
        click.echo(f"job {name!r} unchanged")
        return
    click.echo(f"updated job {job.name!r}: {', '.join(changed)}")
    if {"schedule", "timezone"} & set(changed):
        click.echo("a worker computes its next_run from the new schedule")


@jobs_group.command("enable")
@database_options
@click.argument("name")
def enable(settings: Settings, name: str) -> None:
    """Enable a job. It fires from its next slot on; slots passed while it was
    disabled are not owed.

    \b
    Example:
      pgsched jobs enable nightly-report
    """
    _toggle(settings, name, enabled=True)
    click.echo(f"enabled job {name!r}")


@jobs_group.command("disable")
@database_options
@click.argument("name")
def disable(settings: Settings, name: str) -> None:
    """Disable a job: it fires no more. An attempt running now runs to its end;
    scheduled attempts not yet started are recorded skipped (manual runs still run).

    \b
    Example:
      pgsched jobs disable nightly-report
    """
    _toggle(settings, name, enabled=False)
    click.echo(f"disabled job {name!r}")


def _toggle(settings: Settings, name: str, enabled: bool) -> None:
    with command_session(settings) as connection:
        row = connection.execute(query("toggle_job"), {"name": name, "enabled": enabled}).fetchone()
    if row is None or not row["found"]:
        raise JobNotFound(f"no job named {name!r}")


@jobs_group.command("run")
@database_options
@click.argument("name")
@click.option(
    "--wait", is_flag=True, help="Wait for the run to finish; exit 1 unless it succeeded."
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="With --wait: give up after this long (exit 1). Default: wait until it ends.",
)
def run(settings: Settings, name: str, wait: bool, wait_timeout: float | None) -> None:
    """Queue a manual run of a job now and print its run id; a worker starts it
    within about a second. With --wait, follow it (retries included) to its end.

    \b
    Example:
      pgsched jobs run nightly-report --wait
    """
    with command_session(settings) as connection:
        try:
            row = connection.execute(query("run_now"), {"name": name}).fetchone()
        except psycopg.errors.NoDataFound as exc:
            raise JobNotFound(f"no job named {name!r}") from exc
        assert row is not None
        run_id = int(row["run_id"])
        click.echo(run_id)
        if wait:
            _wait_for(connection, run_id, wait_timeout)


def _wait_for(
    connection: psycopg.Connection[DictRow], run_id: int, timeout_seconds: float | None
) -> None:
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        outcome = connection.execute(query("run_slot_outcome"), {"run_id": run_id}).fetchone()
        if outcome is None:
            raise PgschedError(f"run {run_id} is gone (its job was removed meanwhile?)")
        if outcome["status"] not in UNFINISHED:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise PgschedError(
                f"run {outcome['id']} is still {outcome['status']} after {timeout_seconds:g} s"
            )
        time.sleep(WAIT_POLL_SECONDS)
    took = f" in {outcome['duration_ms']:.0f} ms" if outcome["duration_ms"] is not None else ""
    summary = f"run {outcome['id']} (attempt {outcome['attempt']}) {outcome['status']}{took}"
    if outcome["status"] != "succeeded":
        raise PgschedError(f"{summary}: {outcome['error'] or 'no error recorded'}")
    click.echo(summary)


@jobs_group.command("remove")
@database_options
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--force", is_flag=True, help="Remove it even while an attempt runs (it runs to its end)."
)
def remove(settings: Settings, name: str, yes: bool, force: bool) -> None:
    """Delete a job. Its runs stay in pgsched.runs under its name.

    A job with an attempt running now is refused unless --force: the attempt then
    runs to its end and is recorded, but is not retried. Attempts still pending are
    recorded skipped by the next worker's recovery round.

    \b
    Example:
      pgsched jobs remove old-report --yes
    """
    with command_session(settings) as connection:
        if not yes:
            _job_facts(connection, name)
            click.confirm(f"Remove job {name!r}? Its runs stay in history.", abort=True)
        with connection.transaction():
            job = connection.execute(query("lock_job"), {"name": name}).fetchone()
            if job is None:
                raise JobNotFound(f"no job named {name!r}")
            active = connection.execute(
                query("active_runs_of_job"), {"job_id": job["id"]}
            ).fetchone()
            assert active is not None  # one row of two aggregates, always
            running = active["running_run_ids"]
            if running and not force:
                raise PgschedError(
                    f"job {name!r} is running now (run {', '.join(map(str, running))}); "
                    "wait for it, or remove it with --force: the attempt runs to its end "
                    "and is recorded, without retries"
                )
            connection.execute(query("delete_job"), {"id": job["id"]})
    click.echo(f"removed job {name!r}; its runs stay in pgsched.runs")
    if running:
        click.echo(
            f"still running, to be recorded when they end: run {', '.join(map(str, running))}"
        )
    if active["pending_runs"]:
        click.echo(
            f"{active['pending_runs']} pending attempt(s) will be recorded skipped by the workers"
        )


def _job_facts(connection: psycopg.Connection[DictRow], name: str) -> DictRow:
    row = connection.execute(query("show_job"), {"name": name}).fetchone()
    if row is None:
        raise JobNotFound(f"no job named {name!r}")
    return row


COMMANDS: list[click.Command] = [jobs_group]
