"""SQL jobs: run the target on a pooled connection to the database it names.

The target is sent as written, without parameters, over PostgreSQL's simple query
protocol. A single statement runs in its own transaction, so maintenance commands
that refuse a transaction block (``VACUUM``, ``CREATE INDEX CONCURRENTLY``) work; a
string of several statements separated by ``;`` runs as one implicit transaction:
all of it takes effect or none of it does. SQL that opens a transaction and does
not end it fails, and its work is rolled back.

Jobs' SQL runs as the role the operator chose: the login of the URL the executor is
given (the worker's ``--sql-database-url``, else its own) and, with ``role``, after
``SET ROLE``. ``SET ROLE`` keeps well-meaning SQL within that role's privileges but is
no sandbox (the SQL may ``RESET ROLE``); a separate login is. SQL never runs as a
superuser unless the operator says so: that is refused with a message saying how.

A cancelled attempt cancels its statement on the server and waits until it has
ended. ``statement_timeout`` is set a little past the attempt's timeout, so the
server stops the statement by itself should the worker be unable to.

Through a transaction pooler (``pgsched.db.pooling``) a session is not the job's:
the next transaction may run on another server connection, and what a job leaves on
one (a ``SET``, a role, a temporary table, an advisory lock) goes to whoever gets it
next, pgsched's own queries included. There a job is one statement (the extended
protocol refuses two), run in a transaction pgsched opens: ``statement_timeout`` is
``SET LOCAL``, a savepoint keeps the transaction usable when the statement fails,
and before the commit ``sql_job_session_reset`` undoes what the statement left in
the session. Statements that refuse a transaction block (``VACUUM``) need a direct
``--sql-database-url``; ``--sql-role``, which is session state, is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import psycopg
import structlog
from psycopg import pq
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS
from pgsched.db.pooling import (
    PoolMode,
    answered_by_pooler,
    keeps_sessions,
    resolved,
    server_pid_query,
    session_reset_statement,
)
from pgsched.executors.base import ERROR_LIMIT_CHARS, truncate
from pgsched.models import Attempt, Outcome

Connection = psycopg.AsyncConnection[TupleRow]

APPLICATION_NAME = "pgsched-sql-job"  # how the jobs' sessions show in pg_stat_activity
MAX_ROWS_SHOWN = 20
# The server-side backstop comes after the worker's own timeout, which normally wins.
STATEMENT_TIMEOUT_GRACE_MS = 1000
# A cancel request that reaches the server just before the statement starts is
# ignored; it is repeated at this interval until the statement has ended.
CANCEL_INTERVAL_SECONDS = 0.5
# After this long without the statement ending, the server is not answering.
CANCEL_GIVE_UP_SECONDS = 5.0
# Syntax errors, missing tables or functions, missing privileges: the same SQL
# fails the same way on a retry.
PERMANENT_SQLSTATE_CLASS = "42"
OPEN_TRANSACTION_MESSAGE = (
    "the SQL left a transaction open (BEGIN without COMMIT), so its work was rolled back"
)
ENDED_TRANSACTION_MESSAGE = (
    "the SQL ended the transaction pgsched runs it in (COMMIT, ROLLBACK): through a "
    "transaction pooler an sql job is one statement inside pgsched's transaction"
)
# What a failure means through a transaction pooler, by SQLSTATE.
POOLED_HINTS = {
    # active_sql_transaction: VACUUM, CREATE INDEX CONCURRENTLY, CREATE DATABASE ...
    "25001": "through a transaction pooler sql jobs run inside a transaction; run this "
    "one on a direct connection (worker --sql-database-url)",
    # syntax_error, which is also how the extended protocol refuses two statements
    "42601": "through a transaction pooler an sql job is a single statement",
}
SQL_ROLE_POOLED_REFUSAL = (
    "--sql-role needs session state (SET ROLE), which a transaction pooler does not keep: "
    "give the worker --sql-database-url with a login that has only the privileges jobs "
    "need instead (it may go through the pooler)"
)

logger = structlog.get_logger("pgsched.executors.sql")


class SqlExecutor:
    """Runs ``sql`` jobs on up to ``pool_size`` connections to ``database_url``."""

    def __init__(
        self,
        database_url: str,
        pool_size: int,
        role: str | None = None,
        allow_superuser: bool = False,
        pool_mode: PoolMode = PoolMode.AUTO,
    ) -> None:
        """``pool_mode`` is how ``database_url`` reaches PostgreSQL; ``auto`` is decided
        when the executor first connects."""
        self._url = database_url
        self._role = role
        self._allow_superuser = allow_superuser
        self._pool_mode = pool_mode
        # Unguessable, so a job's SQL cannot release or roll back to it.
        self._savepoint = f"pgsched_job_{secrets.token_hex(8)}"
        # Whether jobs may run as the chosen role, decided once the database answers:
        # None until then, "" when they may, else why not.
        self._role_refusal: str | None = None
        self._role_checked = asyncio.Lock()
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            database_url,
            min_size=0,
            max_size=pool_size,
            open=False,
            name="pgsched-sql-jobs",
            kwargs={
                "application_name": APPLICATION_NAME,
                "autocommit": True,
                # Jobs' SQL may DEALLOCATE or DISCARD: never rely on prepared statements.
                "prepare_threshold": None,
            },
            configure=self._assume_role,
            reset=self._reset_session,
            # A connection the server dropped (a restart, a failover) is replaced
            # before a job gets it, rather than failing that job.
            check=AsyncConnectionPool.check_connection,
        )

    async def start(self) -> None:
        """Open the pool; connections are made when jobs need them."""
        await self._pool.open()

    async def close(self) -> None:
        """Close the pool and its connections."""
        await self._pool.close()

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run the SQL in ``attempt.target``; cancel it on the server if cancelled."""
        if not attempt.target.strip():
            return Outcome.failed("the SQL statement is empty", retryable=False)
        try:
            refusal = await self._refusal()
            if refusal:
                return Outcome.failed(refusal, retryable=False)
            async with self._pool.connection() as connection:
                if keeps_sessions(self._pool_mode):
                    run = _run(connection, attempt)
                else:
                    run = _run_in_transaction(connection, attempt, self._savepoint)
                statement = asyncio.create_task(run)
                try:
                    return await asyncio.shield(statement)
                except asyncio.CancelledError:
                    await _stop(connection, statement, attempt)
                    raise
        except psycopg.OperationalError as exc:
            # _run reports the job's own errors: this one is about reaching the database.
            return Outcome.failed(
                truncate(f"could not get a database connection: {exc}", ERROR_LIMIT_CHARS)
            )

    async def _refusal(self) -> str:
        """Why jobs may not run as the configured role; empty when they may."""
        async with self._role_checked:
            if self._role_refusal is None:
                connection = await Connection.connect(
                    self._url,
                    autocommit=True,
                    application_name=APPLICATION_NAME,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
                async with connection:
                    cursor = await connection.execute(server_pid_query())
                    row = await cursor.fetchone()
                    assert row is not None
                    pooled = answered_by_pooler(connection.info.backend_pid, row[0])
                    self._pool_mode = resolved(self._pool_mode, pooled)
                    self._role_refusal = (
                        SQL_ROLE_POOLED_REFUSAL
                        if self._role is not None and not keeps_sessions(self._pool_mode)
                        else await _role_refusal(connection, self._role, self._allow_superuser)
                    )
                if self._role_refusal:
                    logger.error("sql_jobs_refused", reason=self._role_refusal)
            return self._role_refusal

    async def _assume_role(self, connection: Connection) -> None:
        if self._role is not None:
            await connection.execute(
                psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(self._role))
            )

    async def _reset_session(self, connection: Connection) -> None:
        """Undo what a job's SQL changed in its session (settings, role, temporary tables).

        Through a transaction pooler that was done inside the job's transaction; a
        DISCARD ALL here would reach some other server connection, and drop the
        statements the pooler itself prepared there.
        """
        if keeps_sessions(self._pool_mode):
            await connection.execute("DISCARD ALL")
            await self._assume_role(connection)


