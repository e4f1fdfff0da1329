"""Claim pacing: when the claim loop looks, for what, and how far ahead, without I/O."""

from __future__ import annotations

import pytest

from pgsched.engine.claim_sizing import FIRE_AHEAD_CLAIM_MAX, HOLD_LAG_SECONDS, HOLD_MAX
from pgsched.engine.claims import DueIn
from pgsched.engine.pacing import (
    BACKLOG_PENDING_CHECK_SECONDS,
    CONTENDED_MAX_SECONDS,
    CONTENDED_RETRY_SECONDS,
    FIRE_AHEAD_MAX_SECONDS,
    FIRE_AHEAD_MIN_SECONDS,
    FIRE_AHEAD_WORST_LATENCIES,
    LATENCY_MEMORY,
    SHARE_LATE_CLAIM_LATENCIES,
    SURPLUS_CAUTION_SECONDS,
    ClaimPacer,
)
from pgsched.executors.python_held import HAND_OVER_LEAD_SECONDS


def pacer(concurrency: int = 10, poll: float = 1.0) -> ClaimPacer:
    return ClaimPacer(concurrency, poll)


def test_a_claim_that_fills_the_capacity_is_a_backlog_and_claims_no_slot_ahead() -> None:
    p = pacer()
    p.claimed(10, 10, 0.002)
    assert p.backlog and p.ahead_seconds == 0.0
    p.claimed(3, 10, 0.002)
    assert not p.backlog and p.ahead_seconds > 0


def test_the_fire_ahead_window_follows_the_claim_latency_within_bounds() -> None:
    p = pacer()
    p.claimed(0, 10, 0.0)
    assert p.ahead_seconds == FIRE_AHEAD_MIN_SECONDS
    for _ in range(100):
        p.claimed(0, 10, 0.05)
    # Four claims' worth, and the time held python slots reach their processes early.
    assert p.ahead_seconds == pytest.approx(0.2 + HAND_OVER_LEAD_SECONDS, rel=0.01)
    for _ in range(100):
        p.claimed(0, 10, 10.0)
    assert p.ahead_seconds == FIRE_AHEAD_MAX_SECONDS


def test_one_slow_claim_of_the_last_few_widens_the_window_to_cover_it_twice() -> None:
    # On a busy host one claim in ten or twenty takes several times the average: the
    # window covers the slowest recent one twice, so the next such claim is answered
    # before the hand-over time; once it is forgotten the window follows the average.
    p = pacer()
    for _ in range(20):
        p.claimed(0, 10, 0.03)
    usual = p.ahead_seconds
    p.claimed(0, 10, 0.15)
    for _ in range(LATENCY_MEMORY - 1):
        p.claimed(0, 10, 0.03)
        assert p.ahead_seconds == pytest.approx(
            FIRE_AHEAD_WORST_LATENCIES * 0.15 + HAND_OVER_LEAD_SECONDS
        )
    p.claimed(0, 10, 0.03)
    assert p.ahead_seconds == pytest.approx(usual, rel=0.1)
    # A claim that took nothing says nothing of the claims the window must cover.
    p.claimed(0, 10, None)
    assert p.ahead_seconds == pytest.approx(usual, rel=0.1)


def test_idle_sleep_ends_a_fire_ahead_window_before_the_next_slot() -> None:
    p = pacer()
    p.claimed(0, 10, 0.0)
    delay = p.idle_delay(DueIn(jobs=0.5, pending=None, unscheduled=False), 0, now=100.0)
    assert delay == pytest.approx(0.5 - FIRE_AHEAD_MIN_SECONDS)
    nothing = p.idle_delay(DueIn(jobs=None, pending=None, unscheduled=False), 0, now=100.0)
    assert nothing == 1.0


def test_a_slot_in_the_window_the_claim_could_not_take_is_awaited_at_its_instant() -> None:
    p = pacer()
    p.claimed(0, 10, 0.0)
    within = DueIn(jobs=FIRE_AHEAD_MIN_SECONDS / 2, pending=None, unscheduled=False)
    p.claim_sent(99.99, p.ahead_seconds)
    # Nothing claimed though the slot was within the window: its job runs.
    assert p.idle_delay(within, 0, now=100.0) == pytest.approx(FIRE_AHEAD_MIN_SECONDS / 2)
    # Something claimed: the next slot is claimed ahead at once.
    assert p.idle_delay(within, 3, now=100.0) == 0.0


