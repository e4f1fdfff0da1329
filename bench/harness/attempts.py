"""No-op python attempts as a claim hands them over, for the in-process CPU benchmarks
(``bench.log_cpu``, ``bench.python_path_cpu``): no database involved."""

from __future__ import annotations

from datetime import datetime

from bench.harness.database import NOOP_TARGET
from pgsched.models import Attempt, ClaimClock, Trigger


def noop_attempts(
    first: int, count: int, clock: ClaimClock, scheduled_for: datetime, jobs: int
) -> list[Attempt]:
    """Attempts with run ids ``first`` .. ``first + count - 1`` of the slot
    ``scheduled_for``, claimed at ``clock``; run n belongs to job n % ``jobs``
    (``noop-<n % jobs>``): as many job names as a worker of that many jobs sees."""
    return [
        Attempt(
            run_id=run_id,
            fence=1,
            job_id=run_id % jobs,
            job_name=f"noop-{run_id % jobs}",
            kind="python",
            target=NOOP_TARGET,
            args={},
            scheduled_for=scheduled_for,
            attempt=1,
            max_attempts=1,
            timeout_seconds=60,
            trigger=Trigger.SCHEDULE,
            clock=clock,
        )
        for run_id in range(first, first + count)
    ]
