"""A worker frozen inside a transaction (SIGSTOP, a paused VM) must not keep its locks:
the server ends a worker transaction left idle past the session's limit."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from pgsched.engine.repository import Repository
from pgsched.errors import DatabaseUnavailable
from tests.commands import add_job

LOCK_JOB = "SELECT id FROM pgsched.jobs WHERE name = 'frozen' FOR UPDATE NOWAIT"


def test_a_transaction_left_idle_past_the_limit_ends_and_frees_its_locks(
    database_url: str, db: psycopg.Connection
) -> None:
    add_job(db, "frozen")

    async def freeze_inside_a_transaction() -> None:
        repository = Repository(database_url, "test", idle_limit_seconds=0.3)
        try:
            with pytest.raises(DatabaseUnavailable):
                async with repository._transaction() as connection:
                    await connection.execute(LOCK_JOB)
                    # Frozen: no statement for longer than the limit.
                    await asyncio.sleep(1.0)
                    # The server has ended the session; the lock went with it.
                    with psycopg.connect(database_url, autocommit=True) as other:
                        assert other.execute(LOCK_JOB).fetchone() is not None
                    await connection.execute("SELECT 1")
            # The next use reconnects.
            assert await repository.due_in(["default"]) is not None
        finally:
            await repository.close()

    asyncio.run(freeze_inside_a_transaction())


def test_the_limit_is_the_transactions_own_and_leaves_the_session_as_it_was(
    database_url: str,
) -> None:
    async def limit_after_a_transaction() -> tuple[str, str]:
        repository = Repository(database_url, "test", idle_limit_seconds=5)
        try:
            async with repository._transaction() as connection:
                cursor = await connection.execute("SHOW idle_in_transaction_session_timeout")
                inside = (await cursor.fetchone())["idle_in_transaction_session_timeout"]
            async with repository._connected() as connection:
                cursor = await connection.execute("SHOW idle_in_transaction_session_timeout")
                after = (await cursor.fetchone())["idle_in_transaction_session_timeout"]
            return inside, after
        finally:
            await repository.close()

    inside, after = asyncio.run(limit_after_a_transaction())
    assert inside == "5s"
    assert after == "0"