def test_a_slot_the_window_reached_only_after_the_claim_was_sent_is_claimed_at_once() -> None:
    # Woken by the poll interval 4 ms before its window reached an instant: nothing
    # claimed, and the instant is within the window by the time the next due time is
    # read. Waiting for the instant, it left the whole instant to the other worker.
    p = pacer(poll=0.5)
    for _ in range(100):
        p.claimed(0, 10, 0.1)
    window = p.ahead_seconds
    p.claim_sent(100.0, window)
    within = DueIn(jobs=window - 0.004, pending=None, unscheduled=False)
    assert p.idle_delay(within, 0, now=100.008) == 0.0
    # Claimed again at once, it found the slot's job still running: no spin.
    p.claim_sent(100.009, window)
    later = DueIn(jobs=window - 0.014, pending=None, unscheduled=False)
    assert p.idle_delay(later, 0, now=100.014) == pytest.approx(window - 0.014)


def test_due_work_others_hold_is_looked_at_again_less_and_less_often() -> None:
    p = pacer()
    p.claimed(0, 10, 0.0)
    due_now = DueIn(jobs=0.0, pending=None, unscheduled=False)
    delays = [p.idle_delay(due_now, 0, now=100.0) for _ in range(8)]
    assert delays[0] == CONTENDED_RETRY_SECONDS * 2
    assert delays == sorted(delays) and delays[-1] == CONTENDED_MAX_SECONDS
    p.idle_delay(due_now, 1, now=100.0)
    assert p.empty_claims == 0


def test_pending_attempts_are_looked_for_on_notify_when_due_and_under_backlog() -> None:
    p = pacer()
    assert p.should_check_pending(0.0)  # at start
    assert not p.should_check_pending(0.0)
    p.woken()
    assert p.should_check_pending(0.0) and p.more_to_schedule
    p.idle_delay(DueIn(jobs=None, pending=2.0, unscheduled=False), 0, now=10.0)
    assert not p.should_check_pending(11.0) and p.should_check_pending(12.0)
    p.claimed(10, 10, 0.0)
    assert not p.should_check_pending(12.0 + BACKLOG_PENDING_CHECK_SECONDS / 2)
    assert p.should_check_pending(12.0 + BACKLOG_PENDING_CHECK_SECONDS * 1.01)


def test_a_pending_attempt_blocked_by_its_running_job_waits_for_a_finish() -> None:
    p = pacer()
    p.should_check_pending(0.0)
    delay = p.idle_delay(DueIn(jobs=None, pending=-1.0, unscheduled=False), 0, now=0.0)
    assert p.pending_blocked and delay == 1.0
    assert p.attempt_ended(in_flight=0)
    assert p.check_pending


def test_under_backlog_a_few_free_slots_are_gathered_before_claiming() -> None:
    p = pacer(concurrency=100)
    assert not p.should_gather(1)
    p.claimed(100, 100, 0.0)
    assert p.should_gather(49) and not p.should_gather(50)
    assert p.attempt_ended(in_flight=50)


def test_all_scheduling_batches_are_taken_before_sleeping() -> None:
    p = pacer()
    p.scheduled(1000, 1000)
    assert p.more_to_schedule
    p.scheduled(10, 1000)
    assert not p.more_to_schedule


def test_without_notifications_a_due_pending_attempt_is_looked_for_at_once() -> None:
    p = pacer()
    p.should_check_pending(0.0)
    nothing_pending = DueIn(jobs=None, pending=None, unscheduled=False)
    assert p.idle_delay(nothing_pending, 0, now=0.0) == 1.0
    # A poll's round that did not look finds a run_now due (it came without a
    # NOTIFY): the next round looks at once instead of a poll later.
    assert not p.should_check_pending(1.0)
    run_now_due = DueIn(jobs=None, pending=-0.3, unscheduled=False)
    assert p.idle_delay(run_now_due, 0, now=1.0) == 0.0
    assert p.should_check_pending(1.0)
    # Looked, and still due: its job runs, so it waits for a finish or the next poll.
    assert p.idle_delay(run_now_due, 0, now=1.0) == 1.0 and p.pending_blocked


def test_new_jobs_found_by_a_poll_are_scheduled_at_once_not_a_poll_later() -> None:
    p = pacer(poll=1.0)
    delay = p.idle_delay(DueIn(jobs=None, pending=None, unscheduled=True), 0, now=0.0)
    assert p.more_to_schedule and delay == CONTENDED_MAX_SECONDS


