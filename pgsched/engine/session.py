"""One database session of the worker: a connection, reconnected on demand.

Every runtime statement of the worker goes through ``Session.run``, the one place
that decides how a named block is sent: as a prepared statement, unless the session
prepares none (behind a transaction pooler: ``pgsched.db.pooling.prepares_statements``).
Driver errors become ``DatabaseUnavailable`` (the connection is replaced on next use)
or ``QueryFailed`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncCursor
from psycopg.rows import AsyncRowFactory, DictRow, TupleRow, dict_row, tuple_row

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS, redact
from pgsched.db.json_values import read_json_safely
from pgsched.db.queries import query
from pgsched.errors import DatabaseUnavailable, QueryFailed
from pgsched.text import first_line

AsyncConnection = psycopg.AsyncConnection[DictRow]
Row = TypeVar("Row")

# Blocks planned afresh at each execution, never prepared: they look runs up by key
# in a table that grows from nothing. A plan cached while it was small (a scan of
# the whole table, then cheapest) would be kept until the next ANALYZE, scanning
# ever more rows; planning each time (~0.1 ms) costs little beside a batch.
PLANNED_EACH_TIME = frozenset(("finish_runs", "finish_succeeded_runs", "insert_planned_runs"))

# From PostgreSQL 17 the server can end a transaction that lasts too long
# (transaction_timeout), even one waiting between pipelined statements for a client
# that is frozen (SIGSTOP, a paused VM). Before it, the server ends a transaction only
# while its backend is idle in it (idle_in_transaction_session_timeout), which a
# pipelined one is only after a Sync: until then the backend is 'active', waiting for
# the next message, however long its client stays frozen.
TRANSACTION_TIMEOUT_SINCE = 170000
# A block of settings sent first in a transaction, by the block that sets the same and
# the transaction's limit (its limit_setting parameter) in one statement.
WITH_LIMIT = {"claim_settings": "claim_settings_limited"}


class Session:
    """One connection, reconnected on demand; tasks take turns on it."""

    def __init__(
        self,
        url: str,
        application_name: str,
        prepare: bool = True,
        transaction_limit_seconds: float | None = None,
    ) -> None:
        self._url = url
        self._application_name = application_name
        self._prepare = prepare
        # A worker frozen inside a transaction keeps what it locked (the jobs it
        # claims, a capped queue's limit row, its own worker row) until it resumes;
        # where the server can, it ends the transaction after this long instead.
        limit = transaction_limit_seconds
        self._limit_ms = None if limit is None else str(int(limit * 1000))
        self._connection: AsyncConnection | None = None
        # The pipeline of the open transaction, synced by _rows.
        self._pipeline: psycopg.AsyncPipeline | None = None
        # One connection serves one transaction at a time.
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the connection if it is open."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def run(
        self, connection: AsyncConnection, name: str, params: dict[str, Any]
    ) -> AsyncCursor[DictRow]:
        """Send the named block ``name`` with ``params`` on ``connection``."""
        return await connection.execute(query(name), params, prepare=self._prepares(name))

    async def run_tuples(
        self, connection: AsyncConnection, name: str, params: dict[str, Any]
    ) -> AsyncCursor[TupleRow]:
        """``run``, its rows as tuples: for the hot path's many-row answers, whose
        columns the caller reads by position (a dict per row cost ~0.7 us)."""
        return await self.run_rows(connection, name, params, tuple_row)

    async def run_rows(
        self,
        connection: AsyncConnection,
        name: str,
        params: dict[str, Any],
        row_factory: AsyncRowFactory[Row],
    ) -> AsyncCursor[Row]:
        """``run``, its rows made by ``row_factory``."""
        cursor = connection.cursor(row_factory=row_factory)
        return await cursor.execute(query(name), params, prepare=self._prepares(name))

    def _prepares(self, name: str) -> bool:
        """Whether ``name`` is sent prepared: when this session prepares at all, and not
        for the blocks planned afresh each time (``PLANNED_EACH_TIME``)."""
        return self._prepare and name not in PLANNED_EACH_TIME

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[AsyncConnection]:
        """The connection, for this task alone, with driver errors translated."""
        async with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._url,
                        autocommit=True,
                        row_factory=dict_row,
                        connect_timeout=CONNECT_TIMEOUT_SECONDS,
                        application_name=self._application_name,
                        # None: psycopg never prepares a statement on its own either.
                        prepare_threshold=5 if self._prepare else None,
                    )
                    read_json_safely(self._connection)
                yield self._connection
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                # The transaction lost a race and was rolled back; the connection is fine.
                raise QueryFailed(f"query failed: {first_line(exc)}") from exc
            except (
                psycopg.OperationalError,
                psycopg.InterfaceError,
                # The server ended the session: the transaction outlasted its limit.
                psycopg.errors.TransactionTimeout,
                psycopg.errors.IdleInTransactionSessionTimeout,
            ) as exc:
                await self._discard()
                raise DatabaseUnavailable(
                    f"database {redact(self._url)} unavailable: {first_line(exc)}"
                ) from exc
            except psycopg.Error as exc:
                raise QueryFailed(f"query failed: {first_line(exc)}") from exc

    @asynccontextmanager
    async def _transaction(self, settings: str | None = None) -> AsyncIterator[AsyncConnection]:
        """A pipelined transaction: statements (and the COMMIT) are sent without
        waiting for each answer, so a claim costs two round trips, not seven.

        ``settings``: a block of ``set_config`` calls to send first; with a limit, its
        form in ``WITH_LIMIT`` sets both in one statement (each statement of a
        pipelined transaction costs the worker ~20 us in psycopg).
        """
        async with (
            self._connected() as connection,
            connection.pipeline() as pipeline,
            connection.transaction(),
        ):
            if self._limit_ms:
                setting = (
                    "transaction_timeout"
                    if connection.info.server_version >= TRANSACTION_TIMEOUT_SINCE
                    else "idle_in_transaction_session_timeout"
                )
                block = "limit_transaction" if settings is None else WITH_LIMIT[settings]
                params = {"limit_setting": setting, "ms": self._limit_ms}
                await self.run(connection, block, params)
            elif settings is not None:
                await self.run(connection, settings, {})
            self._pipeline = pipeline
            try:
                yield connection
            finally:
                self._pipeline = None

    async def _rows(self, cursor: AsyncCursor[Row]) -> list[Row]:
        """The rows of ``cursor``, a statement of the open transaction, read after a
        Sync of everything sent so far (in the same round trip as the rows).

        The client works on them next (it plans a claim), and the Sync leaves its
        backend idle in transaction meanwhile: a client frozen there has its
        transaction, and what it locked, ended after the worker's limit on servers
        before PostgreSQL 17 too (idle_in_transaction_session_timeout).
        """
        assert self._pipeline is not None, "_rows reads inside _transaction only"
        await self._pipeline.sync()
        return await cursor.fetchall()

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Already broken: closing is a courtesy, its failure changes nothing.
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    async def _fetch(self, name: str, params: dict[str, Any]) -> list[DictRow]:
        """Run one named block in a transaction of its own; its rows.

        The connection is in autocommit: one statement is its own transaction, so no
        BEGIN and COMMIT (two more round trips) wrap it.
        """
        async with self._connected() as connection:
            cursor = await self.run(connection, name, params)
            return await cursor.fetchall() if cursor.description else []

    async def _fetch_tuples(self, name: str, params: dict[str, Any]) -> list[TupleRow]:
        """``_fetch``, its rows as tuples (``run_tuples``)."""
        async with self._connected() as connection:
            cursor = await self.run_tuples(connection, name, params)
            return await cursor.fetchall()
