"""The demo's reads and writes, one function per block of ``sql/queries/demo.sql``.

Everything here is scoped to the demo's own jobs (by name; they sit in a queue of
their own) and workers (this host, the demo's process ids), so the demo can share
a database with real jobs and never touch them. ``pgsched.demo`` says which.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from psycopg import conninfo
from psycopg.types.json import Jsonb

from pgsched.catalog.maintenance import reap_lost_runs
from pgsched.catalog.sessions import Connection, execute, fetch_all, fetch_single


class JobFigures(TypedDict):
    """Per demo job: its runs of this demo by status, and where it stands now."""

    job_name: str
    kind: str
    enabled: bool
    next_run: datetime | None
    last_run_status: str | None
    succeeded: int
    failed: int
    timed_out: int
    lost: int
    skipped: int
    retries: int
    database_now: datetime


class LatestRun(TypedDict):
    """One of the demo's newest attempts; a running one shows how long it has run."""

    id: int
    job_name: str
    kind: str
    scheduled_for: datetime
    attempt: int
    max_attempts: int
    trigger: str
    status: str
    duration_ms: float | None
    worker_id: str | None
    error: str | None


class _Now(TypedDict):
    now: datetime


class _WorkerId(TypedDict):
    id: str


class _JobName(TypedDict):
    name: str


class _Running(TypedDict):
    running: int


def upsert_jobs(connection: Connection, definitions: Sequence[Mapping[str, Any]]) -> None:
    """Register the demo's jobs, or bring them back to their definition and enable them.

    Each definition holds the parameters of ``demo_upsert_job``, ``args`` a dict.
    """
    with connection.transaction():
        for definition in definitions:
            execute(
                connection, "demo_upsert_job", {**definition, "args": Jsonb(definition["args"])}
            )


def sql_login(connection: Connection, login: str, database_url: str) -> str:
    """Create (or refresh) the login the demo's sql job runs on; a URL for it.

    ``psycopg.Error`` when this connection's login may not create roles.
    """
    password = secrets.token_urlsafe(24)
    with connection.transaction():
        execute(connection, "demo_sql_login_settings", {"login": login, "password": password})
        execute(connection, "demo_sql_login")
    return conninfo.make_conninfo(database_url, user=login, password=password)


def database_now(connection: Connection) -> datetime:
    """The database clock, which decides what is due."""
    return fetch_single(connection, "demo_database_now", row=_Now)["now"]


def job_figures(connection: Connection, names: Sequence[str], since: datetime) -> list[JobFigures]:
    """Per job of ``names``: runs since ``since`` by status, last status, next run."""
    params = {"names": list(names), "since": since}
    return fetch_all(connection, "demo_job_figures", params, row=JobFigures)


def latest_runs(
    connection: Connection, names: Sequence[str], since: datetime, limit: int
) -> list[LatestRun]:
    """The newest ``limit`` attempts of ``names`` since ``since``, newest first."""
    params = {"names": list(names), "since": since, "limit": limit}
    return fetch_all(connection, "demo_latest_runs", params, row=LatestRun)


def workers_alive(connection: Connection, pids: Sequence[int]) -> list[str]:
    """Ids of this host's workers of process ids ``pids`` that heartbeat within their lease."""
    rows = fetch_all(connection, "demo_workers_alive", _workers(pids), row=_WorkerId)
    return [row["id"] for row in rows]


def disable_jobs(connection: Connection, names: Sequence[str]) -> list[str]:
    """Disable the jobs ``names``; the names of those that were enabled."""
    rows = fetch_all(connection, "demo_disable_jobs", {"names": list(names)}, row=_JobName)
    return [row["name"] for row in rows]


def recover_killed_workers(connection: Connection, pids: Sequence[int]) -> int:
    """Record this host's killed workers ``pids`` stopped and their running attempts
    lost; how many were lost."""
    execute(connection, "demo_mark_workers_stopped", _workers(pids))
    return len(reap_lost_runs(connection))


def running_runs(connection: Connection, names: Sequence[str]) -> int:
    """How many attempts of the jobs ``names`` are recorded as running."""
    params = {"names": list(names)}
    return fetch_single(connection, "demo_running_runs", params, row=_Running)["running"]


def delete_demo(
    connection: Connection, names: Sequence[str], worker_prefix: str
) -> tuple[int, int, int]:
    """Delete the jobs ``names``, their runs and the stopped workers whose ids start with
    ``worker_prefix``; how many of each."""
    params: dict[str, Any] = {"names": list(names)}
    with connection.transaction():
        runs = execute(connection, "demo_delete_runs", params)
        jobs = execute(connection, "delete_jobs", params)
        workers = execute(connection, "demo_delete_workers", {"prefix": worker_prefix})
    return jobs, runs, workers


def _workers(pids: Sequence[int]) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pids": list(pids)}
