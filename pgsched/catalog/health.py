"""``pgsched doctor``'s checks: is this pgsched installation healthy, check by check.

Each check ends OK, WARN or FAIL with one line saying what it found. FAIL means
jobs do not run as registered (or cannot be known to); WARN means something
deserves a look. The checks that read pgsched's views run only once the schema
is known to be current, and one failing check does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypedDict

import psycopg

from pgsched.catalog.sessions import (
    APPLICATION_NAME,
    Access,
    Connection,
    database_url,
    fetch_all,
    fetch_one,
    fetch_single,
)
from pgsched.config import Settings
from pgsched.db import migrations
from pgsched.db.connection import query_error, session
from pgsched.errors import PgschedError
from pgsched.text import counted

# Beyond this, times this host prints and times the database stores disagree
# visibly. Scheduling itself reads only the database clock.
CLOCK_SKEW_WARN_SECONDS = 5.0
# A worker stops an attempt at its timeout; still running a minute later, it is stuck.
TIMEOUT_GRACE_SECONDS = 60
# job_health's "failing": a success rate under 80 % over 30 UTC days.
FAILING_BELOW_PERCENT = 80
# The scheduler-lag window, and the p99 start lag that deserves a look.
LAG_WINDOW_MINUTES = 15
LAG_WARN_MS = 10_000.0
# A replica further behind than this shows old figures; past a worker's lease (30 s by
# default) its liveness is judged only through the lag.
REPLICA_LAG_WARN_SECONDS = 30.0
# Names listed in one check's line before "and N more".
MAX_NAMES_SHOWN = 5


class Level(StrEnum):
    """How a check ended."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    check: str
    status: Level
    detail: str


class _Server(TypedDict):
    server_version: str
    database_time: datetime


class _Workers(TypedDict):
    alive: int
    dead: int
    enabled_jobs: int


class _OverdueRun(TypedDict):
    id: int
    job_name: str
    worker_id: str | None
    running_duration_seconds: Decimal
    timeout_seconds: int | None
    worker_alive: bool


class _StoppedJob(TypedDict):
    job_name: str
    kind: str
    reason: str


class _FailingJob(TypedDict):
    job_name: str
    success_rate_percentage: Decimal


class _Replica(TypedDict):
    in_recovery: bool
    lag_seconds: float
    receiver_status: str | None


