"""What happened: ``pgsched runs``, ``stats``, ``timeline`` and ``workers``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import click

from pgsched.catalog import runs, workers
from pgsched.catalog.runs import MAX_DAYS, MAX_HOURS, Since
from pgsched.catalog.sessions import Access, open_session
from pgsched.commands.options import json_option, read_database_options
from pgsched.commands.output import print_record, print_rows
from pgsched.config import Settings
from pgsched.models import RunStatus

# Marks in the widest timeline bar; busier hours are drawn to scale.
BAR_WIDTH = 40


def since_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Since:
    """``--since`` read by ``pgsched.catalog.runs.parse_since``."""
    if value is None:
        return Since()
    try:
        return runs.parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# A group, so that `pgsched runs retry` lives beside the listing it acts on; without
# a subcommand it lists, as it always did.
@click.group("runs", invoke_without_command=True)
@click.pass_context
@read_database_options
@click.option("--job", metavar="NAME", help="Only this job's runs.")
@click.option(
    "--status", type=click.Choice([status.value for status in RunStatus]), help="Only this status."
)
@click.option(
    "--limit",
    "-n",
    default=runs.DEFAULT_RUNS_LIMIT,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Runs.",
)
@click.option(
    "--since",
    callback=since_option,
    metavar="WHEN",
    help="Only slots from then on: 90m, 2h, 7d back from now, or a date/time (UTC unless given).",
)
@json_option
def runs_command(
    ctx: click.Context,
    settings: Settings,
    job: str | None,
    status: str | None,
    limit: int,
    since: Since,
    as_json: bool,
) -> None:
    """List the latest runs (attempts), newest first, with the first line of any error.
    `pgsched runs retry` replays finished slots.

    \b
    Example:
      pgsched runs --job nightly-report --status failed --since 7d
    """
    if ctx.invoked_subcommand is not None:
        return
    with open_session(settings, Access.READ) as connection:
        rows = runs.list_runs(connection, job=job, status=status, limit=limit, since=since)
    print_rows(rows, as_json, empty="(no runs)")


@click.command("stats")
@read_database_options
@click.argument("job", required=False)
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    help=f"Window in days, with JOB. [default: {runs.DEFAULT_STATS_DAYS}]",
)
@json_option
def stats_command(settings: Settings, job: str | None, days: int | None, as_json: bool) -> None:
    """Success rates and durations: of one JOB (pgsched.job_stats), or of every job.

    Without JOB, one row per job with an outcome in the last 30 UTC days
    (pgsched.job_success_rates). Only outcomes count: succeeded is a success;
    failed, timed_out and lost are failures.

    \b
    Examples:
      pgsched stats
      pgsched stats nightly-report --days 7
    """
    if job is None and days is not None:
        raise click.UsageError("--days needs a JOB: the all-jobs figures cover 30 UTC days")
    with open_session(settings, Access.READ) as connection:
        if job is None:
            rates = runs.success_rates(connection)
        else:
            stats = runs.job_stats(connection, job, days or runs.DEFAULT_STATS_DAYS)
    if job is None:
        print_rows(rates, as_json, empty="(no job has runs with an outcome in 30 days)")
    else:
        print_record(stats, as_json)


@click.command("timeline")
@read_database_options
@click.argument("job")
@click.option(
    "--hours",
    default=runs.DEFAULT_TIMELINE_HOURS,
    show_default=True,
    type=click.IntRange(1, MAX_HOURS),
    help="How many hours back, the current hour included.",
)
@json_option
def timeline_command(settings: Settings, job: str, hours: int, as_json: bool) -> None:
    """One JOB hour by hour (pgsched.job_timeline), the current hour last.

    Runs count in the hour of their slot. In the bar, # is a success, x a failure
    and . an attempt without an outcome yet; busy hours are drawn to scale.

    \b
    Example:
      pgsched timeline nightly-report --hours 48
    """
    with open_session(settings, Access.READ) as connection:
        rows = runs.job_timeline(connection, job, hours)
    if as_json:
        print_rows(rows, as_json)
        return
    busiest = max((row["executions"] for row in rows), default=0)
    scale = max(1.0, busiest / BAR_WIDTH)
    print_rows([{**row, "bar": _bar(row, scale)} for row in rows], as_json)


def _bar(row: Mapping[str, Any], scale: float) -> str:
    """Marks for one hour; any count above zero gets at least one mark."""
    without_outcome = max(0, row["executions"] - row["successes"] - row["failures"])
    parts = (("#", row["successes"]), ("x", row["failures"]), (".", without_outcome))
    return "".join(mark * math.ceil(count / scale) for mark, count in parts)


@click.command("workers")
@read_database_options
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="Also dead and stopped workers (reads the tables: not for pgsched_reader).",
)
@json_option
def workers_command(settings: Settings, include_all: bool, as_json: bool) -> None:
    """Workers heartbeating within their lease (pgsched.workers_alive), with their load.

    running_runs is how many attempts a worker runs now; heartbeat_age_seconds how
    long since it last reported. With --all, dead workers (silent past their lease,
    not reaped yet: see `pgsched reap`) and stopped ones are listed too. Read on a
    replica (--read-database-url), liveness and ages are as of the primary's clock the
    replica's lag ago, and the lag is said.

    \b
    Example:
      pgsched workers --all
    """
    with open_session(settings, Access.READ) as connection:
        rows = workers.list_workers(connection, include_gone=include_all)
        lag = workers.replica_lag(connection)["lag_seconds"]
    columns = ["id", "host", "pid", "queues", "concurrency", "running_runs"]
    columns += ["heartbeat_age_seconds", "last_heartbeat_at", "started_at"]
    if include_all:
        columns[1:1] = ["state"]
    print_rows(rows, as_json, columns=columns, empty="(no live worker)")
    if lag and not as_json:
        click.echo(
            f"(read on a replica {lag:.1f} s behind its primary: liveness and heartbeat "
            "ages are as of the primary's clock that long ago)"
        )


COMMANDS: list[click.Command] = [runs_command, stats_command, timeline_command, workers_command]
