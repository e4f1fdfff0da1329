"""What ``pgsched web`` reads: pages of jobs and runs, slots, the overview's figures.

Every function runs one named block of ``sql/queries/dashboard.sql`` (or one the
commands share) and returns a ``Fetched``: the rows, and the SQL a user can paste
into psql to get them (the dashboard's "Show SQL").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from pgsched.catalog.sessions import Connection, fetch_all, sql_for_psql
from pgsched.db.schema import RUN_STATUSES
from pgsched.errors import JobNotFound, PgschedError

Row = dict[str, Any]


# The words pgsched.job_health gives a job's success rate.
HEALTH_WORDS = ("healthy", "degraded", "failing", "idle")


class UnknownStatus(PgschedError, ValueError):
    """No run has that status."""


class RunNotFound(PgschedError, LookupError):
    """No run has that id."""


class UnknownHealth(PgschedError, ValueError):
    """pgsched.job_health has no such word."""


class _Name(TypedDict):
    name: str


class _Job(TypedDict):
    name: str
    schedule: str
    timezone: str
    enabled: bool
    next_run: datetime | None
    health: str
    success_rate_percentage: Any
    last_run_status: str | None


class _Slot(TypedDict):
    scheduled_for: datetime
    status: str
    attempts: int
    error: str | None


class _NamedSlot(_Slot):
    job_name: str


class _Fire(TypedDict):
    scheduled_for: datetime
    local_time: datetime
    dst_note: str | None


class _Stats(TypedDict):
    total_runs: int
    success_rate: Any


class _Hour(TypedDict):
    time_bucket: datetime
    successes: int
    failures: int


class _Run(TypedDict):
    id: int
    job_name: str
    scheduled_for: datetime
    status: str
    error: str | None


class _RunDetail(_Run):
    output: str | None


class _Missed(TypedDict):
    job_name: str
    kind: str
    reason: str | None


class _Running(TypedDict):
    id: int
    job_name: str
    running_duration_seconds: Any


class _Worker(TypedDict):
    id: str
    state: str


class _Summary(TypedDict):
    jobs: int
    running_runs: int
    success_rate_24h: Any
    live_workers: int


class _Bucket(TypedDict):
    bucket: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True)
class Fetched:
    """Rows of one named block, and the parameters they were read with."""

    block: str
    parameters: Mapping[str, Any]
    rows: list[Row] = field(default_factory=list)

    @property
    def sql(self) -> str:
        """The block with its parameters written in, ready for psql."""
        return sql_for_psql(self.block, dict(self.parameters))

    def one(self) -> Row:
        """The only row (blocks that always return one)."""
        assert len(self.rows) == 1, (self.block, len(self.rows))
        return self.rows[0]


@dataclass(frozen=True)
class RunPage(Fetched):
    """A page of runs and the id to ask for the next (older) page, None on the last."""

    next_cursor: int | None = None


@dataclass(frozen=True)
class JobFilter:
    """What the jobs page and ``GET /api/v1/jobs`` select by; None means any."""

    search: str | None = None
    queue: str | None = None
    kind: str | None = None
    category: str | None = None
    enabled: bool | None = None
    health: str | None = None

    def __post_init__(self) -> None:
        if self.health is not None and self.health not in HEALTH_WORDS:
            raise UnknownHealth(
                f"health must be one of {', '.join(HEALTH_WORDS)}, not {self.health!r}"
            )

    def parameters(self) -> dict[str, Any]:
        """The filter as the parameters of ``dashboard_job_names``."""
        return {
            "search": self.search,
            "queue": self.queue,
            "kind": self.kind,
            "category": self.category,
            "enabled": self.enabled,
            "health": self.health,
        }


def _fetched(block: str, parameters: Mapping[str, Any], rows: Sequence[Any]) -> Fetched:
    return Fetched(block, dict(parameters), [dict(row) for row in rows])


def job_names(
    connection: Connection, selection: JobFilter, after: str | None, limit: int
) -> Fetched:
    """Names of the jobs ``selection`` selects, after ``after`` in name order."""
    parameters = {**selection.parameters(), "after": after, "limit": limit}
    return _fetched(
        "dashboard_job_names",
        parameters,
        fetch_all(connection, "dashboard_job_names", parameters, row=_Name),
    )


def jobs(connection: Connection, names: Sequence[str]) -> Fetched:
    """Definitions and health of the named jobs, in name order."""
    return _fetched(
        "dashboard_jobs",
        {"names": list(names)},
        fetch_all(connection, "dashboard_jobs", {"names": list(names)}, row=_Job),
    )


def job(connection: Connection, name: str) -> Row:
    """One job's definition and health, or ``JobNotFound``."""
    rows = jobs(connection, [name]).rows
    if not rows:
        raise JobNotFound(f"no job named {name!r}")
    return rows[0]