async def _role_refusal(connection: Connection, role: str | None, allow_superuser: bool) -> str:
    """Why SQL jobs may not run on ``connection`` as ``role``; empty when they may."""
    if role is not None:
        try:
            await connection.execute(
                psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role))
            )
        except psycopg.errors.Error as exc:
            return f"SQL jobs cannot run as role {role!r}: {exc.diag.message_primary or exc}"
    cursor = await connection.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    row = await cursor.fetchone()
    user, superuser = row if row is not None else ("?", False)
    if superuser and not allow_superuser:
        return (
            f"SQL jobs would run as the superuser {user!r}: give the worker --sql-role ROLE or "
            "--sql-database-url with a login that has only the privileges jobs need "
            "(or --sql-allow-superuser to accept it)"
        )
    return ""


async def _run(connection: Connection, attempt: Attempt) -> Outcome:
    """Execute the target and describe how it went; leaves no transaction open."""
    timeout_ms = attempt.timeout_seconds * 1000 + STATEMENT_TIMEOUT_GRACE_MS
    try:
        await connection.execute(
            "SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)]
        )
        cursor = await connection.execute(attempt.target)
        while cursor.nextset():
            pass  # the output describes the last statement's result
        output = await _summary(cursor)
        if connection.info.transaction_status == pq.TransactionStatus.IDLE:
            return Outcome.succeeded(output)
        outcome = Outcome.failed(OPEN_TRANSACTION_MESSAGE, output=output, retryable=False)
    except psycopg.Error as exc:
        outcome = _failure(exc)
    if connection.info.transaction_status in (
        pq.TransactionStatus.INTRANS,
        pq.TransactionStatus.INERROR,
    ):
        # A failed rollback leaves the connection broken: the pool discards it.
        with contextlib.suppress(psycopg.Error):
            await connection.rollback()
    return outcome


