"""LISTEN/NOTIFY wake-ups: new or changed jobs, manual runs, released slots, and
replaced attempts.

Any login that can connect to the database can NOTIFY any channel, so a notification
is only ever a hint to look at the database: ``pgsched_wakeup`` makes the worker look
for due work sooner, ``pgsched_cancel`` makes it ask whether the named runs it holds
are still its own, and it stops one only when the database says it was taken away
(``Recovery.check_hinted``). Hints are merged: however many arrive, they reach the
worker at most once per ``HINT_INTERVAL_SECONDS``, so a flood of them costs a bounded
number of looks.

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

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS, redact
from pgsched.db.pooling import answered_by_pooler, server_pid_query
from pgsched.engine.keep_running import keep_running
from pgsched.engine.state import WorkerState
from pgsched.errors import DatabaseUnavailable

WAKEUP_CHANNEL = "pgsched_wakeup"
CANCEL_CHANNEL = "pgsched_cancel"
# Short enough that run_now and replace stay prompt, long enough that a NOTIFY flood
# cannot turn into a claim loop without pause.
HINT_INTERVAL_SECONDS = 0.05
# A cancel hint naming more runs than a worker could hold is cut to this many.
MAX_HINTED_RUNS = 10_000

log = structlog.get_logger(__name__)


class Listener:
    """Holds a LISTEN connection and tells the worker's state what it hears.

    A notification missed while the connection is down is made up for by a wake-up
    after reconnecting: the claim loop then looks at the database afresh.
    """

    def __init__(
        self, url: str, state: WorkerState, on_cancel_hint: Callable[[set[int]], None]
    ) -> None:
        self._url = url
        self._state = state
        self._on_cancel_hint = on_cancel_hint
        self._wakeup_due = False
        self._cancel_hinted: set[int] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

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
                # What psycopg reads while a statement runs (a NOTIFY that came with
                # the second LISTEN's answer) it passes here, not to a backlog that
                # only its notifies(), unused, would drain.
                connection.add_notify_handler(self._notified)
                await connection.execute(f"LISTEN {WAKEUP_CHANNEL}")
                await connection.execute(f"LISTEN {CANCEL_CHANNEL}")
                listening = True
                self._state.wake_up(notified=True)
                await self._hear(connection)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if listening:
                log.warning("listener_disconnected", error=str(exc).strip(), retry_in_s=0)
                return 0.0
            raise DatabaseUnavailable(
                f"lost the LISTEN connection to {redact(self._url)}: {str(exc).strip()}"
            ) from exc
        return 0.0

    async def _hear(self, connection: psycopg.AsyncConnection[tuple[int]]) -> None:
        """Pass notifications on as they arrive, until the connection is lost. The
        event loop wakes for this only when the socket has data: psycopg's
        ``notifies()`` also wakes every 0.1 s to look again (its wait interval), ten
        wake-ups a second of a worker with nothing to do (bench/README.md, Round 9)."""
        pgconn, encoding = connection.pgconn, connection.info.encoding
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            try:
                pgconn.consume_input()  # raises once the server or the network is gone
                while (notification := pgconn.notifies()) is not None:
                    channel = notification.relname.decode(encoding, "replace")
                    self.hint(channel, notification.extra.decode(encoding, "replace"))
            except psycopg.OperationalError as exc:
                if not lost.done():
                    lost.set_exception(exc)

        socket = pgconn.socket
        loop.add_reader(socket, readable)
        try:
            readable()  # whatever came since the LISTEN's answer
            await lost
        finally:
            loop.remove_reader(socket)

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

    def _notified(self, notification: psycopg.Notify) -> None:
        self.hint(notification.channel, notification.payload)

    def hint(self, channel: str, payload: str) -> None:
        """Note one notification; the worker hears of it now or at the interval's end."""
        if channel == CANCEL_CHANNEL:
            room = MAX_HINTED_RUNS - len(self._cancel_hinted)
            parts = (part.strip() for part in payload.split(",")[: max(0, room)])
            # Run ids are bigint: anything else (a 5,000-digit "id" among them) is noise.
            self._cancel_hinted.update(
                int(part) for part in parts if part.isascii() and part.isdigit() and len(part) < 19
            )
        else:
            self._wakeup_due = True
        if self._flush is not None:
            return  # already scheduled: this hint goes with it
        loop = asyncio.get_running_loop()
        wait = self._last_flush + HINT_INTERVAL_SECONDS - loop.time()
        self._flush = loop.call_later(max(0.0, wait), self._pass_on)

    def _pass_on(self) -> None:
        self._flush = None
        self._last_flush = asyncio.get_running_loop().time()
        hinted, self._cancel_hinted = self._cancel_hinted, set()
        if hinted:
            self._on_cancel_hint(hinted)
        if self._wakeup_due:
            self._wakeup_due = False
            self._state.wake_up(notified=True)
