"""Planning once what the jobs of one claim share.

A claim of every-second jobs, or a herd on one slot, locks hundreds of jobs that the
planner would answer alike: same schedule, same ``next_run``, same rules.
"""

from __future__ import annotations

from datetime import datetime

from pgsched.engine.plannable import Plannable
from pgsched.engine.planner import JobPlan, plan_job

# Distinct plans SharedPlans keeps for one claim instant.
SHARED_PLANS = 4096


class SharedPlans:
    """``plan_job`` for one worker, planning once what the jobs of one claim share.

    Jobs with the same schedule (and zone, and name when H reads it), ``next_run``,
    rules and breaker, none of them running or queued, get the same plan at the same
    instant: every-second jobs, a herd on one slot. Plans are kept for one claim
    instant (the database's ``now()``) at a time.
    """

    def __init__(self) -> None:
        self._now: datetime | None = None
        self._plans: dict[tuple[object, ...], JobPlan] = {}
        # The last job's key and plan: a claim's rows come in due order, so the next
        # job mostly shares them, and comparing keys is cheaper than hashing one (each
        # row's next_run is a new instant, its hash worked out afresh): ~0.4 us a job.
        self._last: tuple[tuple[object, ...], JobPlan] | None = None

    def __call__(self, job: Plannable, now: datetime) -> JobPlan:
        if job.running_run_ids or job.queued_runs or job.unreadable is not None:
            return plan_job(job, now)
        if now != self._now or len(self._plans) >= SHARED_PLANS:
            self._now = now
            self._plans.clear()
            self._last = None
        schedule = job.schedule
        key = (
            schedule,
            job.timezone,
            job.name if "h" in schedule or "H" in schedule else None,
            job.next_run,
            job.overlap,
            job.misfire,
            job.misfire_threshold_seconds,
            job.breaker_state,
            job.breaker_open_until,
            job.breaker_probe_slot,
        )
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_job(job, now)
        self._last = (key, plan)
        return plan
