"""Start lag (``started_at - scheduled_for``, in ms) for the per-run log lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pgsched.models import Attempt


def start_lags(
    attempts: Sequence[Attempt], handed_over: float | None
) -> list[tuple[Attempt, float | None]]:
    """Each attempt with its start lag, begun at worker instant ``handed_over``: on the
    database clock of its claim, computed once per claim and slot (most of a batch
    share both: it was claimed together and held for one instant)."""
    lags: list[tuple[Attempt, float | None]] = []
    clock: object = None
    started_at: datetime | None = None
    slot: datetime | None = None
    lag: float | None = None
    for attempt in attempts:
        if attempt.clock is not clock or attempt.scheduled_for != slot:
            if attempt.clock is not clock:
                clock = attempt.clock
                started_at = None
                if attempt.clock is not None and handed_over is not None:
                    started_at = attempt.clock.database_time(handed_over)
            slot = attempt.scheduled_for
            lag = lag_ms(attempt, started_at)
        lags.append((attempt, lag))
    return lags


def lag_ms(attempt: Attempt, started_at: datetime | None) -> float | None:
    """``started_at - scheduled_for`` in ms; for a retry it includes the backoff."""
    if started_at is None:
        return None
    return round((started_at - attempt.scheduled_for).total_seconds() * 1000, 1)
