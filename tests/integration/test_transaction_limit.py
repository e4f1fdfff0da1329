"""A worker transaction ends, with its locks, once it outlasts the worker's limit, where
the server can end it (PostgreSQL 17+: transaction_timeout), even one waiting between
pipelined statements for a frozen client. Older servers end it only while it is idle
(idle_in_transaction_session_timeout): where the worker reads rows it then works on,
as a claim does before it plans them, it syncs first, so that a worker frozen there is
ended as on 17; one frozen between two pipelined statements stays until it resumes."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import psycopg

from pgsched.engine.plannable import Plannable
from pgsched.engine.planner import JobPlan, plan_job
from pgsched.engine.repository import Repository, WorkerIdentity
from pgsched.engine.session import TRANSACTION_TIMEOUT_SINCE
from pgsched.errors import DatabaseUnavailable
from tests.commands import add_job

FREE = (
    "SELECT count(*) = 1 FROM (SELECT 1 FROM pgsched.jobs WHERE name = 'frozen'"
    " FOR UPDATE SKIP LOCKED) AS s"
)


def test_the_limit_is_the_transactions_own(database_url: str, db: psycopg.Connection) -> None:
    # transaction_timeout from PostgreSQL 17, idle_in_transaction_session_timeout before.
    setting = (
        "transaction_timeout"
        if db.info.server_version >= TRANSACTION_TIMEOUT_SINCE
        else "idle_in_transaction_session_timeout"
    )

    async def inside_and_after() -> tuple[Any, Any]:
        repository = Repository(database_url, "test", transaction_limit_seconds=5)
        show = f"SELECT current_setting('{setting}') AS value"
        try:
            async with repository._transaction() as connection:
                inside = await (await connection.execute(show)).fetchone()
            async with repository._connected() as connection:
                after = await (await connection.execute(show)).fetchone()
            return inside["value"], after["value"]
        finally:
            await repository.close()

    # Behind a transaction pooler the next client gets the session as it was.
    assert asyncio.run(inside_and_after()) == ("5s", "0")


def test_a_claim_sets_its_limit_and_plan_settings_in_one_statement(
    database_url: str, db: psycopg.Connection
) -> None:
    setting = (
        "transaction_timeout"
        if db.info.server_version >= TRANSACTION_TIMEOUT_SINCE
        else "idle_in_transaction_session_timeout"
    )
    show = f"SELECT current_setting('{setting}') AS s, current_setting('plan_cache_mode') AS m"

    async def claim_transaction() -> tuple[Any, Any, list[str]]:
        repository = Repository(database_url, "test", transaction_limit_seconds=5)
        sent: list[str] = []
        run = repository.run

        async def counted(connection: Any, name: str, params: dict[str, Any]) -> Any:
            sent.append(name)
            return await run(connection, name, params)

        repository.run = counted  # type: ignore[method-assign]
        try:
            async with repository._transaction("claim_settings") as connection:
                inside = await (await connection.execute(show)).fetchone()
            async with repository._connected() as connection:
                after = await (await connection.execute(show)).fetchone()
            return (inside["s"], inside["m"]), (after["s"], after["m"]), sent
        finally:
            await repository.close()

    inside, after, sent = asyncio.run(claim_transaction())
    assert inside == ("5s", "force_generic_plan")
    assert after == ("0", "auto")
    assert sent == ["claim_settings_limited"]


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


LIMIT_ROW_FREE = (
    "SELECT count(*) = 1 FROM (SELECT 1 FROM pgsched.queue_limits WHERE queue = 'default'"
    " FOR UPDATE SKIP LOCKED) AS s"
)


def test_a_claim_frozen_while_it_plans_frees_its_capped_queue_after_the_limit(
    database_url: str, db: psycopg.Connection
) -> None:
    # Every claim in a capped queue first locks the queue's limit row: a worker frozen
    # inside its claim would hold up the whole queue for every other worker.
    db.execute("INSERT INTO pgsched.queue_limits (queue, max_running) VALUES ('default', 5)")
    add_job(db, "frozen", "* * * * * *")
    db.execute("UPDATE pgsched.jobs SET next_run = now() - interval '1 second'")
    free: list[tuple[bool, bool]] = []

    def frozen_while_planning(job: Plannable, now: datetime) -> JobPlan:
        time.sleep(1.0)  # the worker frozen: it sends nothing, the server waits on it
        free.append((db.execute(LIMIT_ROW_FREE).fetchone()[0], db.execute(FREE).fetchone()[0]))
        return plan_job(job, now)

    async def claim() -> bool:
        repository = Repository(database_url, "test", transaction_limit_seconds=0.3)
        try:
            await repository.register_worker(WorkerIdentity("w1", "host", 1, ("default",), 10, 30))
            await repository.claim_due_jobs("w1", ["default"], 10, frozen_while_planning)
        except DatabaseUnavailable:
            return True
        finally:
            await repository.close()
        return False

    # The server ended the claim (on every version) while the worker was frozen: the
    # limit row and the job were free for others, and the claim recorded nothing.
    assert asyncio.run(claim())
    assert free == [(True, True)]
    assert db.execute("SELECT count(*) FROM pgsched.runs").fetchone() == (0,)
