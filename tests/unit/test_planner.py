"""The planner: misfire and overlap policies on known slots, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgsched.engine.job_rows import ClaimedJob
from pgsched.engine.planner import COUNT_LIMIT, MAX_QUEUED_SLOTS, RUN_ALL_LIMIT, plan_job
from pgsched.models import RunStatus, Trigger
from tests.claimed_jobs import claimed_job

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def job(next_run: datetime | None, **overrides: object) -> ClaimedJob:
    return claimed_job(next_run=next_run, **overrides)


def summary(plan_runs: list) -> list[tuple[str, str, datetime]]:  # type: ignore[type-arg]
    return [(r.status.value, r.trigger.value, r.scheduled_for) for r in plan_runs]


def test_unscheduled_job_gets_its_next_slot_and_fires_nothing() -> None:
    plan = plan_job(job(None, schedule="*/5 * * * *"), NOW + timedelta(seconds=10))
    assert plan.runs == [] and plan.next_run == NOW + 5 * MINUTE


def test_slot_within_the_threshold_runs_late_as_scheduled() -> None:
    plan = plan_job(job(NOW), NOW + timedelta(seconds=59))
    assert summary(plan.runs) == [("running", "schedule", NOW)]
    assert plan.next_run == NOW + MINUTE


def test_run_once_after_downtime_records_the_gap_and_runs_the_on_time_slot() -> None:
    plan = plan_job(job(NOW - 10 * MINUTE), NOW + timedelta(seconds=30))
    gap, fired = plan.runs
    assert (gap.status, gap.scheduled_for, gap.missed_until, gap.missed_slots) == (
        RunStatus.SKIPPED,
        NOW - 10 * MINUTE,
        NOW - MINUTE,
        10,
    )
    assert "missed 10 slot(s)" in (gap.error or "")
    # NOW's slot is 30 s late, within the threshold: it runs, and stands in for
    # the catch-up run.
    assert (fired.status, fired.trigger, fired.scheduled_for) == (
        RunStatus.RUNNING,
        Trigger.SCHEDULE,
        NOW,
    )


def test_run_once_with_every_slot_late_fires_the_latest_as_catchup() -> None:
    plan = plan_job(job(NOW - 10 * MINUTE, schedule="*/10 * * * *"), NOW + 5 * MINUTE)
    assert summary(plan.runs) == [
        ("skipped", "schedule", NOW - 10 * MINUTE),
        ("running", "catchup", NOW),
    ]
    assert plan.runs[0].missed_slots == 1


def test_skip_policy_fires_nothing_late_and_records_every_missed_slot() -> None:
    plan = plan_job(job(NOW - 10 * MINUTE, misfire="skip"), NOW + timedelta(seconds=90))
    assert summary(plan.runs) == [
        ("skipped", "schedule", NOW - 10 * MINUTE),
        ("running", "schedule", NOW + MINUTE),  # 30 s late: within the threshold
    ]
    assert plan.runs[0].missed_slots == 11  # NOW-10 .. NOW, all more than 60 s late
    assert plan.next_run == NOW + 2 * MINUTE


def test_run_all_fires_every_missed_slot_up_to_its_limit() -> None:
    plan = plan_job(job(NOW - 5 * MINUTE, misfire="run_all"), NOW + timedelta(seconds=90))
    assert summary(plan.runs) == [
        ("running", "catchup", NOW - 5 * MINUTE),
        *[("pending", "catchup", NOW - k * MINUTE) for k in (4, 3, 2, 1, 0)],
        ("pending", "schedule", NOW + MINUTE),
    ]
    many = plan_job(job(NOW - 900 * MINUTE, misfire="run_all"), NOW + timedelta(seconds=90))
    assert many.runs[0].status is RunStatus.SKIPPED
    assert many.runs[0].missed_slots == 901 - RUN_ALL_LIMIT
    assert len(many.runs) == 2 + RUN_ALL_LIMIT


def test_more_missed_slots_than_countable_still_fire_once_and_leave_one_gap() -> None:
    start = NOW - timedelta(hours=3)
    plan = plan_job(job(start, schedule="* * * * * *"), NOW + timedelta(seconds=120))
    gap, fired = plan.runs
    assert gap.missed_slots is None and f"more than {COUNT_LIMIT}" in (gap.error or "")
    assert gap.scheduled_for == start
    assert fired.scheduled_for == NOW + timedelta(seconds=120)
    assert gap.missed_until == fired.scheduled_for - timedelta(seconds=1)
    assert plan.next_run == NOW + timedelta(seconds=121)


def test_overlap_skip_records_the_slot_while_the_job_runs() -> None:
    plan = plan_job(job(NOW, running_run_ids=(7,)), NOW)
    assert summary(plan.runs) == [("skipped", "schedule", NOW)]
    assert "run 7 of this job was still running" in (plan.runs[0].error or "")


def test_overlap_queue_waits_and_allow_runs_alongside() -> None:
    queued = plan_job(job(NOW, overlap="queue", running_run_ids=(7,)), NOW)
    assert summary(queued.runs) == [("pending", "schedule", NOW)]
    allowed = plan_job(job(NOW, overlap="allow", running_run_ids=(7,)), NOW)
    assert summary(allowed.runs) == [("running", "schedule", NOW)]


def test_overlap_replace_cancels_the_running_attempt() -> None:
    plan = plan_job(job(NOW, overlap="replace", running_run_ids=(7, 8)), NOW)
    assert summary(plan.runs) == [("running", "schedule", NOW)]
    assert plan.cancel_run_ids == (7, 8)


@pytest.mark.parametrize("schedule", ["@every 0s", "61 * * * *"])
def test_schedule_only_python_rejects_marks_the_job_and_rechecks_later(schedule: str) -> None:
    plan = plan_job(job(NOW, schedule=schedule), NOW)
    assert plan.runs == [] and plan.last_error
    assert plan.next_run == NOW + timedelta(minutes=5)


def test_a_job_the_planner_cannot_handle_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> object:
        raise ZeroDivisionError("planner bug")

    monkeypatch.setattr("pgsched.engine.planner._due_slots", broken)
    plan = plan_job(job(NOW), NOW)
    assert plan.runs == [] and "planner bug" in (plan.last_error or "")
    assert plan.next_run == NOW + timedelta(minutes=5)


def test_overlap_queue_keeps_a_bounded_line() -> None:
    plan = plan_job(
        job(NOW, overlap="queue", running_run_ids=(7,), queued_runs=MAX_QUEUED_SLOTS), NOW
    )
    assert summary(plan.runs) == [("skipped", "schedule", NOW)]
    assert "already wait" in (plan.runs[0].error or "")


def test_slots_skipped_behind_one_running_attempt_are_one_compact_row() -> None:
    every_second = job(NOW, schedule="* * * * * *", running_run_ids=(7,))
    plan = plan_job(every_second, NOW + timedelta(seconds=2))
    (row,) = plan.runs
    assert (row.status, row.scheduled_for, row.missed_until, row.missed_slots) == (
        RunStatus.SKIPPED,
        NOW,
        NOW + timedelta(seconds=2),
        3,
    )
    assert row.compact and "run 7 of this job was still running" in (row.error or "")
    assert plan.next_run == NOW + timedelta(seconds=3)


def test_a_compact_skip_after_a_misfire_gap_does_not_reach_back_over_it() -> None:
    plan = plan_job(job(NOW - 10 * MINUTE, running_run_ids=(7,)), NOW + timedelta(seconds=30))
    gap, skipped = plan.runs
    assert gap.missed_slots == 10 and not gap.compact
    assert skipped.status is RunStatus.SKIPPED and not skipped.compact


def test_a_job_claimed_ahead_fires_exactly_its_next_slot() -> None:
    every_second = job(NOW, schedule="* * * * * *")
    plan = plan_job(every_second, NOW - timedelta(milliseconds=300))
    assert summary(plan.runs) == [("running", "schedule", NOW)]
    assert plan.next_run == NOW + timedelta(seconds=1)


def test_a_job_claimed_ahead_while_it_runs_is_left_for_its_slot() -> None:
    plan = plan_job(job(NOW, running_run_ids=(7,)), NOW - timedelta(milliseconds=300))
    assert plan.runs == [] and plan.next_run == NOW


def test_a_burst_of_slots_runs_the_first_and_records_the_rest_as_one_row() -> None:
    every_second = job(NOW, schedule="* * * * * *")
    first, skipped = plan_job(every_second, NOW + timedelta(seconds=4)).runs
    assert (first.status, first.scheduled_for) == (RunStatus.RUNNING, NOW)
    assert (skipped.status, skipped.scheduled_for, skipped.missed_until, skipped.missed_slots) == (
        RunStatus.SKIPPED,
        NOW + timedelta(seconds=1),
        NOW + timedelta(seconds=4),
        4,
    )
