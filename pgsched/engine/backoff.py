"""Reconnect delays: exponential with full jitter, so workers that lost the database
together do not reconnect in one burst."""

from __future__ import annotations

import random

FIRST_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 10.0


class Backoff:
    """Successive delays after failures; ``reset`` after a success."""

    def __init__(self, first: float = FIRST_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS) -> None:
        self._first = first
        self._cap = cap
        self._failures = 0

    def next_delay(self) -> float:
        """The delay before the next try."""
        ceiling = min(self._cap, self._first * 2**self._failures)
        if ceiling < self._cap:
            # Counting on past the cap would overflow the float after ~1,000 failures:
            # a database away for hours must not end the worker.
            self._failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from the first delay."""
        self._failures = 0
