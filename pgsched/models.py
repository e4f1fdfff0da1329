"""What the worker moves around: attempts to execute and their outcomes. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
class ClaimClock:
    """The database clock as a worker saw it at one claim, to map its monotonic clock
    (shared by the worker and its child processes) onto the database's.

    ``database_now`` was read at some worker instant between ``sent`` (the claim was
    sent) and ``received`` (its answer arrived). Mapped from ``sent``, a worker instant
    is never earlier on the database clock than the truth, so a recorded start is never
    flattered; mapped back from ``received``, a database instant is never reached early,
    so a slot held for its instant never starts before it.
    """

    database_now: datetime
    sent: float
    received: float

    def database_time(self, monotonic: float) -> datetime:
        """The database instant of worker instant ``monotonic``, at the latest."""
        return self.database_now + timedelta(seconds=monotonic - self.sent)

    def monotonic_at(self, instant: datetime) -> float:
        """The worker instant by which the database clock has surely reached ``instant``."""
        return self.received + (instant - self.database_now).total_seconds()


# Attempt, Outcome and EndedAttempt are made once per run on the worker's hot path and
# never changed after: they are not frozen, since a frozen dataclass sets each field
# through object.__setattr__ (Attempt's 19: ~3.5 us per run, ~0.5 us plain).


@dataclass
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
    clock: ClaimClock | None = None
    # Why the attempt fails without running (its job's row could not be read), if so.
    refusal: str | None = None
    # Seconds after which the attempt, still running, is flagged as slow (None: never).
    warn_after_seconds: int | None = None
    # Which shard of its slot this attempt is, of how many (0 of 1: no fan-out).
    shard: int = 0
    shards: int = 1
    # Whether the job had a circuit breaker when claimed: only then does its outcome
    # ask the database to move one.
    breaker: bool = False


@dataclass
class Outcome:
    """How an attempt ended. ``retryable`` is False for failures a retry cannot fix."""

    status: RunStatus
    error: str | None = None
    output: str | None = None
    retryable: bool = True
    # When the work began, by the monotonic clock, if the executor knows better than
    # the worker (a python attempt may wait for a free process first).
    started_monotonic: float | None = field(default=None, compare=False)

    @classmethod
    def succeeded(cls, output: str | None = None) -> Outcome:
        """A successful attempt."""
        return cls(RunStatus.SUCCEEDED, output=output)

    @classmethod
    def failed(cls, error: str, output: str | None = None, retryable: bool = True) -> Outcome:
        """A failed attempt; ``retryable=False`` for a permanent failure."""
        return cls(RunStatus.FAILED, error=error, output=output, retryable=retryable)


@dataclass(slots=True)
class EndedAttempt:
    """An attempt that ended, on its way to be recorded: how, for how long, since when.

    ``started_at`` is on the database clock (``ClaimClock.database_time``); None when
    the attempt never began (it was interrupted while waiting).
    """

    attempt: Attempt
    outcome: Outcome
    duration_ms: float
    started_at: datetime | None