class _Lag(TypedDict):
    runs: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def local_time() -> datetime:
    """This host's clock, compared with the database's (replaced in tests)."""
    return datetime.now(UTC)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; an unreachable database is itself a FAIL. With a read URL
    configured, the replica it names is checked last."""
    checks = _database_checks(settings)
    if settings.read_database_url:
        checks.append(_replica(settings.read_database_url))
    return checks


def _database_checks(settings: Settings) -> list[Check]:
    try:
        # The database itself, even when reads go to a replica: that one is checked apart.
        url = database_url(settings, Access.WRITE)
        with session(url, APPLICATION_NAME) as connection:
            database, clock = _server(connection)
            schema = _schema(connection)
            checks = [database, schema, clock]
            if schema.status is not Level.OK:
                return checks  # the remaining checks read views this schema may lack
            for name, check in SCHEMA_CHECKS:
                with _guarded(name, checks):
                    checks.append(check(connection))
            return checks
    except PgschedError as exc:
        return [Check("database", Level.FAIL, str(exc))]


@contextmanager
def _guarded(name: str, checks: list[Check]) -> Iterator[None]:
    """Record a check that cannot run as a FAIL of its own, and go on with the next.

    A check this login may not make (a pgsched_reader login, say) is a WARN: nothing
    is known to be wrong, only not seen.
    """
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        detail = f"not checked: {query_error(exc)} (this login lacks the table rights)"
        checks.append(Check(name, Level.WARN, detail))
    except psycopg.Error as exc:
        checks.append(Check(name, Level.FAIL, str(query_error(exc))))


def _server(connection: Connection) -> tuple[Check, Check]:
    """The database check (reachable, its version) and the clock check."""
    before = local_time()
    row = fetch_single(connection, "doctor_server", row=_Server)
    after = local_time()
    database = Check("database", Level.OK, f"reachable, PostgreSQL {row['server_version']}")
    # The answer left the server about halfway through the round trip.
    skew = (row["database_time"] - (before + (after - before) / 2)).total_seconds()
    where = "ahead of" if skew >= 0 else "behind"
    detail = (
        f"the database clock is {abs(skew):.3f} s {where} this host's "
        "(pgsched schedules by the database clock alone)"
    )
    level = Level.WARN if abs(skew) > CLOCK_SKEW_WARN_SECONDS else Level.OK
    return database, Check("clock", level, detail)


def _schema(connection: Connection) -> Check:
    current = migrations.revision_on(connection)
    head = migrations.head_revision()
    if current == head:
        return Check("schema", Level.OK, f"at revision {head} (newest)")
    return Check(
        "schema",
        Level.FAIL,
        f"at revision {current or 'nothing'}, this pgsched needs {head}: run `pgsched migrate`",
    )


def _workers(connection: Connection) -> Check:
    row = fetch_single(connection, "doctor_workers", row=_Workers)
    alive, dead, enabled = row["alive"], row["dead"], row["enabled_jobs"]
    detail = f"{alive} alive"
    if dead:
        detail += (
            f"; {counted(dead, 'worker')} silent past the lease and not reaped: "
            "attempts still show as running (run `pgsched reap`)"
        )
        return Check("workers", Level.WARN, detail)
    if alive == 0 and enabled:
        jobs = counted(enabled, "enabled job")
        return Check("workers", Level.FAIL, f"none alive: {jobs} cannot run")
    if alive == 0:
        return Check("workers", Level.WARN, "none alive (no enabled job needs one yet)")
    return Check("workers", Level.OK, detail)


def _overdue_runs(connection: Connection) -> Check:
    rows = fetch_all(
        connection,
        "doctor_overdue_runs",
        {"grace_seconds": TIMEOUT_GRACE_SECONDS},
        row=_OverdueRun,
    )
    if not rows:
        return Check("running attempts", Level.OK, "none running past its timeout")
    runs = _names(f"run {row['id']} ({row['job_name']})" for row in rows)
    return Check(
        "running attempts",
        Level.WARN,
        f"{counted(len(rows), 'attempt')} over a minute past the timeout: {runs}",
    )


def _stopped_jobs(connection: Connection) -> Check:
    rows = fetch_all(connection, "doctor_stopped_jobs", row=_StoppedJob)
    if not rows:
        return Check("jobs", Level.OK, "no enabled job overdue, unscheduled or invalid")
    jobs = _names(f"{row['job_name']} ({row['kind']})" for row in rows)
    detail = f"{counted(len(rows), 'job')} not firing: {jobs}; see pgsched.missed_runs"
    return Check("jobs", Level.FAIL, detail)


def _failing_jobs(connection: Connection) -> Check:
    rows = fetch_all(
        connection,
        "doctor_failing_jobs",
        {"failing_below_percent": FAILING_BELOW_PERCENT},
        row=_FailingJob,
    )
    if not rows:
        return Check("success rates", Level.OK, f"no job under {FAILING_BELOW_PERCENT} %")
    jobs = _names(f"{row['job_name']} ({row['success_rate_percentage']} %)" for row in rows)
    return Check(
        "success rates",
        Level.WARN,
        f"{counted(len(rows), 'job')} under {FAILING_BELOW_PERCENT} % over 30 days: {jobs}",
    )


def _scheduler_lag(connection: Connection) -> Check:
    row = fetch_one(connection, "doctor_scheduler_lag", {"minutes": LAG_WINDOW_MINUTES}, row=_Lag)
    if row is None or not row["runs"] or row["p50_ms"] is None or row["p99_ms"] is None:
        return Check(
            "scheduler lag", Level.OK, f"no scheduled start in the last {LAG_WINDOW_MINUTES} min"
        )
    detail = (
        f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms "
        f"({counted(row['runs'], 'scheduled start')} in {LAG_WINDOW_MINUTES} min)"
    )
    level = Level.WARN if row["p99_ms"] > LAG_WARN_MS else Level.OK
    return Check("scheduler lag", level, detail)


def _replica(url: str) -> Check:
    """Whether reads (--read-database-url) can be served, and how far behind."""
    try:
        with session(url, APPLICATION_NAME) as connection:
            row = fetch_single(connection, "doctor_replica", row=_Replica)
    except PgschedError as exc:
        return Check("replica", Level.FAIL, f"read URL: {exc}")
    if not row["in_recovery"]:
        return Check("replica", Level.OK, "the read URL is a primary: reads are current")
    receiver = row["receiver_status"] or "not visible to this login"
    detail = f"{row['lag_seconds']:.1f} s behind its primary (WAL receiver: {receiver})"
    level = Level.WARN if row["lag_seconds"] > REPLICA_LAG_WARN_SECONDS else Level.OK
    return Check("replica", level, detail)


def _names(names: Iterable[str]) -> str:
    shown = list(names)
    text = ", ".join(shown[:MAX_NAMES_SHOWN])
    if len(shown) > MAX_NAMES_SHOWN:
        text += f" and {len(shown) - MAX_NAMES_SHOWN} more"
    return text


SCHEMA_CHECKS: list[tuple[str, Callable[[Connection], Check]]] = [
    ("workers", _workers),
    ("running attempts", _overdue_runs),
    ("jobs", _stopped_jobs),
    ("success rates", _failing_jobs),
    ("scheduler lag", _scheduler_lag),
]
