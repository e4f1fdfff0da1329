"""Workers through a real PgBouncer in transaction mode (Debian's pgbouncer).

Two workers reach the database only through PgBouncer (pool of ``POOL_SIZE`` server
connections), with the pooler detected, not declared: worker A also has a direct
``--listen-database-url``, worker B has none and polls. Every-second python and sql
jobs run on both; ``run_now`` goes to each; an ``overlap = replace`` job runs on B
alone, which must notice each replacement within a poll interval without NOTIFY;
B is SIGKILLed and replaced. Then the audit: every slot once (or recorded), nothing
left running or pending, no run of a job that cannot fail recorded failed, no error
in the logs, and the server connections within the documented bound.

A missing pgbouncer fails these tests (``.ci/run`` installs it); they never skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo
from psycopg.rows import dict_row

from bench.chaos.audit import Window, check_first_attempts, check_nothing_left
from bench.harness.pgbouncer import PgBouncer, ServerConnections
from pgsched.executors.sql import SQL_ROLE_POOLED_REFUSAL, SqlExecutor
from pgsched.models import RunStatus
from tests.acceptance.conftest import add_job, running_workers, scalar, wait_for
from tests.attempts import make_attempt

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]

POOL_SIZE = 5
POLL_SECONDS = 0.5  # the acceptance workers' --poll-interval
LEASE_SECONDS = 3
EVERY_SECOND_JOBS = 6
# Server connections of pgsched through PgBouncer: its pool, plus one direct LISTEN
# connection per worker given --listen-database-url.
CONNECTION_BOUND = POOL_SIZE + 1
# Stopping an attempt taken away: the check's query, then the python child's kill.
STOP_SLACK_SECONDS = 1.0
WORKER_OPTIONS = ("--allow-sql", "--sql-allow-superuser", "--grace-period", "5")
# Events that mean a query failed or an outcome went unrecorded.
FAILURE_EVENTS = (
    "claim_failed",
    "claim_crashed",
    "heartbeat_failed",
    "recovery_failed",
    "taken_away_check_failed",
    "outcome_batch_refused",
    "outcome_unrecordable",
    "outcomes_not_recorded_yet",
    "side_loop_crashed",
)


@pytest.fixture
def pgbouncer(server_url: str) -> Iterator[PgBouncer]:
    with PgBouncer(server_url, POOL_SIZE) as bouncer:
        yield bouncer


def through(bouncer: PgBouncer, database_url: str) -> str:
    return bouncer.url(str(conninfo.conninfo_to_dict(database_url)["dbname"]))


def events(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def run_now_latency(db: Connection, job: str) -> float:
    """Seconds from ``run_now`` to the attempt's start, both by the database clock."""
    run_id = scalar(db, "SELECT pgsched.run_now(%s)", [job])
    return float(
        wait_for(
            lambda: scalar(
                db,
                "SELECT extract(epoch FROM started_at - scheduled_for) FROM pgsched.runs"
                " WHERE id = %s AND started_at IS NOT NULL",
                [run_id],
            ),
            timeout=10,
            what=f"run_now of {job} to start",
        )
    )


def rows(db: Connection, sql: str) -> list[dict[str, Any]]:
    with db.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql).fetchall()


