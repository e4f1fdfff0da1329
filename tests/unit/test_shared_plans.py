"""SharedPlans plans what jobs of one claim share once, and gives every job the plan
``plan_job`` would have given it alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsched.engine import shared_plans
from pgsched.engine.job_rows import ClaimedJob
from pgsched.engine.planner import JobPlan, plan_job
from pgsched.engine.shared_plans import SharedPlans
from tests.claimed_jobs import claimed_job

NOW = datetime(2026, 11, 23, 12, 0, 0, 500_000, tzinfo=UTC)


def job(**overrides: object) -> ClaimedJob:
    fields: dict[str, object] = {
        "schedule": "* * * * * *",
        "next_run": NOW - timedelta(seconds=2.5),
        **overrides,
    }
    return claimed_job(**fields)


jobs = st.builds(
    job,
    schedule=st.sampled_from(["* * * * * *", "*/2 * * * * *", "H * * * * *", "@every 3s", "bad"]),
    timezone=st.sampled_from(["UTC", "Europe/Berlin"]),
    next_run=st.sampled_from([None, NOW - timedelta(seconds=5), NOW + timedelta(seconds=0.3)]),
    overlap=st.sampled_from(["skip", "queue", "allow", "replace"]),
    misfire=st.sampled_from(["run_once", "skip", "run_all"]),
    misfire_threshold_seconds=st.sampled_from([0, 2, 60]),
    name=st.sampled_from(["a", "b"]),
    running_run_ids=st.sampled_from([(), (7,)]),
    queued_runs=st.sampled_from([0, 3]),
    breaker_state=st.sampled_from([None, "open", "half_open"]),
    breaker_open_until=st.sampled_from([None, NOW - timedelta(seconds=1)]),
)


@settings(max_examples=300, deadline=None)
@given(claims=st.lists(st.tuples(jobs, st.sampled_from([NOW, NOW + timedelta(seconds=1)]))))
def test_every_job_of_a_claim_gets_the_plan_it_would_get_alone(
    claims: list[tuple[ClaimedJob, datetime]],
) -> None:
    # Consecutive jobs alike or not, claims at one instant or the next: the last
    # job's plan is reused only for the same job at the same instant.
    shared = SharedPlans()
    for due, now in claims:
        assert shared(due, now) == plan_job(due, now)


def test_jobs_alike_share_one_plan_and_a_running_one_is_planned_alone() -> None:
    shared = SharedPlans()
    first, second = shared(job(name="a"), NOW), shared(job(name="b"), NOW)
    assert first is second  # no H: the name does not change the plan
    running = job()._replace(running_run_ids=[3])
    assert shared(running, NOW) is not first
    assert shared(job(name="a", schedule="H * * * * *"), NOW) is not shared(
        job(name="b", schedule="H * * * * *"), NOW
    )


def test_plans_are_kept_for_one_claim_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[ClaimedJob] = []

    def counted(due: ClaimedJob, now: datetime) -> JobPlan:
        calls.append(due)
        return plan_job(due, now)

    monkeypatch.setattr(shared_plans, "plan_job", counted)
    shared = SharedPlans()
    for _ in range(5):
        shared(job(), NOW)
    shared(job(), NOW + timedelta(seconds=1))
    assert len(calls) == 2  # once per instant
