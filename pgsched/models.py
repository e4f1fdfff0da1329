"""What the worker moves around: attempts to execute and their outcomes. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """The status of a run (one attempt), as stored in ``pgsched.runs.status``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    """Why a run exists, as stored in ``pgsched.runs.trigger``."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"
    CATCHUP = "catchup"


@dataclass(frozen=True)
class Attempt:
    """One claimed run, with the job definition as it was when the run was claimed.

    ``fence`` is the claim's fencing token: the outcome is recorded only while the
    run still carries it, so a worker presumed dead cannot overwrite the record of
    an attempt taken from it.
    """

    run_id: int
    fence: int
    job_id: int
    job_name: str
    kind: str
    target: str
    args: dict[str, Any]
    scheduled_for: datetime
    attempt: int
    max_attempts: int
    timeout_seconds: int
    trigger: Trigger
    checkpoint: Any = None
    # Why the attempt fails without running (its job's row could not be read), if so.
    refusal: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended. ``retryable`` is False for failures a retry cannot fix."""

    status: RunStatus
    error: str | None = None
    output: str | None = None
    retryable: bool = True

    @classmethod
    def succeeded(cls, output: str | None = None) -> Outcome:
        """A successful attempt."""
        return cls(RunStatus.SUCCEEDED, output=output)

    @classmethod
    def failed(cls, error: str, output: str | None = None, retryable: bool = True) -> Outcome:
        """A failed attempt; ``retryable=False`` for a permanent failure."""
        return cls(RunStatus.FAILED, error=error, output=output, retryable=retryable)
