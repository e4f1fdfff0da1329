"""The chaos harness's audit finds what it is meant to find, on crafted rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chaos.audit import (
    CLAIM_SKEW,
    Paused,
    Window,
    check_clean_exits,
    check_fencing,
    check_first_attempts,
    check_no_overlap,
    check_nothing_left,
    check_retries,
    claimed_after_declared_dead,
    retry_bound,
)

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
WINDOW = Window(T0, T0 + 4 * SECOND)  # five slots: :00 to :04
LEASE = 5
POLL = 0.5


def job(job_id: int = 1, **overrides: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": f"job-{job_id}",
        "schedule": "* * * * * *",
        "timezone": "UTC",
        "overlap": "skip",
        "max_attempts": 1,
        **overrides,
    }


_ids = iter(range(1, 10_000))


def run(second: float, attempt: int = 1, job_id: int = 1, **overrides: Any) -> dict[str, Any]:
    """A run of ``job_id`` for the slot ``second`` s after T0, succeeded in 100 ms."""
    slot = T0 + timedelta(seconds=second)
    started = slot + timedelta(milliseconds=10)
    return {
        "id": next(_ids),
        "job_id": job_id,
        "job_name": f"job-{job_id}",
        "scheduled_for": slot,
        "attempt": attempt,
        "status": "succeeded",
        "trigger": "schedule" if attempt == 1 else "retry",
        "worker_id": "w-a",
        "started_at": started,
        "finished_at": started + timedelta(milliseconds=100),
        "created_at": started,
        "available_at": None,
        "duration_ms": 100.0,
        "error": None,
        "output": None,
        "fence": 1,
        "missed_until": None,
        "missed_slots": None,
        **overrides,
    }


def skipped(second: float, **overrides: Any) -> dict[str, Any]:
    return run(second, status="skipped", worker_id=None, started_at=None, **overrides)


def worker(worker_id: str = "w-a", last_heartbeat_at: datetime = T0) -> dict[str, Any]:
    return {"id": worker_id, "last_heartbeat_at": last_heartbeat_at, "lease_seconds": LEASE}


def every_slot() -> list[dict[str, Any]]:
    return [run(second) for second in range(5)]


# -- 1. exactly one first attempt per slot -------------------------------------------


def test_every_slot_once_passes() -> None:
    check = check_first_attempts([job()], every_slot(), WINDOW)
    assert check.ok, check.violations
    assert check.checked == 5


def test_a_duplicate_first_attempt_is_reported() -> None:
    rows = [*every_slot(), run(2)]
    check = check_first_attempts([job()], rows, WINDOW)
    assert len(check.violations) == 1
    assert "slot 12:00:02Z: 2 first attempts" in check.violations[0]


def test_a_missing_slot_is_reported() -> None:
    rows = [r for r in every_slot() if r["scheduled_for"] != T0 + 3 * SECOND]
    check = check_first_attempts([job()], rows, WINDOW)
    assert check.violations == ["job-1 slot 12:00:03Z: no first attempt and no gap record"]


def test_a_gap_record_stands_for_the_slots_it_covers() -> None:
    gap = skipped(1, missed_until=T0 + 3 * SECOND, missed_slots=3)
    check = check_first_attempts([job()], [run(0), gap, run(4, trigger="catchup")], WINDOW)
    assert check.ok, check.violations


def test_a_slot_both_run_and_inside_a_gap_is_reported() -> None:
    gap = skipped(1, missed_until=T0 + 3 * SECOND, missed_slots=3)
    check = check_first_attempts([job()], [*every_slot(), gap], WINDOW)
    assert len(check.violations) == 3  # slots 1, 2 and 3


def test_a_gap_that_miscounts_its_slots_is_reported() -> None:
    gap = skipped(1, missed_until=T0 + 3 * SECOND, missed_slots=7)
    check = check_first_attempts([job()], [run(0), gap, run(4)], WINDOW)
    assert check.violations == [
        f"job-1: gap run {gap['id']} says 7 slot(s) from 12:00:01Z to 12:00:03Z, the schedule has 3"
    ]


def test_a_first_attempt_off_the_schedule_is_reported() -> None:
    check = check_first_attempts([job()], [*every_slot(), run(2.5)], WINDOW)
    assert len(check.violations) == 1
    assert "12:00:02.500Z, not a slot" in check.violations[0]


# -- 2. no two attempts at once ----------------------------------------------------


def test_overlapping_attempts_of_one_slot_are_reported() -> None:
    first = run(0, status="lost", finished_at=T0 + 10 * SECOND)
    retry = run(0, attempt=2, started_at=T0 + 5 * SECOND, finished_at=T0 + 6 * SECOND)
    result = check_no_overlap([job(overlap="allow")], [first, retry], T0 + 60 * SECOND)
    assert len(result.check.violations) == 1
    assert f"run {first['id']}" in result.check.violations[0]


def test_overlapping_runs_of_a_skip_job_are_reported() -> None:
    long_run = run(0, finished_at=T0 + 3 * SECOND)
    check = check_no_overlap([job()], [long_run, run(1)], T0 + 60 * SECOND).check
    assert len(check.violations) == 1
    assert "runs overlap by" in check.violations[0]


def test_a_run_left_running_overlaps_everything_after_it() -> None:
    stuck = run(0, status="running", finished_at=None)
    check = check_no_overlap([job()], [stuck, run(3)], T0 + 60 * SECOND).check
    assert len(check.violations) == 1


def test_claim_skew_within_the_tolerance_is_not_an_overlap() -> None:
    first = run(0, finished_at=T0 + 1.2 * SECOND)
    second = run(1, started_at=T0 + SECOND)
    result = check_no_overlap([job()], [first, second], T0 + 60 * SECOND)
    assert result.check.ok
    assert timedelta(0) < result.largest_skew <= CLAIM_SKEW


def test_allow_jobs_may_run_side_by_side() -> None:
    long_run = run(0, finished_at=T0 + 3 * SECOND)
    assert check_no_overlap([job(overlap="allow")], [long_run, run(1)], T0).check.ok


# -- 3. lost attempts are retried in time ------------------------------------------


def lost(second: float, reaped_after: float, **overrides: Any) -> dict[str, Any]:
    """Attempt 1 of the slot, lost ``reaped_after`` s after its worker's last beat (T0)."""
    return run(second, status="lost", finished_at=T0 + reaped_after * SECOND, **overrides)


