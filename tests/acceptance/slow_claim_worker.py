"""``python -m tests.acceptance.slow_claim_worker worker ...``: ``pgsched worker`` whose
claims ahead that take slots seem ``SLOWER`` times as long as they are: once a claim
has committed, it waits the difference before it answers.

Beside a plain worker it has the larger claim latency, so the wider fire-ahead window,
and wakes first for every instant: the case where a worker used to claim an instant's
other share too before the other woke (tests/acceptance/test_claims_ahead_split.py).
Twice: the ratio at which a late point at two latencies left the plain worker no
time (2), half the one a late point at one latency allows (4). The worker that wakes
first is also the busier one, its real claims about 1.4 times as long in the claims
logs of these tests (bench/README.md, Round 8), which takes main past its bound and
leaves the branch a margin; at 2.5 times the branch lost its margin in 3 of 11 runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from pgsched.cli import main
from pgsched.engine.claims import Claims, Planner
from pgsched.engine.rows import ClaimResult

SLOWER = 2.0

_claim_due_jobs = Claims.claim_due_jobs


async def _slow_claim(
    self: Claims,
    worker_id: str,
    queues: Sequence[str],
    limit: int,
    plan: Planner,
    ahead_seconds: float = 0.0,
) -> ClaimResult:
    began = time.monotonic()
    result = await _claim_due_jobs(self, worker_id, queues, limit, plan, ahead_seconds)
    if ahead_seconds > 0 and result.attempts:
        await asyncio.sleep((SLOWER - 1) * (time.monotonic() - began))
    return result


Claims.claim_due_jobs = _slow_claim  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
