"""SQL jobs against a real server: results, errors, cancellation and session hygiene."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest

from pgsched.db.pooling import PoolMode
from pgsched.executors.sql import APPLICATION_NAME, OPEN_TRANSACTION_MESSAGE, SqlExecutor
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt

Result = TypeVar("Result")
Connection = psycopg.Connection[tuple[Any, ...]]


def attempt(sql: str, timeout_seconds: int = 60) -> Attempt:
    return make_attempt("sql", sql, timeout_seconds=timeout_seconds)


def with_executor(
    database_url: str,
    scenario: Callable[[SqlExecutor], Awaitable[Result]],
    pool_size: int = 2,
    role: str | None = None,
    allow_superuser: bool = True,
    pool_mode: PoolMode = PoolMode.AUTO,
) -> Result:
    # The test server's login is a superuser; tests of the role rules say so explicitly.
    async def main() -> Result:
        executor = SqlExecutor(database_url, pool_size, role, allow_superuser, pool_mode=pool_mode)
        await executor.start()
        try:
            return await scenario(executor)
        finally:
            await executor.close()

    return asyncio.run(main())


def run(database_url: str, sql: str, timeout_seconds: int = 60) -> Outcome:
    return with_executor(
        database_url, lambda executor: executor.execute(attempt(sql, timeout_seconds))
    )


def active_sleeps(db: Connection) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state = 'active'"
        " AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_success_reports_the_last_statements_status_and_rowcount(
    database_url: str, db: Connection
) -> None:
    db.execute("CREATE TABLE items (id int, name text)")
    outcome = run(database_url, "INSERT INTO items VALUES (1, 'a'), (2, NULL), (3, 'c')")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "INSERT 0 3 (3 rows)"
    row = db.execute("SELECT count(*) FROM items").fetchone()
    assert row == (3,)


def test_rows_returned_are_shown_up_to_twenty(database_url: str) -> None:
    outcome = run(database_url, "SELECT 1; SELECT n, NULL AS nothing FROM generate_series(1, 25) n")
    assert outcome.output is not None
    lines = outcome.output.splitlines()
    assert lines[:3] == ["SELECT 25 (25 rows)", "n | nothing", "1 | NULL"]
    assert lines[-2:] == ["20 | NULL", "... (5 more rows)"]


def test_runtime_error_fails_retryable_with_the_message(database_url: str) -> None:
    outcome = run(database_url, "SELECT 1 / 0")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == "division by zero"
    assert outcome.retryable


def test_error_detail_and_hint_are_kept(database_url: str, db: Connection) -> None:
    db.execute("CREATE TABLE uniques (id int PRIMARY KEY)")
    outcome = run(database_url, "INSERT INTO uniques VALUES (1), (1)")
    assert outcome.error == (
        'duplicate key value violates unique constraint "uniques_pkey"\n'
        "DETAIL: Key (id)=(1) already exists."
    )


def test_wrong_sql_is_not_retried(database_url: str) -> None:
    async def run_all(executor: SqlExecutor) -> list[Outcome]:
        wrong = ["SELEC 1", "SELECT * FROM no_such_table", "SELECT no_such_function()"]
        return [await executor.execute(attempt(sql)) for sql in wrong]

    for outcome in with_executor(database_url, run_all):
        assert outcome.status is RunStatus.FAILED
        assert not outcome.retryable


def test_cancellation_stops_the_statement_on_the_server(database_url: str, db: Connection) -> None:
    async def cancel_soon(executor: SqlExecutor) -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(executor.execute(attempt("SELECT pg_sleep(30)")), 0.5)
        return time.monotonic() - started

    assert with_executor(database_url, cancel_soon) < 2.0
    assert active_sleeps(db) == 0


def test_cancelled_statements_leave_no_effect(database_url: str, db: Connection) -> None:
    db.execute("CREATE TABLE marks (id int)")

    async def cancel_soon(executor: SqlExecutor) -> Outcome:
        target = "INSERT INTO marks VALUES (1); SELECT pg_sleep(30); INSERT INTO marks VALUES (2)"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(executor.execute(attempt(target)), 0.5)
        # The connection went back to the pool clean: the next job can use it.
        return await executor.execute(attempt("SELECT count(*) FROM marks"))

    after = with_executor(database_url, cancel_soon, pool_size=1)
    assert after.status is RunStatus.SUCCEEDED
    assert db.execute("SELECT count(*) FROM marks").fetchone() == (0,)


def test_open_transaction_is_rolled_back_and_fails(database_url: str, db: Connection) -> None:
    db.execute("CREATE TABLE pending (id int)")
    outcome = run(database_url, "BEGIN; INSERT INTO pending VALUES (1)")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == OPEN_TRANSACTION_MESSAGE
    assert db.execute("SELECT count(*) FROM pending").fetchone() == (0,)


def test_commands_refusing_transaction_blocks_run(database_url: str, db: Connection) -> None:
    db.execute("CREATE TABLE vacuumed (id int)")
    assert run(database_url, "VACUUM vacuumed").output == "VACUUM"


def test_the_longest_timeout_a_job_may_have_is_a_time_limit_too(database_url: str) -> None:
    # 2147483647 s is more milliseconds than statement_timeout takes: the server's
    # backstop is then its longest, not an error.
    outcome = run(database_url, "SELECT current_setting('statement_timeout')", 2**31 - 1)
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert (outcome.output or "").splitlines()[-1] == "2147483647ms"


def test_sessions_are_named_reset_between_jobs_and_time_limited(database_url: str) -> None:
    settings = ("application_name", "search_path", "statement_timeout")
    query = "SELECT " + ", ".join(f"current_setting('{name}')" for name in settings)

    async def two_jobs(executor: SqlExecutor) -> tuple[Outcome, Outcome]:
        first = await executor.execute(attempt("SET search_path = nowhere"))
        second = await executor.execute(attempt(query, timeout_seconds=60))
        return first, second

    first, second = with_executor(database_url, two_jobs, pool_size=1)
    assert first.status is RunStatus.SUCCEEDED
    assert second.output is not None
    # The server stops the statement one second after the worker should have.
    assert second.output.splitlines()[2] == f'{APPLICATION_NAME} | "$user", public | 61s'


@pytest.fixture
def job_login(db: Connection, database_url: str) -> Iterator[tuple[str, str]]:
    """A login of its own for sql jobs and a role it may SET, allowed to read one table:
    the login's URL and the role's name."""
    login = f"pgsched_sql_login_{secrets.token_hex(4)}"
    role = f"pgsched_sql_job_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {login} LOGIN")
    db.execute(f"CREATE ROLE {role} NOLOGIN")
    db.execute(f"GRANT {role} TO {login}")
    db.execute("CREATE TABLE readable (n int)")
    db.execute("CREATE TABLE secret (n int)")
    db.execute(f"GRANT SELECT ON readable TO {role}")
    yield psycopg.conninfo.make_conninfo(database_url, user=login), role
    db.execute(f"DROP OWNED BY {role}, {login}")
    db.execute(f"DROP ROLE {role}, {login}")


def test_sql_jobs_are_refused_as_a_superuser_unless_the_operator_allows_it(
    database_url: str,
) -> None:
    outcome = with_executor(
        database_url,
        lambda executor: executor.execute(attempt("SELECT 1")),
        allow_superuser=False,
    )
    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable
    assert outcome.error is not None
    assert "superuser" in outcome.error and "--sql-database-url" in outcome.error


def test_a_role_to_set_does_not_make_a_superuser_login_acceptable(
    database_url: str, job_login: tuple[str, str]
) -> None:
    _, role = job_login
    outcome = with_executor(
        database_url,
        lambda executor: executor.execute(attempt("RESET ROLE; SELECT 1")),
        role=role,
        allow_superuser=False,
    )
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert "RESET ROLE" in (outcome.error or "")


def test_sql_jobs_are_refused_while_disabled_on_the_worker(database_url: str) -> None:
    async def scenario() -> Outcome:
        executor = SqlExecutor(database_url, 1, allowed=False)
        await executor.start()
        try:
            return await executor.execute(attempt("SELECT 1"))
        finally:
            await executor.close()

    outcome = asyncio.run(scenario())
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert outcome.error == "sql jobs are disabled on this worker (start it with --allow-sql)"


def test_sql_jobs_run_as_the_chosen_role_and_only_with_its_privileges(
    job_login: tuple[str, str],
) -> None:
    async def scenario(executor: SqlExecutor) -> list[Outcome]:
        return [
            await executor.execute(attempt("SELECT current_user")),
            await executor.execute(attempt("SELECT count(*) FROM readable")),
            await executor.execute(attempt("SELECT count(*) FROM secret")),
            await executor.execute(attempt("RESET ROLE")),
            await executor.execute(attempt("SELECT current_user")),
        ]

    login_url, job_role = job_login
    who, readable, secret, _, who_after_reset = with_executor(
        login_url, scenario, pool_size=1, role=job_role, allow_superuser=False
    )
    assert who.status is RunStatus.SUCCEEDED and job_role in (who.output or "")
    assert readable.status is RunStatus.SUCCEEDED
    assert secret.status is RunStatus.FAILED and not secret.retryable
    assert "permission denied" in (secret.error or "")
    # A job that resets its role does not leave the next job on that connection elevated.
    assert job_role in (who_after_reset.output or "")


def test_a_role_the_worker_cannot_assume_fails_jobs_with_a_clear_message(
    database_url: str,
) -> None:
    outcome = with_executor(
        database_url,
        lambda executor: executor.execute(attempt("SELECT 1")),
        role="no_such_role_for_pgsched",
        allow_superuser=False,
    )
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert outcome.error is not None
    assert "no_such_role_for_pgsched" in outcome.error
