"""Reconnect delays grow to their cap and stay there, however long the outage."""

from __future__ import annotations

from pgsched.engine.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0]
    for ceiling in ceilings:
        assert ceiling / 2 <= backoff.next_delay() <= ceiling


def test_hours_of_failures_keep_the_delay_at_the_cap() -> None:
    backoff = Backoff(first=0.2, cap=10.0)
    for _ in range(5000):  # about 14 hours at 10 s each
        delay = backoff.next_delay()
    assert 5.0 <= delay <= 10.0


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0
