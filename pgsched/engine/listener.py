"""LISTEN/NOTIFY wake-ups: new or changed jobs, manual runs, and replaced attempts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS
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

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == CANCEL_CHANNEL:
            run_ids = [int(part) for part in payload.split(",") if part.strip().isdigit()]
            self._on_cancel(run_ids)
        else:
            self._on_wakeup()
