"""What happened: runs, a job's stats and timeline, success rates, a manual run's end.

Windows are over the slot (``scheduled_for``), as in the monitoring views. A job
named here may be one that was deleted: its runs stay under its name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict

from pgsched.catalog.sessions import Connection, fetch_all, fetch_one, fetch_single
from pgsched.errors import JobNotFound, PgschedError
from pgsched.models import RunStatus
from pgsched.scheduling.schedule import duration_seconds

# The longest windows the SQL functions accept, and their defaults (job_stats,
# job_timeline).
MAX_DAYS = 36_500
MAX_HOURS = 24 * 366
DEFAULT_STATS_DAYS = 30
DEFAULT_TIMELINE_HOURS = 24
DEFAULT_RUNS_LIMIT = 20
# Seconds in the largest relative ``since``: beyond it, give a date.
MAX_SINCE_SECONDS = 2**31 - 1
# How often a wait for a manual run looks at it; a manual run starts within about a second.
WAIT_POLL_SECONDS = 0.25
UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING)


class RunRow(TypedDict):
    """One attempt as run listings show it, with the first line of its error."""

    id: int
    job_name: str
    scheduled_for: datetime
    # Which of its job's shards (0 for a job without shards).
    shard: int
    attempt: int
    status: str
    trigger: str
    worker_id: str | None
    started_at: datetime | None
    duration_ms: float | None
    error: str | None


class JobStats(TypedDict):
    """``pgsched.job_stats`` of one job over a number of days."""

    job_name: str
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: Decimal | None
    avg_duration_ms: float | None
    min_duration_ms: float | None
    max_duration_ms: float | None
    p95_duration_ms: float | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None


class SuccessRate(TypedDict):
    """A row of ``pgsched.job_success_rates`` (30 UTC days)."""

    job_name: str
    successful_runs: int
    failed_runs: int
    total_runs: int
    success_rate_percentage: Decimal | None
    avg_duration_ms: float | None
    last_run_at: datetime | None


class TimelineHour(TypedDict):
    """One hour of ``pgsched.job_timeline``."""

    time_bucket: datetime
    executions: int
    successes: int
    failures: int
    avg_duration_ms: float | None


class SlotOutcome(TypedDict):
    """The latest attempt of a run's slot: what decides how the slot ended."""

    id: int
    attempt: int
    status: str
    duration_ms: float | None
    error: str | None


class _Known(TypedDict):
    known: bool | None


@dataclass(frozen=True)
class Since:
    """A lower bound on runs' slots: an instant, or seconds back from the database clock."""

    at: datetime | None = None
    seconds: int | None = None


def parse_since(text: str) -> Since:
    """``90m``, ``2h``, ``7d``, ``1h30m`` back from now, or an ISO 8601 time (UTC unless
    it names an offset); ``ValueError`` saying what is accepted otherwise."""
    seconds = duration_seconds(text.strip().lower())
    if seconds is not None:
        if seconds > MAX_SINCE_SECONDS:
            raise ValueError(f"{text!r} reaches too far back; give a date instead")
        return Since(seconds=seconds)
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90m, 2h, 7d) nor a date or time "
            "(2026-03-01, 2026-03-01T09:00+01:00)"
        ) from None
    # A time without an offset is read as UTC, so the answer does not depend on
    # this host's zone.
    return Since(at=at if at.tzinfo else at.replace(tzinfo=UTC))


def require_job(connection: Connection, job: str) -> None:
    """Raise ``JobNotFound`` unless ``job`` names a job, or a deleted job's runs."""
    found = fetch_one(connection, "history_job_known", {"job": job}, row=_Known)
    if not (found and found["known"]):
        raise JobNotFound(f"no job named {job!r}")


def list_runs(
    connection: Connection,
    *,
    job: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_RUNS_LIMIT,
    since: Since = Since(),
) -> list[RunRow]:
    """The latest attempts, newest first: of one job (followed through renames) and of
    one status when given, with slots from ``since`` on."""
    params = {
        "job": job,
        "status": status,
        "limit": limit,
        "since_at": since.at,
        "since_seconds": since.seconds,
    }
    if job is None:
        return fetch_all(connection, "history_runs", params, row=RunRow)
    require_job(connection, job)
    return fetch_all(connection, "history_job_runs", params, row=RunRow)


def job_stats(connection: Connection, job: str, days: int = DEFAULT_STATS_DAYS) -> JobStats:
    """Success rate and durations of ``job`` over ``days`` (``pgsched.job_stats``)."""
    require_job(connection, job)
    return fetch_single(connection, "history_job_stats", {"job": job, "days": days}, row=JobStats)


def success_rates(connection: Connection) -> list[SuccessRate]:
    """One row per job with an outcome in the last 30 UTC days, by name."""
    return fetch_all(connection, "history_success_rates", row=SuccessRate)


def job_timeline(
    connection: Connection, job: str, hours: int = DEFAULT_TIMELINE_HOURS
) -> list[TimelineHour]:
    """``job`` hour by hour over ``hours``, the current hour last."""
    require_job(connection, job)
    return fetch_all(
        connection, "history_job_timeline", {"job": job, "hours": hours}, row=TimelineHour
    )


def slot_outcome(connection: Connection, run_id: int) -> SlotOutcome | None:
    """The latest attempt of run ``run_id``'s slot (a retry decides how it ended); None
    when the run is gone."""
    return fetch_one(connection, "run_slot_outcome", {"run_id": run_id}, row=SlotOutcome)


def wait_for_slot(
    connection: Connection,
    run_id: int,
    timeout_seconds: float | None = None,
    poll_seconds: float = WAIT_POLL_SECONDS,
) -> SlotOutcome:
    """Follow run ``run_id``'s slot, retries included, until its latest attempt ends.

    Raises ``PgschedError`` when the run disappears (its job removed) or is still
    unfinished after ``timeout_seconds`` (None: no limit).
    """
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        outcome = slot_outcome(connection, run_id)
        if outcome is None:
            raise PgschedError(f"run {run_id} is gone (its job was removed meanwhile?)")
        if outcome["status"] not in UNFINISHED:
            return outcome
        if deadline is not None and time.monotonic() >= deadline:
            raise PgschedError(
                f"run {outcome['id']} is still {outcome['status']} after {timeout_seconds:g} s"
            )
        time.sleep(poll_seconds)
