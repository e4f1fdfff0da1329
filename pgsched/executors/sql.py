"""SQL jobs: run the target on a pooled connection to the database it names.

The target is sent as written, without parameters, over PostgreSQL's simple query
protocol. A single statement runs in its own transaction, so maintenance commands
that refuse a transaction block (``VACUUM``, ``CREATE INDEX CONCURRENTLY``) work; a
string of several statements separated by ``;`` runs as one implicit transaction:
all of it takes effect or none of it does. SQL that opens a transaction and does
not end it fails, and its work is rolled back.

SQL jobs are opt-in per worker (``--allow-sql``). Whoever writes ``pgsched.jobs``
chooses the SQL, so it runs only on a session that holds nothing beyond what jobs may
have: not a login that is, or through any membership can become, a superuser, a role
with CREATEROLE, or one of the roles that run programs or touch files on the server;
not a login that owns (or is a member of a role owning) any pgsched object, since
pgsched's triggers run on other people's writes and their owner could replace them;
and not one that owns its database or may create schemas in it, since either lets SQL
choose what other sessions of the database, a superuser's among them, call by name.
That is checked before every attempt, on the login (``session_user``): ``--sql-role``
runs ``SET ROLE`` first, which keeps well-meaning SQL within a role's privileges but is
no boundary, since the SQL may ``RESET ROLE``. The boundary is a login of its own,
``--sql-database-url``. ``--sql-allow-superuser`` lifts the check for an operator
who accepts that whoever writes jobs owns the database.

A cancelled attempt cancels its statement on the server and waits until it has
ended. ``statement_timeout`` is set a little past the attempt's timeout, so the
server stops the statement by itself should the worker be unable to.

Through a transaction pooler (``pgsched.db.pooling``) a session is not the job's:
the next transaction may run on another server connection, and what a job leaves on
one (a ``SET``, a role, a temporary table, an advisory lock) goes to whoever gets it
next, pgsched's own queries included. There a job is one statement (the extended
protocol refuses two), run in a transaction pgsched opens: ``statement_timeout`` is
local to it, a savepoint keeps the transaction usable when the statement fails, and
before the commit ``sql_job_session_reset`` undoes what the statement left in the
session. Statements that refuse a transaction block (``VACUUM``) need a direct
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
from pgsched.db.queries import query
from pgsched.executors.base import ERROR_LIMIT_CHARS, truncate
from pgsched.executors.sql_session import role_problem, session_refusal
from pgsched.models import Attempt, Outcome

Connection = psycopg.AsyncConnection[TupleRow]

APPLICATION_NAME = "pgsched-sql-job"  # how the jobs' sessions show in pg_stat_activity
MAX_ROWS_SHOWN = 20
# The server-side backstop comes after the worker's own timeout, which normally wins.
STATEMENT_TIMEOUT_GRACE_MS = 1000
# The longest statement_timeout the server takes (an int of milliseconds, ~24.8 days).
STATEMENT_TIMEOUT_MAX_MS = 2**31 - 1
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
DISABLED_MESSAGE = "sql jobs are disabled on this worker (start it with --allow-sql)"

logger = structlog.get_logger("pgsched.executors.sql")


class SqlExecutor:
    """Runs ``sql`` jobs on up to ``pool_size`` connections to ``database_url``."""

    def __init__(
        self,
        database_url: str,
        pool_size: int,
        role: str | None = None,
        allow_superuser: bool = False,
        allowed: bool = True,
        pool_mode: PoolMode = PoolMode.AUTO,
    ) -> None:
        """``pool_mode`` is how ``database_url`` reaches PostgreSQL; ``auto`` is decided
        when the executor first connects."""
        self._url = database_url
        self._role = role
        self._allow_superuser = allow_superuser
        self._allowed = allowed
        self._pool_mode = pool_mode
        # Unguessable, so a job's SQL cannot release or roll back to it.
        self._savepoint = f"pgsched_job_{secrets.token_hex(8)}"
        # Whether SET ROLE to the chosen role works, found once the database answers:
        # None until then, "" when it does, else why not.
        self._role_problem: str | None = None
        self._role_checked = asyncio.Lock()
        # The last refusal logged, so that one cause is logged once, not per attempt.
        self._refusal_logged = ""
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
        if not self._allowed:
            return Outcome.failed(DISABLED_MESSAGE, retryable=False)
        problem = target_problem(attempt.target)
        if problem is not None:
            return Outcome.failed(problem, retryable=False)
        try:
            problem = await self._check_role()
            if problem:
                return Outcome.failed(problem, retryable=False)
            async with self._pool.connection() as connection:
                statement = asyncio.create_task(self._run(connection, attempt))
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

    async def _check_role(self) -> str:
        """Why SET ROLE to the chosen role fails; empty when it works (or none is chosen).

        Asked once, on a connection of its own: a database that cannot be reached then
        fails the attempt at once, instead of after the pool's wait for a connection.
        The same look decides ``auto`` pool mode; through a transaction pooler no role
        is set, it is refused.
        """
        async with self._role_checked:
            if self._role_problem is None:
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
                    if self._role and not keeps_sessions(self._pool_mode):
                        self._role_problem = SQL_ROLE_POOLED_REFUSAL
                    else:
                        self._role_problem = (
                            await role_problem(connection, self._role) if self._role else ""
                        )
                if self._role_problem:
                    logger.error("sql_jobs_refused", reason=self._role_problem)
            return self._role_problem

    async def _run(self, connection: Connection, attempt: Attempt) -> Outcome:
        """Check the session, then run the target; leaves no transaction open. Through
        a transaction pooler, all of it happens in one transaction of pgsched's."""
        pooled = not keeps_sessions(self._pool_mode)
        if pooled:
            await connection.execute("BEGIN")
        timeout_ms = min(
            attempt.timeout_seconds * 1000 + STATEMENT_TIMEOUT_GRACE_MS, STATEMENT_TIMEOUT_MAX_MS
        )
        cursor = await connection.execute(
            query("sql_job_session"), {"timeout_ms": str(timeout_ms), "local": pooled}
        )
        session = await cursor.fetchone()
        assert session is not None  # one row, always
        refusal = "" if self._allow_superuser else session_refusal(*session[1:])
        if refusal:
            if pooled:
                await connection.execute("ROLLBACK")
            if refusal != self._refusal_logged:
                logger.error("sql_jobs_refused", reason=refusal)
                self._refusal_logged = refusal
            return Outcome.failed(refusal, retryable=False)
        if pooled:
            return await _run_in_transaction(connection, attempt, self._savepoint)
        return await _run(connection, attempt)

    async def _assume_role(self, connection: Connection) -> None:
        if self._role is not None and keeps_sessions(self._pool_mode):
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


def target_problem(target: str) -> str | None:
    """Why ``target`` is not SQL this executor would send, or None."""
    return None if target.strip() else "the SQL statement is empty"


async def _run(connection: Connection, attempt: Attempt) -> Outcome:
    """Execute the target and describe how it went; leaves no transaction open."""
    try:
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
    """Through a transaction pooler, in the transaction ``_run`` opened: the target as
    one statement, then what it left in the session undone, then the commit."""
    savepoint_name = psycopg.sql.Identifier(savepoint)
    try:
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
