"""The LISTEN connection wakes the worker's event loop only when something arrives."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from pgsched.engine.listener import CANCEL_CHANNEL, WAKEUP_CHANNEL, Listener

IDLE_SECONDS = 1.0
LISTENING_TIMEOUT_SECONDS = 10.0


class Heard:
    """Stands for the worker's state (wake-ups) and its recovery (cancel hints)."""

    def __init__(self) -> None:
        self.wakeups = 0
        self.woken = asyncio.Event()
        self.cancel_hints: list[set[int]] = []

    def wake_up(self, notified: bool = False) -> None:
        self.wakeups += 1
        self.woken.set()


class Counting:
    """Counts the timers and socket watches armed on the loop while it is on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.on = False
        self.armed = 0
        for name in ("call_at", "add_reader"):
            self._wrap(loop, name)

    def _wrap(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        original = getattr(loop, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.armed += self.on
            return original(*args, **kwargs)

        setattr(loop, name, counted)


async def _listening(heard: Heard, listener: Listener) -> asyncio.Task[None]:
    task = asyncio.create_task(listener.run())
    async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
        await heard.woken.wait()  # the wake-up that follows LISTEN
    heard.woken.clear()
    return task


def test_an_idle_listener_arms_no_timer_and_hears_notifications_at_once(database_url: str) -> None:
    heard = Heard()

    async def scenario() -> tuple[int, float]:
        counting = Counting(asyncio.get_running_loop())
        listener = Listener(database_url, heard, heard.cancel_hints.append)  # type: ignore[arg-type]
        task = await _listening(heard, listener)
        try:
            counting.on = True
            await asyncio.sleep(IDLE_SECONDS)  # the one timer armed here is this sleep's
            counting.on = False
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True
            ) as other:
                sent = asyncio.get_running_loop().time()
                await other.execute(f"NOTIFY {WAKEUP_CHANNEL}")
                async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
                    await heard.woken.wait()
                heard_after = asyncio.get_running_loop().time() - sent
                await other.execute(f"NOTIFY {CANCEL_CHANNEL}, '5,6'")
                async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
                    while not heard.cancel_hints:
                        await asyncio.sleep(0.01)
        finally:
            task.cancel()
        return counting.armed, heard_after

    armed, heard_after = asyncio.run(scenario())
    # psycopg's notifies() armed a timer and a reader every 0.1 s: about 20 here.
    assert armed <= 1
    assert heard_after < 0.5
    assert heard.cancel_hints == [{5, 6}]


def test_a_listener_whose_connection_is_ended_listens_again(database_url: str) -> None:
    heard = Heard()

    async def scenario() -> int:
        listener = Listener(database_url, heard, heard.cancel_hints.append)  # type: ignore[arg-type]
        task = await _listening(heard, listener)
        try:
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True
            ) as other:
                await other.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'pgsched-worker-listen'"
                    " AND datname = current_database()"
                )
                # Reconnected: the wake-up that makes up for what it may have missed.
                async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
                    await heard.woken.wait()
                heard.woken.clear()
                await other.execute(f"NOTIFY {WAKEUP_CHANNEL}")
                async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
                    await heard.woken.wait()
        finally:
            task.cancel()
        return heard.wakeups

    assert asyncio.run(scenario()) == 3


def test_a_notification_read_with_a_statements_answer_is_heard(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard = Heard()
    hear = Listener._hear

    async def notified_first(self: Listener, connection: psycopg.AsyncConnection[Any]) -> None:
        # A session hears its own NOTIFY: psycopg reads it with this statement's answer,
        # as it would one another session sent just before (between the LISTENs, say).
        await connection.execute(f"NOTIFY {CANCEL_CHANNEL}, '7'")
        await hear(self, connection)

    monkeypatch.setattr(Listener, "_hear", notified_first)

    async def scenario() -> None:
        listener = Listener(database_url, heard, heard.cancel_hints.append)  # type: ignore[arg-type]
        task = await _listening(heard, listener)
        try:
            async with asyncio.timeout(LISTENING_TIMEOUT_SECONDS):
                while not heard.cancel_hints:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()

    asyncio.run(scenario())
    assert heard.cancel_hints == [{7}]
