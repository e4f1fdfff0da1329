"""What happened: ``pgsched runs``, ``stats``, ``timeline`` and ``workers``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import psycopg
from psycopg.rows import DictRow

from pgsched.commands.connection import command_session
from pgsched.commands.options import json_option, read_database_options
from pgsched.commands.output import print_record, print_rows
from pgsched.config import Settings
from pgsched.db.queries import query
from pgsched.errors import JobNotFound
from pgsched.models import RunStatus
from pgsched.scheduling.schedule import duration_seconds

# The longest windows the SQL functions accept.
MAX_DAYS = 36_500
MAX_HOURS = 24 * 366
# Marks in the widest timeline bar; busier hours are drawn to scale.
BAR_WIDTH = 40
# Seconds in the largest relative --since: beyond it, give a date.
MAX_SINCE_SECONDS = 2**31 - 1


@dataclass(frozen=True)
class Since:
    """A lower bound on runs' slots: an instant, or seconds back from the database clock."""

    at: datetime | None = None
    seconds: int | None = None


def parse_since(ctx: click.Context, param: click.Parameter, value: str | None) -> Since:
    """``--since``: ``90m``, ``2h``, ``7d``, ``1h30m`` back from now, or an ISO 8601 time."""
    if value is None:
        return Since()
    seconds = duration_seconds(value.strip().lower())
    if seconds is not None:
        if seconds > MAX_SINCE_SECONDS:
            raise click.BadParameter(f"{value!r} reaches too far back; give a date instead")
        return Since(seconds=seconds)
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (90m, 2h, 7d) nor a date or time "
            "(2026-03-01, 2026-03-01T09:00+01:00)"
        ) from None
    # A time without an offset is read as UTC, so the answer does not depend on
    # this host's zone.
    return Since(at=at if at.tzinfo else at.replace(tzinfo=UTC))


def require_job(connection: psycopg.Connection[DictRow], job: str) -> None:
    """Raise ``JobNotFound`` unless ``job`` names a job, or a deleted job's runs."""
    found = connection.execute(query("history_job_known"), {"job": job}).fetchone()
    if not (found and found["known"]):
        raise JobNotFound(f"no job named {job!r}")


@click.command("runs")
@read_database_options
@click.option("--job", metavar="NAME", help="Only this job's runs.")
@click.option(
    "--status", type=click.Choice([status.value for status in RunStatus]), help="Only this status."
)
@click.option(
    "--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 10_000), help="Runs."
)
@click.option(
    "--since",
    callback=parse_since,
    metavar="WHEN",
    help="Only slots from then on: 90m, 2h, 7d back from now, or a date/time (UTC unless given).",
)
@json_option
def runs_command(
    settings: Settings,
    job: str | None,
    status: str | None,
    limit: int,
    since: Since,
    as_json: bool,
) -> None:
    """List the latest runs (attempts), newest first, with the first line of any error.

    \b
    Example:
      pgsched runs --job nightly-report --status failed --since 7d
    """
    params = {
        "job": job,
        "status": status,
        "limit": limit,
        "since_at": since.at,
        "since_seconds": since.seconds,
    }
    with command_session(settings, read_only=True) as connection:
        if job is None:
            rows = connection.execute(query("history_runs"), params).fetchall()
        else:
            require_job(connection, job)
            rows = connection.execute(query("history_job_runs"), params).fetchall()
    print_rows(rows, as_json, empty="(no runs)")


@click.command("stats")
@read_database_options
@click.argument("job", required=False)
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    help="Window in days, with JOB. [default: 30]",
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
    with command_session(settings, read_only=True) as connection:
        if job is None:
            rows = connection.execute(query("history_success_rates")).fetchall()
            print_rows(rows, as_json, empty="(no job has runs with an outcome in 30 days)")
            return
        require_job(connection, job)
        row = connection.execute(
            query("history_job_stats"), {"job": job, "days": days or 30}
        ).fetchone()
    assert row is not None  # an aggregate: always one row
    print_record(row, as_json)


@click.command("timeline")
@read_database_options
@click.argument("job")
@click.option(
    "--hours",
    default=24,
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
    with command_session(settings, read_only=True) as connection:
        require_job(connection, job)
        rows = connection.execute(
            query("history_job_timeline"), {"job": job, "hours": hours}
        ).fetchall()
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
    with command_session(settings, read_only=True) as connection:
        rows = connection.execute(
            query("history_workers_all" if include_all else "history_workers_alive")
        ).fetchall()
        lag = connection.execute(query("history_replica_lag")).fetchone()
    columns = ["id", "host", "pid", "queues", "concurrency", "running_runs"]
    columns += ["heartbeat_age_seconds", "last_heartbeat_at", "started_at"]
    if include_all:
        columns[1:1] = ["state"]
    print_rows(rows, as_json, columns=columns, empty="(no live worker)")
    if lag and lag["lag_seconds"] and not as_json:
        click.echo(
            f"(read on a replica {lag['lag_seconds']:.1f} s behind its primary: liveness "
            "and heartbeat ages are as of the primary's clock that long ago)"
        )


COMMANDS: list[click.Command] = [runs_command, stats_command, timeline_command, workers_command]
