"""The demo's reads and writes, one function per block of ``sql/queries/demo.sql``."""

from __future__ import annotations

import secrets
import socket
from datetime import datetime
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from pgsched.db.queries import query
from pgsched.demo.catalog import JOB_NAMES, QUEUE, SQL_LOGIN, WORKER_NAME_PREFIX, DemoJob

Connection = psycopg.Connection[DictRow]
# How many of the latest runs the live table shows.
LATEST_RUNS = 12


def upsert_jobs(connection: Connection, jobs: tuple[DemoJob, ...]) -> None:
    """Register the demo's jobs, or bring them back to their definition and enable them."""
    with connection.transaction(), connection.cursor() as cursor:
        cursor.executemany(
            query("demo_upsert_job"),
            [
                {
                    "name": job.name,
                    "schedule": job.schedule,
                    "kind": job.kind,
                    "target": job.target,
                    "args": Jsonb(job.args),
                    "timeout_seconds": job.timeout_seconds,
                    "max_attempts": job.max_attempts,
                    "retry_delay_seconds": job.retry_delay_seconds,
                    "queue": QUEUE,
                    "description": job.description,
                }
                for job in jobs
            ],
        )


def sql_login(connection: Connection, database_url: str) -> str:
    """Create (or refresh) the login the demo's sql job runs on; a URL for it.

    ``psycopg.Error`` when this login may not create roles.
    """
    password = secrets.token_urlsafe(24)
    with connection.transaction():
        connection.execute(
            query("demo_sql_login_settings"), {"login": SQL_LOGIN, "password": password}
        )
        connection.execute(query("demo_sql_login"))
    return conninfo.make_conninfo(database_url, user=SQL_LOGIN, password=password)


def database_now(connection: Connection) -> datetime:
    """The database clock, which decides what is due."""
    return _one(connection, "demo_database_now")["now"]  # type: ignore[no-any-return]


def job_figures(connection: Connection, since: datetime) -> list[DictRow]:
    """Per demo job: runs since ``since`` by status, last status, next run."""
    return connection.execute(
        query("demo_job_figures"), {"names": list(JOB_NAMES), "since": since}
    ).fetchall()


def latest_runs(connection: Connection, since: datetime) -> list[DictRow]:
    """The demo's newest attempts since ``since``, newest first."""
    return connection.execute(
        query("demo_latest_runs"), {"names": list(JOB_NAMES), "since": since, "limit": LATEST_RUNS}
    ).fetchall()


def workers_alive(connection: Connection, pids: list[int]) -> list[str]:
    """Ids of the demo's workers that heartbeat within their lease."""
    rows = connection.execute(query("demo_workers_alive"), _workers(pids)).fetchall()
    return [row["id"] for row in rows]


def disable_jobs(connection: Connection) -> list[str]:
    """Disable the demo's jobs; the names of those that were enabled."""
    rows = connection.execute(query("demo_disable_jobs"), {"names": list(JOB_NAMES)}).fetchall()
    return [row["name"] for row in rows]


def recover_killed_workers(connection: Connection, pids: list[int]) -> int:
    """Record killed workers stopped and their running attempts lost; how many were lost."""
    connection.execute(query("demo_mark_workers_stopped"), _workers(pids))
    return len(connection.execute(query("maintenance_reap_lost_runs")).fetchall())


def retire_orphan_runs(connection: Connection) -> int:
    """Record pending attempts of disabled jobs skipped (retries still waiting for a
    demo job now disabled, as any worker would on its next pass); how many."""
    return int(_one(connection, "retire_orphan_runs")["retire_orphan_runs"])


def running_runs(connection: Connection) -> int:
    """How many demo attempts are recorded as running."""
    return int(_one(connection, "demo_running_runs", {"names": list(JOB_NAMES)})["running"])


def delete_demo(connection: Connection) -> tuple[int, int, int]:
    """Delete the demo's jobs, their runs and its stopped workers; how many of each."""
    names = {"names": list(JOB_NAMES)}
    with connection.transaction():
        runs = connection.execute(query("demo_delete_runs"), names).rowcount
        jobs = connection.execute(query("delete_jobs"), names).rowcount
        workers = connection.execute(
            query("demo_delete_workers"), {"prefix": f"{WORKER_NAME_PREFIX}-"}
        ).rowcount
    return jobs, runs, workers


def _workers(pids: list[int]) -> dict[str, Any]:
    return {"host": socket.gethostname(), "pids": pids}


def _one(connection: Connection, name: str, params: dict[str, Any] | None = None) -> DictRow:
    row = connection.execute(query(name), params).fetchone()
    assert row is not None, f"{name} returns one row"
    return row
