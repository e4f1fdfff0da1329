"""Job targets for the acceptance tests (imported by worker child processes)."""

from __future__ import annotations

import time
from pathlib import Path

from pgsched.context import RunContext


def noop() -> None:
    """Does nothing: measures the scheduler, not the job."""


def sleep(seconds: float) -> None:
    """Takes a while."""
    time.sleep(seconds)


def sleep_then_touch(seconds: float, path: str) -> None:
    """A side effect that must never happen when the attempt is stopped in time."""
    time.sleep(seconds)
    Path(path).touch()


def count_runs(context: RunContext) -> int:
    """Counts its own runs in the job's checkpoint."""
    count = (context.checkpoint or 0) + 1
    context.save_checkpoint(count)
    return count


def fail_unless_exists(path: str) -> None:
    """Fails until ``path`` exists: a dependency that was down, then came back."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} is not there yet")