def test_a_loop_asleep_for_lack_of_room_is_woken_by_any_end() -> None:
    p = pacer(concurrency=100)
    p.kinds_claimed(side_by_side=0, claimed=60)
    # A burst of held slots: 60 held, 50 of them waiting for one of 4 processes.
    assert p.room(running=4, processes=4, seconds=0.01, waiting=50, now=0.0, in_flight=54) <= 0
    assert p.attempt_ended(in_flight=59)
    assert p.room(running=4, processes=4, seconds=0.01, waiting=10, now=0.0, in_flight=14) > 0
    assert not p.attempt_ended(in_flight=19)


def test_a_claim_ahead_takes_a_share_of_an_instant_not_all_of_it() -> None:
    p = pacer(concurrency=5000)
    assert p.ahead_limit(10, due=5000, room=5000, now=0.0) == 10
    assert p.ahead_limit(5000, due=5000, room=5000, now=0.0) == FIRE_AHEAD_CLAIM_MAX


def test_once_other_kinds_came_beyond_concurrency_claims_ahead_stay_within_it() -> None:
    p = pacer(concurrency=100)
    # Held slots are sized by the python processes, not by --concurrency room.
    assert p.ahead_limit(400, due=5000, room=30, now=10.0) == 400
    p.surplus_seen(10.0)
    # Until SURPLUS_CAUTION_SECONDS after the latest instant that claim could hold:
    # the slots it handed back are not taken back at once.
    until = 10.0 + FIRE_AHEAD_MAX_SECONDS + SURPLUS_CAUTION_SECONDS
    assert p.ahead_limit(400, due=5000, room=30, now=10.1) == 30
    assert p.ahead_limit(20, due=5000, room=30, now=until - 0.01) == 20
    assert p.ahead_limit(400, due=5000, room=30, now=until) == 400
    # Another one later extends it, an earlier one never shortens it.
    p.surplus_seen(11.0)
    p.surplus_seen(10.5)
    assert p.ahead_limit(400, due=5000, room=30, now=until + 0.5) == 30
    assert p.ahead_limit(400, due=5000, room=30, now=until + 1.0) == 400


def test_a_worker_holds_what_its_python_processes_begin_soon_after_the_instant() -> None:
    p = pacer(concurrency=100)  # --concurrency is not the bound: held slots do not run
    # 4 processes beginning one attempt every 200 us begin 400 within 20 ms.
    assert HOLD_LAG_SECONDS == 0.02
    assert p.hold_room(held=0, processes=4, pace=0.0002) == 400
    assert p.hold_room(held=150, processes=4, pace=0.0002) == 250
    # Fast ones: never more than HOLD_MAX; slow ones: still one per process.
    assert p.hold_room(held=0, processes=4, pace=0.000001) == HOLD_MAX
    assert p.hold_room(held=0, processes=4, pace=10.0) == 4
    assert p.hold_room(held=4, processes=4, pace=10.0) == 0


def test_the_database_clock_is_read_for_held_slots_only_when_a_slot_comes_soon() -> None:
    p = pacer(poll=1.0)
    p.idle_delay(DueIn(jobs=3600.0, pending=None, unscheduled=False), 0, now=0.0)
    assert not p.slot_soon  # an idle worker reads no clock of its own
    p.idle_delay(DueIn(jobs=0.8, pending=None, unscheduled=False), 0, now=0.0)
    assert p.slot_soon


