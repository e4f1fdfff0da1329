"""LISTEN/NOTIFY wake-ups: new or changed jobs, manual runs, and replaced attempts.

LISTEN needs a session of its own: a transaction pooler moves the client to another
server connection after each transaction, and notifications then go to a session
nobody reads. Behind one, the worker listens on ``--listen-database-url`` (a direct
connection) or not at all (``pgsched.engine.connections``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS
from pgsched.db.pooling import answered_by_pooler, server_pid_query
from pgsched.engine.backoff import Backoff

WAKEUP_CHANNEL = "pgsched_wakeup"
CANCEL_CHANNEL = "pgsched_cancel"

log = structlog.get_logger(__name__)


class Listener:
    """Holds a LISTEN connection and calls back on each notification.

    A notification missed while the connection is down is made up for by a wake-up
    after reconnecting: the claim loop then looks at the database afresh.
    """

    def __init__(
        self,
        url: str,
        on_wakeup: Callable[[], None],
        on_cancel: Callable[[list[int]], None],
    ) -> None:
        self._url = url
        self._on_wakeup = on_wakeup
        self._on_cancel = on_cancel

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        backoff = Backoff()
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    application_name="pgsched-worker-listen",
                ) as connection:
                    await self._warn_if_pooled(connection)
                    await connection.execute(f"LISTEN {WAKEUP_CHANNEL}")
                    await connection.execute(f"LISTEN {CANCEL_CHANNEL}")
                    backoff.reset()
                    self._on_wakeup()
                    async for notification in connection.notifies():
                        self._dispatch(notification.channel, notification.payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                delay = backoff.next_delay()
                log.warning("listener_disconnected", error=str(exc).strip(), retry_in_s=delay)
                await asyncio.sleep(delay)

    async def _warn_if_pooled(self, connection: psycopg.AsyncConnection[tuple[int]]) -> None:
        cursor = await connection.execute(server_pid_query())
        row = await cursor.fetchone()
        if row is not None and answered_by_pooler(connection.info.backend_pid, row[0]):
            # Not fatal: the worker's polling still finds everything, only later.
            log.warning(
                "listener_behind_pooler",
                hint="a pooler answers the LISTEN connection: under transaction pooling "
                "notifications are lost; give --listen-database-url a direct connection",
            )

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == CANCEL_CHANNEL:
            run_ids = [int(part) for part in payload.split(",") if part.strip().isdigit()]
            self._on_cancel(run_ids)
        else:
            self._on_wakeup()
