"""Notifications are hints: merged, bounded, and never more than a reason to look."""

from __future__ import annotations

import asyncio

from pgsched.engine.listener import CANCEL_CHANNEL, HINT_INTERVAL_SECONDS, WAKEUP_CHANNEL, Listener


class Heard:
    """Stands for the worker's state (wake-ups) and its recovery (cancel hints)."""

    def __init__(self) -> None:
        self.wakeups = 0
        self.cancel_hints: list[set[int]] = []

    def listener(self) -> Listener:
        return Listener("unused", self, self.cancel_hints.append)  # type: ignore[arg-type]

    def wake_up(self, notified: bool = False) -> None:
        self.wakeups += 1


def test_a_flood_of_notifications_reaches_the_worker_a_bounded_number_of_times() -> None:
    heard = Heard()

    async def flood() -> None:
        listener = heard.listener()
        loop = asyncio.get_running_loop()
        until = loop.time() + 5 * HINT_INTERVAL_SECONDS
        while loop.time() < until:
            for _ in range(100):
                listener.hint(WAKEUP_CHANNEL, "")
                listener.hint(CANCEL_CHANNEL, "7,8")
            await asyncio.sleep(0.001)
        await asyncio.sleep(2 * HINT_INTERVAL_SECONDS)

    asyncio.run(flood())
    # Thousands of notifications, merged into one hint per interval (and the first).
    assert 1 <= heard.wakeups <= 7
    assert len(heard.cancel_hints) == heard.wakeups
    assert all(hint == {7, 8} for hint in heard.cancel_hints)


def test_a_single_notification_is_passed_on_at_once() -> None:
    heard = Heard()

    async def one() -> float:
        listener = heard.listener()
        loop = asyncio.get_running_loop()
        started = loop.time()
        listener.hint(CANCEL_CHANNEL, "42")
        while not heard.cancel_hints:
            await asyncio.sleep(0.001)
        return loop.time() - started

    assert asyncio.run(one()) < HINT_INTERVAL_SECONDS
    assert heard.cancel_hints == [{42}]
    assert heard.wakeups == 0


def test_cancel_payloads_that_are_no_run_ids_are_ignored() -> None:
    heard = Heard()

    async def noise() -> None:
        listener = heard.listener()
        listener.hint(CANCEL_CHANNEL, "9" * 5000 + ",²,-1, 12 ,x,1e3,99999999999999999999,")
        await asyncio.sleep(2 * HINT_INTERVAL_SECONDS)

    asyncio.run(noise())
    assert heard.cancel_hints == [{12}]