def test_workers_through_pgbouncer_keep_every_guarantee(
    pgbouncer: PgBouncer, database_url: str, db: Connection, tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks"
    ticks.mkdir()
    for n in range(EVERY_SECOND_JOBS):
        add_job(db, f"py-{n}", "tests.acceptance.jobs:noop")
        add_job(db, f"sql-{n}", "SELECT 1", kind="sql")
    add_job(
        db,
        "replaced",
        "tests.jobs_for_tests:tick_while_running",
        schedule="*/2 * * * * *",
        overlap="replace",
        queue="polled",
        args={"directory": str(ticks), "seconds": 3},
    )
    add_job(db, "manual-polled", "tests.acceptance.jobs:noop", "0 0 1 1 *", queue="polled")
    add_job(db, "manual-heard", "tests.acceptance.jobs:noop", "0 0 1 1 *", queue="heard")
    db_pid = db.info.backend_pid
    with (
        ServerConnections(database_url, skipped=[db_pid]) as connections,
        running_workers(through(pgbouncer, database_url), tmp_path) as workers,
    ):
        heard = workers.start(
            "--queues", "default,heard", "--listen-database-url", database_url,
            *WORKER_OPTIONS, lease_seconds=LEASE_SECONDS,
        )  # fmt: skip
        polled = workers.start(
            "--queues", "default,polled", *WORKER_OPTIONS, lease_seconds=LEASE_SECONDS
        )
        wait_for(
            lambda: scalar(db, "SELECT count(*) FROM pgsched.workers_alive") == 2,
            what="both workers",
        )
        window_start = scalar(db, "SELECT date_trunc('second', now()) + interval '2 seconds'")
        without_listener, with_listener = [], []
        for _ in range(4):
            without_listener.append(run_now_latency(db, "manual-polled"))
            with_listener.append(run_now_latency(db, "manual-heard"))
            time.sleep(0.3)
        killed_id = scalar(db, "SELECT id FROM pgsched.workers WHERE pid = %s", [polled.pid])
        os.killpg(polled.pid, signal.SIGKILL)
        polled.wait()
        successor = workers.start(
            "--queues", "default,polled", *WORKER_OPTIONS, lease_seconds=LEASE_SECONDS
        )
        wait_for(
            lambda: scalar(
                db, "SELECT count(*) FROM pgsched.workers WHERE pid = %s", [successor.pid]
            ),
            what="the successor to join",
        )
        time.sleep(8)
        window_end = scalar(db, "SELECT date_trunc('second', now()) - interval '2 seconds'")
        db.execute("UPDATE pgsched.jobs SET enabled = false")
        # Pending too: reaping the killed worker's last attempt queues its retry, which
        # a recovery round retires (its job is disabled) only after that; workers
        # stopped in between would leave it pending.
        wait_for(
            lambda: (
                scalar(
                    db, "SELECT count(*) FROM pgsched.runs WHERE status IN ('pending', 'running')"
                )
                == 0
            ),
            timeout=LEASE_SECONDS * 4,
            what="running and pending attempts to end",
        )
        codes = workers.stop_all()
    logs = workers.logs()
    assert codes[0] == 0 and codes[2] == 0, logs[-3000:]
    assert heard.returncode == 0

    jobs = rows(db, "SELECT id, name, schedule, timezone FROM pgsched.jobs")
    runs = rows(db, "SELECT * FROM pgsched.runs")
    every_second = [job for job in jobs if job["name"].startswith(("py-", "sql-"))]
    slots = check_first_attempts(every_second, runs, Window(window_start, window_end))
    assert slots.ok, slots.violations
    assert slots.checked >= 2 * EVERY_SECOND_JOBS * 8
    left = check_nothing_left(runs, scalar(db, "SELECT now()"))
    assert left.ok, left.violations

    # Jobs that cannot fail: succeeded or skipped, or lost with the killed worker.
    wrong = [
        (run["job_name"], run["status"], run["error"])
        for run in runs
        if run["job_name"].startswith(("py-", "sql-", "manual-"))
        and run["status"] not in ("succeeded", "skipped")
        and not (run["status"] == "lost" and run["worker_id"] == killed_id)
    ]
    assert wrong == []

    replaced = [run for run in runs if run["job_name"] == "replaced"]
    cancelled = [run for run in replaced if run["status"] == RunStatus.CANCELLED.value]
    assert len(cancelled) >= 4, [(run["status"], run["error"]) for run in replaced]
    # A run cancelled before its code began (a python process still starting) left
    # no tick: nothing of it ran on.
    kept_running = {
        run["id"]: float((ticks / str(run["id"])).read_text()) - run["finished_at"].timestamp()
        for run in cancelled
        if (ticks / str(run["id"])).exists()
    }
    assert len(kept_running) >= 3, kept_running
    assert max(kept_running.values()) <= POLL_SECONDS + STOP_SLACK_SECONDS, kept_running

    assert max(without_listener) <= POLL_SECONDS + STOP_SLACK_SECONDS, without_listener
    # With a listener a run_now starts without waiting for a poll: typically, not
    # always, on a shared 2-core machine (a python process may be starting).
    assert statistics.median(with_listener) <= POLL_SECONDS / 2, with_listener
    assert max(with_listener) <= POLL_SECONDS + STOP_SLACK_SECONDS, with_listener

    logged = events(logs)
    failures = [e for e in logged if e["event"] in FAILURE_EVENTS or e["level"] == "error"]
    assert failures == []
    assert 'prepared statement "' not in logs  # PostgreSQL's "... does not exist"
    detected = [e for e in logged if e["event"] == "pooler_detected"]
    assert len(detected) == 3 and all(e["pool_mode"] == "transaction" for e in detected)
    connecting = [e for e in logged if e["event"] == "worker_connections"]
    assert sorted(e["listening"] for e in connecting) == [False, False, True]
    assert not any(e["prepared_statements"] for e in connecting)
    assert len([e for e in logged if e["event"] == "worker_poll_only"]) == 2

    assert 0 < connections.peak <= CONNECTION_BOUND, connections.peak
    print(
        f"\nthrough PgBouncer (pool {POOL_SIZE}): {slots.checked} slots audited; "
        f"server connections peak {connections.peak} (bound {CONNECTION_BOUND}, "
        f"{connections.samples} samples); run_now without a listener median "
        f"{statistics.median(without_listener) * 1000:.0f} ms max "
        f"{max(without_listener) * 1000:.0f} ms, with one median "
        f"{statistics.median(with_listener) * 1000:.0f} ms max "
        f"{max(with_listener) * 1000:.0f} ms; replaced attempts stopped "
        f"{max(kept_running.values()) * 1000:.0f} ms after cancellation at most "
        f"({len(cancelled)} cancelled)"
    )


def test_sql_role_through_pgbouncer_is_refused_with_a_clear_error(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    async def scenario() -> Any:
        executor = SqlExecutor(through(pgbouncer, database_url), 1, role="pgsched_reader")
        await executor.start()
        try:
            return await executor.execute(make_attempt("sql", "SELECT 1"))
        finally:
            await executor.close()

    outcome = asyncio.run(scenario())
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert outcome.error == SQL_ROLE_POOLED_REFUSAL
