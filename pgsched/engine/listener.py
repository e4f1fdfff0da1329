"""LISTEN/NOTIFY wake-ups: new or changed jobs, manual runs, and replaced attempts.

Any login that can connect to the database can NOTIFY any channel, so a notification
is only ever a hint to look at the database: ``pgsched_wakeup`` makes the worker look
for due work sooner, ``pgsched_cancel`` makes it ask whether the named runs it holds
are still its own, and it stops one only when the database says it was taken away
(``Recovery.check_hinted``). Hints are merged: however many arrive, each kind reaches
the worker at most once per ``HINT_INTERVAL_SECONDS``, so a flood of them costs a
bounded number of looks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog

from pgsched.db.connection import CONNECT_TIMEOUT_SECONDS
from pgsched.engine.backoff import Backoff

WAKEUP_CHANNEL = "pgsched_wakeup"
CANCEL_CHANNEL = "pgsched_cancel"
# Short enough that run_now and replace stay prompt, long enough that a NOTIFY flood
# cannot turn into a claim loop without pause.
HINT_INTERVAL_SECONDS = 0.05
# A cancel hint naming more runs than a worker could hold is cut to this many.
MAX_HINTED_RUNS = 10_000

log = structlog.get_logger(__name__)


class Listener:
    """Holds a LISTEN connection and passes each channel's hints on, merged.

    A notification missed while the connection is down is made up for by a wake-up
    after reconnecting: the claim loop then looks at the database afresh.
    """

    def __init__(
        self,
        url: str,
        on_wakeup: Callable[[], None],
        on_cancel: Callable[[set[int]], None],
    ) -> None:
        self._url = url
        self._on_wakeup = on_wakeup
        self._on_cancel = on_cancel
        self._wakeup_due = False
        self._cancel_hinted: set[int] = set()
        self._flush: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

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
                        self.hint(notification.channel, notification.payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                delay = backoff.next_delay()
                log.warning("listener_disconnected", error=str(exc).strip(), retry_in_s=delay)
                await asyncio.sleep(delay)

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
            self._on_cancel(hinted)
        if self._wakeup_due:
            self._wakeup_due = False
            self._on_wakeup()
