"""Which pooler a URL goes through, and what the worker does about it (no database)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pgsched.cli import cli
from pgsched.db.pooling import (
    PoolMode,
    PreparedStatements,
    answered_by_pooler,
    prepares_statements,
    resolved,
)
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.options import WorkerOptions

URL = "postgresql://app@pgbouncer:6432/app"
DIRECT_URL = "postgresql://app@db:5432/app"


def test_a_pooler_is_told_by_a_cancel_key_that_is_not_the_servers() -> None:
    assert not answered_by_pooler(4242, 4242)
    assert answered_by_pooler(-1156993587, 30933)


@pytest.mark.parametrize(
    ("chosen", "pooler_answered", "mode"),
    [
        (PoolMode.AUTO, False, PoolMode.DIRECT),
        (PoolMode.AUTO, True, PoolMode.TRANSACTION),
        (PoolMode.SESSION, True, PoolMode.SESSION),
        (PoolMode.TRANSACTION, False, PoolMode.TRANSACTION),
        (PoolMode.DIRECT, True, PoolMode.DIRECT),
    ],
)
def test_auto_takes_a_detected_pooler_to_pool_transactions(
    chosen: PoolMode, pooler_answered: bool, mode: PoolMode
) -> None:
    assert resolved(chosen, pooler_answered) is mode


@pytest.mark.parametrize(
    ("mode", "setting", "prepares"),
    [
        (PoolMode.DIRECT, PreparedStatements.AUTO, True),
        (PoolMode.SESSION, PreparedStatements.AUTO, True),
        (PoolMode.TRANSACTION, PreparedStatements.AUTO, False),
        # PgBouncer >= 1.21 with max_prepared_statements: only the operator knows.
        (PoolMode.TRANSACTION, PreparedStatements.ON, True),
        (PoolMode.DIRECT, PreparedStatements.OFF, False),
    ],
)
def test_statements_are_prepared_unless_a_transaction_pooler_would_lose_them(
    mode: PoolMode, setting: PreparedStatements, prepares: bool
) -> None:
    assert prepares_statements(mode, setting) is prepares


@pytest.mark.parametrize(
    ("mode", "listen", "expected"),
    [
        (PoolMode.DIRECT, None, URL),
        (PoolMode.SESSION, None, URL),
        (PoolMode.TRANSACTION, None, None),
        (PoolMode.TRANSACTION, DIRECT_URL, DIRECT_URL),
        (PoolMode.DIRECT, DIRECT_URL, DIRECT_URL),
    ],
)
def test_listen_on_the_listen_url_else_where_sessions_are_kept_else_nowhere(
    mode: PoolMode, listen: str | None, expected: str | None
) -> None:
    plan = ConnectionPlan.for_worker(URL, WorkerOptions(listen_database_url=listen), mode)
    assert plan.listen_url == expected


def test_behind_a_transaction_pooler_nothing_is_prepared_and_the_worker_polls() -> None:
    plan = ConnectionPlan.for_worker(URL, WorkerOptions(), PoolMode.TRANSACTION)
    assert (plan.prepare, plan.listen_url) == (False, None)
    assert plan.sql_pool_mode is PoolMode.TRANSACTION


def test_a_url_of_the_sql_jobs_own_is_judged_on_its_own() -> None:
    options = WorkerOptions(sql_database_url=DIRECT_URL)
    plan = ConnectionPlan.for_worker(URL, options, PoolMode.TRANSACTION)
    assert plan.sql_pool_mode is PoolMode.AUTO


def parsed_worker_options(*args: str) -> dict[str, object]:
    command = cli.commands["worker"]
    return command.make_context("worker", list(args)).params


def test_pooler_flags_parse_and_default_to_auto() -> None:
    defaults = parsed_worker_options()
    assert defaults["pool_mode"] == "auto"
    assert defaults["prepared_statements"] == "auto"
    assert defaults["listen_database_url"] is None
    given = parsed_worker_options(
        "--pool-mode", "transaction", "--prepared-statements", "on",
        "--listen-database-url", DIRECT_URL,
    )  # fmt: skip
    assert (given["pool_mode"], given["prepared_statements"]) == ("transaction", "on")
    assert given["listen_database_url"] == DIRECT_URL


def test_pooler_flags_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSCHED_POOL_MODE", "session")
    monkeypatch.setenv("PGSCHED_LISTEN_DATABASE_URL", DIRECT_URL)
    options = parsed_worker_options()
    assert options["pool_mode"] == "session"
    assert options["listen_database_url"] == DIRECT_URL


def test_sql_role_through_a_transaction_pooler_is_refused_at_start() -> None:
    result = CliRunner().invoke(
        cli,
        ["worker", "--database-url", URL, "--pool-mode", "transaction", "--sql-role", "jobs"],
    )
    assert result.exit_code == 2
    assert "--sql-role" in result.output
    assert "--sql-database-url" in result.output