def test_a_lost_run_without_a_retry_is_reported() -> None:
    rows = [lost(0, 6)]
    result = check_retries([job(max_attempts=3)], rows, [worker()], [], POLL)
    assert result.check.violations == [
        f"job-1: lost run {rows[0]['id']} (attempt 1 of 3, slot 12:00:00Z) has no retry"
    ]


def test_a_lost_run_on_its_last_attempt_needs_no_retry() -> None:
    result = check_retries([job(max_attempts=1)], [lost(0, 6)], [worker()], [], POLL)
    assert result.check.ok and result.lost == 1 and result.with_attempts_left == 0


def test_a_retry_in_time_passes_and_is_measured() -> None:
    retry = run(0, attempt=2, created_at=T0 + 6 * SECOND)
    result = check_retries([job(max_attempts=3)], [lost(0, 6), retry], [worker()], [], POLL)
    assert result.check.ok
    assert result.delays == [6 * SECOND]


def test_a_late_retry_is_reported() -> None:
    late = retry_bound(LEASE, POLL) + SECOND
    retry = run(0, attempt=2, created_at=T0 + late)
    rows = [lost(0, late.total_seconds()), retry]
    result = check_retries([job(max_attempts=3)], rows, [worker()], [], POLL)
    assert len(result.check.violations) == 1
    assert "after the loss" in result.check.violations[0]


def test_database_downtime_does_not_count_against_the_retry() -> None:
    late = retry_bound(LEASE, POLL) + SECOND
    retry = run(0, attempt=2, created_at=T0 + late)
    outage = (T0 + SECOND, T0 + 4 * SECOND)
    rows = [lost(0, late.total_seconds()), retry]
    assert check_retries([job(max_attempts=3)], rows, [worker()], [outage], POLL).check.ok


# -- 4. nothing left running or pending --------------------------------------------


def test_a_running_row_at_the_end_is_reported() -> None:
    rows = [*every_slot(), run(5, status="running", finished_at=None)]
    check = check_nothing_left(rows, T0 + 60 * SECOND)
    assert check.checked == 6
    assert len(check.violations) == 1 and "still running on w-a" in check.violations[0]


def test_pending_past_due_is_reported_but_not_pending_later() -> None:
    due = run(5, status="pending", started_at=None, finished_at=None, available_at=T0)
    later = run(6, status="pending", started_at=None, finished_at=None, available_at=T0 + SECOND)
    check = check_nothing_left([due, later], T0)
    assert len(check.violations) == 1 and f"run {due['id']}" in check.violations[0]


# -- 5. fencing --------------------------------------------------------------------


def test_a_result_written_over_a_reaped_run_is_reported() -> None:
    reaped = lost(0, 6, worker_id="w-paused", error="worker w-paused stopped heartbeating")
    overwritten = {**reaped, "status": "succeeded", "finished_at": T0 + 9 * SECOND}
    paused = Paused("w-paused", {reaped["id"]: reaped})
    check = check_fencing(paused, [overwritten])
    assert len(check.violations) == 1
    assert "rewritten after it was reaped: status 'lost' -> 'succeeded'" in check.violations[0]
    assert check_fencing(paused, [reaped]).ok


def test_a_run_not_reaped_while_paused_is_reported() -> None:
    held = run(0, status="running", finished_at=None, worker_id="w-paused")
    check = check_fencing(Paused("w-paused", {held["id"]: held}), [held])
    assert "never reaped" in check.violations[0]


def test_a_pause_that_fenced_nothing_off_fails() -> None:
    assert not check_fencing(None, every_slot()).ok


# -- workers ---------------------------------------------------------------------


def test_a_worker_that_exits_by_itself_or_badly_is_reported() -> None:
    check = check_clean_exits({"w0#0": 0, "w1#1": 1, "w2#0": None}, {"w3#0": 0})
    assert check.checked == 4
    assert len(check.violations) == 3


def test_claims_made_after_the_worker_was_declared_dead_are_counted() -> None:
    before, after = run(0, worker_id="w-paused"), run(3, worker_id="w-paused")
    reaped = {**worker("w-paused"), "stopped_at": T0 + 2 * SECOND}
    alive = {**worker("w-a"), "stopped_at": None}
    assert claimed_after_declared_dead([before, after, run(4)], [reaped, alive]) == [after["id"]]