async def _run_in_transaction(connection: Connection, attempt: Attempt, savepoint: str) -> Outcome:
    """Through a transaction pooler: the target as one statement in a transaction of
    pgsched's, which leaves nothing behind in the server's session."""
    timeout_ms = attempt.timeout_seconds * 1000 + STATEMENT_TIMEOUT_GRACE_MS
    savepoint_name = psycopg.sql.Identifier(savepoint)
    try:
        await connection.execute("BEGIN")
        await connection.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)]
        )
        await connection.execute(psycopg.sql.SQL("SAVEPOINT {}").format(savepoint_name))
        try:
            # In a pipeline psycopg uses the extended protocol, which takes one
            # statement only: a second one could otherwise COMMIT and then SET.
            async with connection.pipeline():
                cursor = await connection.execute(attempt.target)
            outcome = Outcome.succeeded(await _summary(cursor))
        except psycopg.Error as exc:
            outcome = _failure(exc, POOLED_HINTS.get(exc.sqlstate or ""))
            if connection.info.transaction_status == pq.TransactionStatus.INERROR:
                await connection.execute(
                    psycopg.sql.SQL("ROLLBACK TO SAVEPOINT {}").format(savepoint_name)
                )
        status = connection.info.transaction_status
        if status == pq.TransactionStatus.IDLE:
            # COMMIT or ROLLBACK as the statement: it was all it did, nothing lingers.
            return Outcome.failed(ENDED_TRANSACTION_MESSAGE, retryable=False)
        if status != pq.TransactionStatus.INTRANS:
            return outcome  # the connection broke, and the failure says how
        await connection.execute(session_reset_statement())
        await connection.execute("COMMIT")
    except psycopg.Error as exc:
        # pgsched's own statements failed: nothing of the job's may commit. A failed
        # rollback leaves the connection broken, and the pool discards it.
        with contextlib.suppress(psycopg.Error):
            await connection.execute("ROLLBACK")
        return Outcome.failed(
            truncate(
                f"pgsched could not run the statement in a transaction: {exc}", ERROR_LIMIT_CHARS
            )
        )
    return outcome


async def _stop(
    connection: Connection, statement: asyncio.Future[Outcome], attempt: Attempt
) -> None:
    """Cancel the running statement on the server and wait until it has ended."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + CANCEL_GIVE_UP_SECONDS
    while not statement.done() and loop.time() < give_up_at:
        with contextlib.suppress(psycopg.Error):
            await connection.cancel_safe(timeout=CANCEL_INTERVAL_SECONDS)
        await asyncio.wait([statement], timeout=CANCEL_INTERVAL_SECONDS)
    if not statement.done():
        logger.warning(
            "sql_statement_cancel_unanswered", run_id=attempt.run_id, job_name=attempt.job_name
        )
        # Interrupted, psycopg makes one last cancel attempt, then closes the
        # connection; statement_timeout remains as the server's own limit.
        statement.cancel()
        await asyncio.wait([statement])


async def _summary(cursor: psycopg.AsyncCursor[TupleRow]) -> str:
    """``<status> (<n> rows)`` for the cursor's result, then the first rows it returned."""
    summary = cursor.statusmessage or ""
    if cursor.rowcount >= 0:
        summary += f" ({cursor.rowcount} rows)"
    if cursor.description is None:
        return summary
    rows = await cursor.fetchmany(MAX_ROWS_SHOWN)
    lines = [summary, " | ".join(column.name for column in cursor.description)]
    lines += [" | ".join("NULL" if value is None else str(value) for value in row) for row in rows]
    if cursor.rowcount > len(rows):
        lines.append(f"... ({cursor.rowcount - len(rows)} more rows)")
    return truncate("\n".join(lines))


def _failure(exc: psycopg.Error, note: str | None = None) -> Outcome:
    """PostgreSQL's message with its detail and hint, retryable unless the SQL itself
    is wrong; a ``note`` of pgsched's says why this SQL fails here every time."""
    lines = [exc.diag.message_primary or str(exc)]
    if exc.diag.message_detail:
        lines.append(f"DETAIL: {exc.diag.message_detail}")
    if exc.diag.message_hint:
        lines.append(f"HINT: {exc.diag.message_hint}")
    if note:
        lines.append(f"NOTE: {note}")
    permanent = note is not None or (exc.sqlstate or "").startswith(PERMANENT_SQLSTATE_CLASS)
    return Outcome.failed(truncate("\n".join(lines), ERROR_LIMIT_CHARS), retryable=not permanent)
