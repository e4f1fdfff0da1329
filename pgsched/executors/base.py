"""The contract every executor keeps, and the output limit they share.

An executor never raises for a job's own failure: it returns ``Outcome.failed``.
The worker enforces ``timeout_seconds`` (but the python executor does, from when an
attempt really begins in its process), overlap ``replace`` and shutdown by
cancelling the ``execute`` coroutine; an executor must have *stopped the work*
(killed the process group, cancelled the statement, closed the socket) before it
lets ``asyncio.CancelledError`` propagate, so a timed-out job has no later effects.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Protocol

from pgsched.models import Attempt, Outcome

# Runs keep at most this much output; the rest is dropped with a marker.
OUTPUT_LIMIT_CHARS = 64_000
ERROR_LIMIT_CHARS = 16_000


class Executor(Protocol):
    """Runs attempts of one job kind."""

    async def start(self) -> None:
        """Acquire long-lived resources (child processes, connection pools)."""

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run ``attempt`` to its end; stop its work before propagating cancellation."""

    async def close(self) -> None:
        """Release resources; stop any work still running."""


def truncate(text: str, limit: int = OUTPUT_LIMIT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}\n... [{dropped} more characters truncated]"


def signal_group(group: int, signum: signal.Signals = signal.SIGKILL) -> None:
    """Send ``signum`` to every process in ``group`` (a child started in a session of
    its own, so the group holds all it started); an empty group is already stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)
