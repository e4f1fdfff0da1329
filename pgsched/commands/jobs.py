"""``pgsched jobs ...``: list, inspect, register, change, pause, start and remove jobs."""

from __future__ import annotations

import json
from functools import wraps
from typing import Any

import click

from pgsched.catalog import jobs, runs
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import F, database_options, json_option, read_database_options
from pgsched.commands.output import print_record, print_rows, say
from pgsched.config import Settings
from pgsched.db.schema import (
    JOB_DEFAULTS,
    JOB_KINDS,
    MAX_SHARDS,
    MISFIRE_POLICIES,
    OVERLAP_POLICIES,
)
from pgsched.errors import InvalidJob, PgschedError
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
    "shards",
    "category",
    "description",
    "warn_after_seconds",
)


def definition_options(command: F) -> F:
    """An option per settable job column, handed to the command as ``definition``:
    only those given, with ``--args`` parsed and ``''`` clearing a label."""
    defaults = JOB_DEFAULTS
    options = [
        click.option(
            "--timezone",
            metavar="ZONE",
            help=f"IANA zone the schedule is read in [{defaults.timezone}].",
        ),
        click.option("--args", "args_json", metavar="JSON", help="Arguments, a JSON object [{}]."),
        click.option(
            "--enabled/--disabled", default=None, help="Whether it fires [enabled when added]."
        ),
        click.option(
            "--timeout",
            "timeout_seconds",
            type=int,
            metavar="SECONDS",
            help=f"Per attempt [{defaults.timeout_seconds}].",
        ),
        click.option(
            "--max-attempts",
            type=int,
            help=f"Attempts per slot, the first included [{defaults.max_attempts}].",
        ),
        click.option(
            "--retry-delay",
            "retry_delay_seconds",
            type=int,
            metavar="SECONDS",
            help=f"Base of the backoff between attempts [{defaults.retry_delay_seconds}].",
        ),
        click.option(
            "--overlap",
            metavar="|".join(OVERLAP_POLICIES),
            help=f"A slot due while the job runs [{defaults.overlap}].",
        ),
        click.option(
            "--misfire",
            metavar="|".join(MISFIRE_POLICIES),
            help=f"Slots missed beyond the threshold [{defaults.misfire}].",
        ),
        click.option(
            "--misfire-threshold",
            "misfire_threshold_seconds",
            type=int,
            metavar="SECONDS",
            help=f"Lateness that still just runs late [{defaults.misfire_threshold_seconds}].",
        ),
        click.option("--queue", help=f"Queue workers take it from [{defaults.queue}]."),
        click.option(
            "--priority",
            type=int,
            help=f"Claim order within a queue, higher first [{defaults.priority}].",
        ),
        click.option(
            "--shards",
            type=int,
            metavar="N",
            help=f"Run each slot as N shards side by side, 1 to {MAX_SHARDS} [{defaults.shards}].",
        ),
        click.option(
            "--warn-after",
            "warn_after_seconds",
            type=int,
            metavar="SECONDS",
            help="Flag an attempt still running after this long (running_runs.over_warning, "
            "the worker's log and metrics); 0 clears it [none].",
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
        if definition.get("warn_after_seconds") == 0:
            definition["warn_after_seconds"] = None
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
    with open_session(settings, Access.READ) as connection:
        rows = jobs.list_jobs(connection, queue=queue, enabled=enabled)
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
    with open_session(settings, Access.READ) as connection:
        facts = jobs.job_facts(connection, name)
    print_record(facts, as_json)


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
    with open_session(settings, Access.WRITE) as connection:
        created = create_job(connection, job, if_not_exists=if_not_exists)
    say(f"added job {name!r}" if created else f"job {name!r} exists; left unchanged")


@jobs_group.command("edit")
@database_options
@click.argument("name")
@click.option("--name", "new_name", metavar="NEW_NAME", help="Rename the job.")
@click.option("--schedule", help="New schedule.")
@click.option("--kind", metavar="KIND", help=", ".join(JOB_KINDS) + ".")
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
    with open_session(settings, Access.WRITE) as connection:
        job, changed = change_job(connection, name, **changes)
    if not changed:
        say(f"job {name!r} unchanged")
        return
    say(f"updated job {job.name!r}: {', '.join(changed)}")
    if {"schedule", "timezone"} & set(changed):
        say("a worker computes its next_run from the new schedule")


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
    say(f"enabled job {name!r}")


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
    say(f"disabled job {name!r}")


def _toggle(settings: Settings, name: str, enabled: bool) -> None:
    with open_session(settings, Access.WRITE) as connection:
        jobs.set_enabled(connection, name, enabled)


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
    with open_session(settings, Access.WRITE) as connection:
        run_id = jobs.run_now(connection, name)
        say(str(run_id))
        if not wait:
            return
        outcome = runs.wait_for_slot(connection, run_id, wait_timeout)
    took = f" in {outcome['duration_ms']:.0f} ms" if outcome["duration_ms"] is not None else ""
    summary = f"run {outcome['id']} (attempt {outcome['attempt']}) {outcome['status']}{took}"
    if outcome["status"] != "succeeded":
        raise PgschedError(f"{summary}: {outcome['error'] or 'no error recorded'}")
    say(summary)


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
    with open_session(settings, Access.WRITE) as connection:
        if not yes:
            jobs.job_facts(connection, name)
            click.confirm(f"Remove job {name!r}? Its runs stay in history.", abort=True)
        removed = jobs.remove_job(connection, name, force=force)
    say(f"removed job {name!r}; its runs stay in pgsched.runs")
    running = ", ".join(map(str, removed.running_run_ids))
    if running:
        say(f"still running, to be recorded when they end: run {running}")
    if removed.pending_runs:
        pending = removed.pending_runs
        say(f"{pending} pending attempt(s) will be recorded skipped by the workers")


COMMANDS: list[click.Command] = [jobs_group]
