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


def record_shard(directory: str, fail_shard: int, seconds: float, context: RunContext) -> None:
    """Notes which shard of how many it ran as, takes ``seconds``, and fails as shard
    ``fail_shard`` on its first attempt (or always, when ``fail_shard`` is negative:
    shard ``-fail_shard - 1``)."""
    note = Path(directory) / f"{context.run_id}.txt"
    note.write_text(
        f"{context.scheduled_for.isoformat()} {context.shard} {context.shards} {context.attempt}"
    )
    time.sleep(seconds)
    always = fail_shard < 0 and context.shard == -fail_shard - 1
    if always or (context.shard == fail_shard and context.attempt == 1):
        raise RuntimeError(f"shard {context.shard} failed on purpose")


def count_shard_runs(context: RunContext) -> str:
    """Counts the runs of its own shard in that shard's checkpoint."""
    count = (context.checkpoint or 0) + 1
    context.save_checkpoint(count)
    return f"shard {context.shard}: {count}"


def note_start(directory: str, label: str, seconds: float) -> None:
    """Leaves a file named by when it began (monotonic ns) and ``label``, then sleeps."""
    (Path(directory) / f"{time.monotonic_ns()}-{label}").touch()
    time.sleep(seconds)