def recent_slots(connection: Connection, names: Sequence[str], slots: int) -> Fetched:
    """The latest ``slots`` slots of each named job, newest first."""
    return _fetched(
        "dashboard_recent_slots",
        {"names": list(names), "slots": slots},
        fetch_all(
            connection,
            "dashboard_recent_slots",
            {"names": list(names), "slots": slots},
            row=_NamedSlot,
        ),
    )


def slot_strip(connection: Connection, name: str, slots: int) -> Fetched:
    """One job's latest slots as they ended, missed ones included, newest first."""
    return _fetched(
        "dashboard_slot_strip",
        {"job": name, "slots": slots},
        fetch_all(connection, "dashboard_slot_strip", {"job": name, "slots": slots}, row=_Slot),
    )


def preview(connection: Connection, name: str, count: int) -> Fetched:
    """The next ``count`` slots of a job, with DST notes."""
    return _fetched(
        "dashboard_preview",
        {"job": name, "count": count},
        fetch_all(connection, "dashboard_preview", {"job": name, "count": count}, row=_Fire),
    )


def job_stats(connection: Connection, name: str, days: int) -> Fetched:
    """One job's figures over ``days`` days (``pgsched.job_stats``)."""
    return _fetched(
        "history_job_stats",
        {"job": name, "days": days},
        fetch_all(connection, "history_job_stats", {"job": name, "days": days}, row=_Stats),
    )


def job_timeline(connection: Connection, name: str, hours: int) -> Fetched:
    """One job hour by hour (``pgsched.job_timeline``)."""
    return _fetched(
        "history_job_timeline",
        {"job": name, "hours": hours},
        fetch_all(connection, "history_job_timeline", {"job": name, "hours": hours}, row=_Hour),
    )


def runs(
    connection: Connection,
    *,
    job: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> RunPage:
    """A page of runs, newest first; ``before_id`` is the previous page's ``next_cursor``."""
    if status is not None and status not in RUN_STATUSES:
        raise UnknownStatus(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    parameters = {
        "job": job,
        "status": status,
        "since": since,
        "until": until,
        "before_id": before_id,
        "limit": limit,
    }
    # One row past the page says whether an older page exists, without a count.
    rows = fetch_all(connection, "dashboard_runs", {**parameters, "limit": limit + 1}, row=_Run)
    page = [dict(row) for row in rows[:limit]]
    return RunPage(
        "dashboard_runs",
        parameters,
        page,
        next_cursor=rows[limit - 1]["id"] if len(rows) > limit else None,
    )


def run(connection: Connection, run_id: int) -> Row:
    """One run with its output, or ``RunNotFound``."""
    rows = fetch_all(connection, "dashboard_run", {"run_id": run_id}, row=_RunDetail)
    if not rows:
        raise RunNotFound(f"no run {run_id}")
    return dict(rows[0])


def failed_runs(connection: Connection, job: str | None = None, limit: int = 100) -> Fetched:
    """The latest failures (``pgsched.failed_runs``), optionally of one job."""
    return _fetched(
        "dashboard_failed_runs",
        {"job": job, "limit": limit},
        fetch_all(connection, "dashboard_failed_runs", {"job": job, "limit": limit}, row=_Run),
    )


def missed_runs(connection: Connection, job: str | None = None, limit: int = 200) -> Fetched:
    """Slots that did not run and why (``pgsched.missed_runs``)."""
    return _fetched(
        "dashboard_missed_runs",
        {"job": job, "limit": limit},
        fetch_all(connection, "dashboard_missed_runs", {"job": job, "limit": limit}, row=_Missed),
    )


def running_runs(connection: Connection, limit: int = 100) -> Fetched:
    """Attempts running now, oldest first."""
    return _fetched(
        "dashboard_running_runs",
        {"limit": limit},
        fetch_all(connection, "dashboard_running_runs", {"limit": limit}, row=_Running),
    )


def workers(connection: Connection, include_stopped: bool) -> Fetched:
    """Live workers; with ``include_stopped``, dead and stopped ones too (admin only)."""
    if include_stopped:
        rows = fetch_all(connection, "history_workers_all", {}, row=_Worker)
        return _fetched("history_workers_all", {}, rows)
    rows = fetch_all(connection, "history_workers_alive", {}, row=_Worker)
    return _fetched("history_workers_alive", {}, rows)


def summary(connection: Connection) -> Fetched:
    """The overview's figures, one row."""
    return _fetched(
        "dashboard_summary", {}, fetch_all(connection, "dashboard_summary", {}, row=_Summary)
    )


def outcomes(connection: Connection, days: int) -> Fetched:
    """Cluster-wide outcomes per hour (one day) or per UTC day."""
    return _fetched(
        "dashboard_outcomes",
        {"days": days},
        fetch_all(connection, "dashboard_outcomes", {"days": days}, row=_Bucket),
    )
