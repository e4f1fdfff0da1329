"""LISTEN/NOTIFY wake-ups: new or changed jobs, manual runs, released slots, and
replaced attempts.

LISTEN needs a session of its own: a transaction pooler moves the client to another
server connection after each transaction, and notifications then go to a session
nobody reads. Behind one, the worker listens on ``--listen-database-url`` (a direct
connection) or not at all (``pgsched.engine.connections``).
"""

from __future__ import annotations

import psycopg
import structlog

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS, redact
from pgsched.db.pooling import answered_by_pooler, server_pid_query
from pgsched.engine.keep_running import keep_running
from pgsched.engine.state import WorkerState
from pgsched.errors import DatabaseUnavailable

WAKEUP_CHANNEL = "pgsched_wakeup"
CANCEL_CHANNEL = "pgsched_cancel"

log = structlog.get_logger(__name__)


class Listener:
    """Holds a LISTEN connection and tells the worker's state what it hears.

    A notification missed while the connection is down is made up for by a wake-up
    after reconnecting: the claim loop then looks at the database afresh.
    """

    def __init__(self, url: str, state: WorkerState) -> None:
        self._url = url
        self._state = state

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        await keep_running(self.listen, "listener_disconnected", "listener_crashed")

    async def listen(self) -> float:
        """Listen until the connection is lost. A connection that was listening is
        replaced at once; one that cannot be made is retried with backoff."""
        listening = False
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
                listening = True
                self._state.wake_up(notified=True)
                async for notification in connection.notifies():
                    self._dispatch(notification.channel, notification.payload)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if listening:
                log.warning("listener_disconnected", error=str(exc).strip(), retry_in_s=0)
                return 0.0
            raise DatabaseUnavailable(
                f"lost the LISTEN connection to {redact(self._url)}: {str(exc).strip()}"
            ) from exc
        return 0.0

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
            self._state.take_away(run_ids)
        else:
            self._state.wake_up(notified=True)
