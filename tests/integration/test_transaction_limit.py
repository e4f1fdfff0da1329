"""A worker transaction ends, with its locks, once it outlasts the worker's limit, where
the server can end it (PostgreSQL 17+: transaction_timeout), even one waiting between
pipelined statements for a frozen client, which idle_in_transaction_session_timeout
never ends. Older servers leave it open until the client comes back."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from pgsched.engine.repository import Repository
from pgsched.engine.session import TRANSACTION_TIMEOUT_SINCE
from pgsched.errors import DatabaseUnavailable
from tests.commands import add_job

FREE = (
    "SELECT count(*) = 1 FROM (SELECT 1 FROM pgsched.jobs WHERE name = 'frozen'"
    " FOR UPDATE SKIP LOCKED) AS s"
)


def test_the_limit_is_the_transactions_own(database_url: str, db: psycopg.Connection) -> None:
    async def inside_and_after() -> tuple[Any, Any]:
        repository = Repository(database_url, "test", transaction_limit_seconds=5)
        show = "SELECT current_setting('transaction_timeout', true) AS value"
        try:
            async with repository._transaction() as connection:
                inside = await (await connection.execute(show)).fetchone()
            async with repository._connected() as connection:
                after = await (await connection.execute(show)).fetchone()
            return inside["value"], after["value"]
        finally:
            await repository.close()

    limited = db.info.server_version >= TRANSACTION_TIMEOUT_SINCE
    # Behind a transaction pooler the next client gets the session as it was.
    assert asyncio.run(inside_and_after()) == (("5s", "0") if limited else (None, None))


def test_a_transaction_left_waiting_mid_pipeline_ends_with_its_locks(
    database_url: str, db: psycopg.Connection
) -> None:
    add_job(db, "frozen")
    outcome: dict[str, Any] = {}

    async def freeze_inside_a_claim() -> None:
        repository = Repository(database_url, "test", transaction_limit_seconds=0.3)
        try:
            async with repository._transaction() as connection:
                cursor = await connection.execute(
                    "SELECT id FROM pgsched.jobs WHERE name = 'frozen' FOR NO KEY UPDATE"
                )
                await cursor.fetchall()
                await asyncio.sleep(1.0)  # the client frozen, the server waiting on it
                outcome["free"] = db.execute(FREE).fetchone()[0]
                await connection.execute("SELECT 1")
            outcome["ended"] = False
        except DatabaseUnavailable:
            outcome["ended"] = True
        finally:
            await repository.close()

    asyncio.run(freeze_inside_a_claim())
    limited = db.info.server_version >= TRANSACTION_TIMEOUT_SINCE
    assert outcome == {"free": limited, "ended": limited}
    assert db.execute(FREE).fetchone()[0]
