"""Scheduling new jobs in a batch: jobs alike but for their names share one plan, and
every job gets the plan it would get alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pgsched.engine.claims import first_plans
from pgsched.engine.planner import DueJob, JobPlan, plan_job
from pgsched.engine.rows import due_job

NOW = datetime(2026, 12, 2, 14, 7, 31, 250_000, tzinfo=UTC)


def new_job(job_id: int, schedule: str, timezone: str = "UTC") -> dict[str, Any]:
    """A row as claim_unscheduled_jobs returns it."""
    return {
        "id": job_id,
        "name": f"job-{job_id}",
        "schedule": schedule,
        "timezone": timezone,
        "overlap": "skip",
        "misfire": "run_once",
        "misfire_threshold_seconds": 60,
        "next_run": None,
        "running_run_ids": [],
        "queued_runs": 0,
        "database_now": NOW,
    }


def counting_planner(calls: list[DueJob]) -> Any:
    def plan(job: DueJob, now: datetime) -> JobPlan:
        calls.append(job)
        return plan_job(job, now)

    return plan


def test_jobs_on_one_schedule_are_planned_once_per_batch() -> None:
    jobs = [new_job(n, "0 0 1 1 *") for n in range(500)]
    calls: list[DueJob] = []
    plans = first_plans(jobs, counting_planner(calls))
    assert len(calls) == 1
    assert [job["id"] for job, _ in plans] == list(range(500))
    assert {plan.next_run for _, plan in plans} == {datetime(2027, 1, 1, tzinfo=UTC)}


def test_every_job_gets_the_plan_it_would_get_alone() -> None:
    schedules = [
        ("*/5 * * * *", "UTC"),
        ("*/5 * * * *", "Europe/Berlin"),
        ("H H * * *", "UTC"),
        ("0 9 * * THU", "UTC"),
        ("@hourly", "UTC"),
        ("@every 90s", "UTC"),
        ("61 * * * *", "UTC"),
    ]
    jobs = [new_job(n, *schedules[n % len(schedules)]) for n in range(70)]
    calls: list[DueJob] = []
    plans = first_plans(jobs, counting_planner(calls))
    alone = [plan_job(due_job(job), NOW) for job in jobs]
    assert [plan for _, plan in plans] == alone
    # H picks from each name; THU and @hourly have an h too: those are planned one by one.
    assert len(calls) == 4 + 3 * 10
    assert len({plan.next_run for (job, plan) in plans if job["schedule"] == "H H * * *"}) > 1
