"""The planner under a circuit breaker: while open, slots are recorded skipped with the
reason; the first slot after the cool-down is the probe; while half-open, nothing else
runs. A closed breaker changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgsched.engine.planner import plan_job
from pgsched.models import RunStatus, Trigger
from tests.unit.test_planner import MINUTE, NOW, job, summary

SECOND = timedelta(seconds=1)


def test_a_closed_breaker_plans_as_without_one() -> None:
    assert plan_job(job(NOW, breaker_state="closed"), NOW + SECOND) == plan_job(
        job(NOW), NOW + SECOND
    )


def test_slots_due_while_open_are_one_compact_skip_record_saying_until_when() -> None:
    due = job(
        NOW - 2 * MINUTE,
        overlap="allow",
        misfire_threshold_seconds=600,
        breaker_state="open",
        breaker_open_until=NOW + MINUTE,
    )
    plan = plan_job(due, NOW + SECOND)
    (skipped,) = plan.runs
    assert (skipped.status, skipped.scheduled_for, skipped.missed_until, skipped.missed_slots) == (
        RunStatus.SKIPPED,
        NOW - 2 * MINUTE,
        NOW,
        3,
    )
    assert skipped.error == "circuit breaker open until 2026-11-23T12:01:00Z"
    assert skipped.compact  # a later claim's skips extend this record
    assert plan.breaker_probe is None and plan.next_run == NOW + MINUTE


def test_the_first_slot_after_the_cool_down_is_the_probe_the_others_wait() -> None:
    due = job(
        NOW - 2 * MINUTE,
        overlap="allow",
        misfire="run_all",
        misfire_threshold_seconds=600,
        breaker_state="open",
        breaker_open_until=NOW - MINUTE - SECOND,
    )
    plan = plan_job(due, NOW + SECOND)
    assert summary(plan.runs) == [
        ("skipped", "schedule", NOW - 2 * MINUTE),
        ("running", "schedule", NOW - MINUTE),
        ("skipped", "schedule", NOW),
    ]
    assert plan.breaker_probe == NOW - MINUTE
    assert (plan.runs[2].error or "").startswith(
        "circuit breaker half-open: waiting for the probe slot 2026-11-23T11:59:00Z"
    )


def test_while_half_open_every_slot_waits_for_the_probe() -> None:
    due = job(NOW, breaker_state="half_open", breaker_probe_slot=NOW - MINUTE)
    plan = plan_job(due, NOW + SECOND)
    (skipped,) = plan.runs
    assert skipped.status is RunStatus.SKIPPED and skipped.compact
    assert skipped.error == (
        "circuit breaker half-open: waiting for the probe slot 2026-11-23T11:59:00Z"
    )
    assert plan.breaker_probe is None


def test_a_probe_the_overlap_rule_skips_is_no_probe() -> None:
    due = job(NOW, running_run_ids=(5,), breaker_state="open", breaker_open_until=NOW - MINUTE)
    plan = plan_job(due, NOW + SECOND)
    assert [run.status for run in plan.runs] == [RunStatus.SKIPPED]
    assert plan.breaker_probe is None


@pytest.mark.parametrize(
    ("state", "until", "claimed"),
    [("open", NOW + MINUTE, False), ("half_open", None, False), ("open", NOW, True)],
    ids=["open", "half-open", "cool-down-over"],
)
def test_a_slot_claimed_ahead_is_held_back_unless_it_is_the_probe(
    state: str, until: object, claimed: bool
) -> None:
    due = job(NOW, breaker_state=state, breaker_open_until=until)
    plan = plan_job(due, NOW - timedelta(milliseconds=300))
    if claimed:
        assert summary(plan.runs) == [("running", Trigger.SCHEDULE.value, NOW)]
        assert plan.breaker_probe == NOW
    else:
        assert plan.runs == [] and plan.next_run == NOW
