"""``python -m tests.acceptance.frozen_worker worker ...``: ``pgsched worker`` that stops
itself (SIGSTOP) inside its first claim of due jobs, once the claim statement has locked
the jobs and the worker's own row (FOR SHARE) and before it plans them.

That is a worker frozen inside a claim transaction (a paused VM, a long GC stall), at a
point a SIGSTOP sent from outside hits only by chance: a claim lasts milliseconds.
SIGCONT lets the claim go on and commit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from datetime import datetime

from pgsched.cli import main
from pgsched.engine.claims import Claims, Planner
from pgsched.engine.plannable import Plannable
from pgsched.engine.planner import JobPlan
from pgsched.engine.rows import ClaimResult

_claim_due_jobs = Claims.claim_due_jobs
_frozen = False


async def _claim_then_freeze(
    self: Claims,
    worker_id: str,
    queues: Sequence[str],
    limit: int,
    plan: Planner,
    ahead_seconds: float = 0.0,
) -> ClaimResult:
    def freeze_once(job: Plannable, now: datetime) -> JobPlan:
        global _frozen
        if not _frozen:
            _frozen = True
            os.kill(os.getpid(), signal.SIGSTOP)
        return plan(job, now)

    return await _claim_due_jobs(self, worker_id, queues, limit, freeze_once, ahead_seconds)


Claims.claim_due_jobs = _claim_then_freeze  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
