"""SQL jobs as the executor runs them through a transaction pooler.

The executor is told the URL is pooled (``PoolMode.TRANSACTION``) while it is direct,
with a pool of one connection: every job then runs on the same server session, so
anything a job left in it would show in the next job. The real PgBouncer is in
``tests/acceptance/test_pgbouncer.py``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from pgsched.db.pooling import PoolMode
from pgsched.executors.sql import ENDED_TRANSACTION_MESSAGE, SQL_ROLE_POOLED_REFUSAL, SqlExecutor
from pgsched.models import Outcome, RunStatus
from tests.integration.test_sql_executor import active_sleeps, attempt, with_executor

Connection = psycopg.Connection[tuple[Any, ...]]

POOLED = PoolMode.TRANSACTION
# Everything DISCARD ALL would undo, as the next job on the connection sees it.
SESSION_STATE = """
SELECT current_setting('search_path') AS search_path,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('lock_timeout') AS lock_timeout,
       current_user = session_user AS own_role,
       (SELECT count(*) FROM pg_locks
         WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS advisory_locks,
       (SELECT count(*) FROM pg_prepared_statements WHERE from_sql) AS prepared,
       (SELECT count(*) FROM pg_listening_channels()) AS listening,
       (SELECT count(*) FROM pg_cursors WHERE is_holdable) AS cursors,
       to_regclass('pg_temp.left_behind') IS NULL AS no_temp_table
"""
CLEAN_SESSION = '"$user", public | 61s | 0 | True | 0 | 0 | 0 | 0 | True'


def run_all(database_url: str, targets: list[str], **options: Any) -> list[Outcome]:
    async def scenario(executor: SqlExecutor) -> list[Outcome]:
        return [await executor.execute(attempt(target)) for target in targets]

    return with_executor(database_url, scenario, pool_size=1, pool_mode=POOLED, **options)


def session_after(outcomes: list[Outcome]) -> str:
    last = outcomes[-1]
    assert last.status is RunStatus.SUCCEEDED, last.error
    assert last.output is not None
    return last.output.splitlines()[2]


@pytest.mark.parametrize(
    "target",
    [
        "SET search_path = public, pg_catalog",
        "SET lock_timeout = 1",
        "SET ROLE pgsched_reader",
        "SELECT pg_advisory_lock(42)",
        "CREATE TEMP TABLE left_behind (n int)",
        "PREPARE left_behind AS SELECT 1",
        "LISTEN left_behind",
        "DECLARE left_behind CURSOR WITH HOLD FOR SELECT 1",
        # A failed statement rolls back settings by itself, not session advisory locks.
        "SELECT pg_advisory_lock(43), 1 / n FROM generate_series(0, 0) AS n",
    ],
)
def test_a_job_leaves_nothing_in_the_session_for_the_next_client(
    database_url: str, target: str
) -> None:
    outcomes = run_all(database_url, [target, SESSION_STATE])
    assert session_after(outcomes) == CLEAN_SESSION


def test_a_job_is_one_statement_in_a_transaction_of_pgscheds(
    database_url: str, db: Connection
) -> None:
    db.execute("CREATE TABLE marks (n int)")
    two, vacuum, commit, failed, inserted = run_all(
        database_url,
        [
            "INSERT INTO marks VALUES (1); INSERT INTO marks VALUES (2)",
            "VACUUM marks",
            "COMMIT",
            "INSERT INTO marks SELECT 1 / 0",
            "INSERT INTO marks VALUES (3)",
        ],
    )
    for refused in (two, vacuum):
        assert refused.status is RunStatus.FAILED and not refused.retryable
        assert "NOTE: through a transaction pooler" in (refused.error or "")
    assert "--sql-database-url" in (vacuum.error or "")
    assert commit.status is RunStatus.FAILED and commit.error == ENDED_TRANSACTION_MESSAGE
    assert failed.status is RunStatus.FAILED and failed.retryable
    assert inserted.status is RunStatus.SUCCEEDED and inserted.output == "INSERT 0 1 (1 rows)"
    assert db.execute("SELECT array_agg(n) FROM marks").fetchone() == ([3],)


def test_the_timeout_backstop_is_local_to_the_jobs_transaction(database_url: str) -> None:
    async def scenario(executor: SqlExecutor) -> list[Outcome]:
        return [
            await executor.execute(attempt("SELECT pg_sleep(3)", timeout_seconds=1)),
            await executor.execute(attempt(SESSION_STATE)),
        ]

    # No asyncio timeout around the attempt: the server's statement_timeout stops it.
    stopped, after = with_executor(database_url, scenario, pool_size=1, pool_mode=POOLED)
    assert stopped.status is RunStatus.FAILED
    assert "statement timeout" in (stopped.error or "")
    assert session_after([after]) == CLEAN_SESSION


def test_cancellation_stops_the_statement_and_the_connection_stays_usable(
    database_url: str, db: Connection
) -> None:
    async def cancel_soon(executor: SqlExecutor) -> tuple[float, Outcome]:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(executor.execute(attempt("SELECT pg_sleep(30)")), 0.5)
        elapsed = time.monotonic() - started
        return elapsed, await executor.execute(attempt(SESSION_STATE))

    elapsed, after = with_executor(database_url, cancel_soon, pool_size=1, pool_mode=POOLED)
    assert elapsed < 2.0
    assert active_sleeps(db) == 0
    assert session_after([after]) == CLEAN_SESSION


def test_sql_role_is_refused_through_a_transaction_pooler(database_url: str) -> None:
    (outcome,) = run_all(database_url, ["SELECT 1"], role="pgsched_reader")
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert outcome.error == SQL_ROLE_POOLED_REFUSAL