def test_after_a_whole_share_of_an_instant_its_other_slots_wait_for_a_late_claim() -> None:
    p = pacer(concurrency=100)
    for _ in range(100):
        p.claimed(0, 10, 0.05)
    window = p.ahead_seconds
    late = SHARE_LATE_CLAIM_LATENCIES * 0.05 + HAND_OVER_LEAD_SECONDS
    # A smaller claim took all there was: nothing narrows.
    p.share_taken(FIRE_AHEAD_CLAIM_MAX - 1, window, now=10.0, peers=True)
    assert p.ahead_window(10.0) == window
    p.share_taken(FIRE_AHEAD_CLAIM_MAX, window, now=10.0, peers=True)
    assert p.ahead_window(10.0) == pytest.approx(late, rel=0.01)
    # The instant 0.2 s away is claimed again only once it is the late lead away.
    soon = DueIn(jobs=0.2, pending=None, unscheduled=False)
    assert p.idle_delay(soon, FIRE_AHEAD_CLAIM_MAX, now=10.0) == pytest.approx(0.2 - late, rel=0.01)
    # Due now: claimed at once, as under the herd.
    due = DueIn(jobs=0.0, pending=None, unscheduled=False)
    assert p.idle_delay(due, FIRE_AHEAD_CLAIM_MAX, now=10.0) == 0.0
    # Once every instant the claim could reach has passed, the window is whole again.
    assert p.ahead_window(10.0 + window) == window
    # The next instant, a second away, is claimed over the whole window: not woken
    # for at the late point, where its claim is answered about at the hand-over time.
    assert p.ahead_window(10.1, slot=11.0) == window
    next_one = DueIn(jobs=0.9, pending=None, unscheduled=False)
    assert p.idle_delay(next_one, 0, now=10.1) == pytest.approx(0.9 - window, rel=0.01)


def test_a_claim_ahead_under_backlog_never_narrows_anything() -> None:
    p = pacer()
    p.claimed(10, 10, 0.002)
    p.share_taken(FIRE_AHEAD_CLAIM_MAX, p.ahead_seconds, now=1.0, peers=True)
    assert p.ahead_window(1.0) == 0.0 and p.share_taken_until == 0.0


def with_latency(latency: float) -> ClaimPacer:
    p = pacer(concurrency=100)
    for _ in range(100):
        p.claimed(0, 10, latency)
    return p


def test_after_a_whole_share_another_worker_wakes_first_unless_four_times_as_quick() -> None:
    # The worker holding both halves of an instant is the busier one, its claims
    # slower: its late point must stay after the other's window even then.
    for ratio, first in ((1.0, True), (2.5, True), (3.9, True), (4.5, False)):
        quick, slow = with_latency(0.02), with_latency(0.02 * ratio)
        slow.share_taken(FIRE_AHEAD_CLAIM_MAX, slow.ahead_seconds, now=10.0, peers=True)
        assert (quick.ahead_window(10.0) > slow.ahead_window(10.0)) is first, ratio


def test_a_worker_alone_on_its_queues_claims_an_instant_whole_at_once() -> None:
    p = with_latency(0.05)
    window = p.ahead_seconds
    p.share_taken(FIRE_AHEAD_CLAIM_MAX, window, now=10.0, peers=False)
    assert p.ahead_window(10.0) == window and p.share_taken_until == 0.0
    soon = DueIn(jobs=0.2, pending=None, unscheduled=False)
    assert p.idle_delay(soon, FIRE_AHEAD_CLAIM_MAX, now=10.0) == 0.0


def test_a_poll_only_looks_while_the_next_slot_is_beyond_any_claims_reach() -> None:
    p = pacer()
    assert not p.only_look(0.0)  # the first round claims (and schedules new jobs)
    p.should_check_pending(0.0)
    p.claimed(0, 10, None)
    p.idle_delay(DueIn(jobs=3600.0, pending=None, unscheduled=False), 0, 0.0)
    assert p.only_look(1.0)
    assert not p.only_look(3600.0 - FIRE_AHEAD_MAX_SECONDS)  # its own wake-up claims
    p.idle_delay(DueIn(jobs=None, pending=None, unscheduled=False), 0, 0.0)
    assert p.only_look(1.0)
    p.woken()  # a NOTIFY claims at once
    assert not p.only_look(1.0)


def test_a_look_claims_for_new_jobs_pending_attempts_and_slots_within_the_window() -> None:
    far = DueIn(jobs=60.0, pending=30.0, unscheduled=False)
    p = pacer()
    p.more_to_schedule = p.check_pending = False
    assert not p.within_reach(far, 0.0)
    assert p.within_reach(DueIn(jobs=60.0, pending=None, unscheduled=True), 0.0)
    assert p.within_reach(DueIn(jobs=p.ahead_seconds, pending=None, unscheduled=False), 0.0)
    assert not p.check_pending
    assert p.within_reach(DueIn(jobs=60.0, pending=0.0, unscheduled=False), 0.0)
    assert p.check_pending  # the claim that follows looks for them
    p.check_pending = False
    p.idle_delay(far, 0, 0.0)
    assert not p.only_look(30.0)  # the pending attempt's time: a claim looks
