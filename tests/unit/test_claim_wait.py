"""How long a claimed python attempt waits to begin, and what a claim ahead may take.

A claim's python part is capped by what full claims were measured to begin within
``MAX_WAIT_SECONDS`` of being sent (``python_room.RoomCap``); a claim ahead takes no
more than a claim of due work would, whatever of its slots are due already. The
worker-level tests use ``test_claim_room``'s stand-in claim session and real python
processes.
"""

from __future__ import annotations

import asyncio
import statistics

from pgsched.engine.pacing import FIRE_AHEAD_CLAIM_MAX, ClaimPacer
from pgsched.engine.python_room import (
    MAX_WAIT_SECONDS,
    PYTHON_ROOM_MAX,
    PYTHON_ROOM_MIN,
    BeginWatch,
    RoomCap,
)
from pgsched.executors.python import PythonExecutor
from pgsched.models import EndedAttempt
from tests.attempts import Sleeper
from tests.unit.test_claim_room import Backlog, claim_for, drained, worker


def test_claims_whose_last_attempt_began_late_shrink_the_cap_to_what_began_in_time() -> None:
    cap = RoomCap()
    assert cap.cap == PYTHON_ROOM_MAX
    # 500 queued, the last began 100 ms after the claim was sent: 250 fit in 50 ms.
    cap.claim_begun(queued=500, waited=0.1)
    assert cap.cap == 250
    # Never below the floor, however slow.
    cap.claim_begun(queued=250, waited=10.0)
    assert cap.cap == PYTHON_ROOM_MIN
    # Quick again: grows a quarter a claim, up to the maximum.
    cap.claim_begun(queued=PYTHON_ROOM_MIN, waited=0.01)
    assert cap.cap == int(PYTHON_ROOM_MIN * 1.25)
    for _ in range(20):
        cap.claim_begun(queued=cap.cap, waited=0.01)
    assert cap.cap == PYTHON_ROOM_MAX


def test_a_small_claim_that_began_in_time_does_not_shrink_the_cap() -> None:
    cap = RoomCap()
    cap.claim_begun(queued=10, waited=0.02)
    assert cap.cap == PYTHON_ROOM_MAX


def test_the_watch_reports_once_the_last_of_a_full_claim_began() -> None:
    reports: list[tuple[int, float]] = []
    watch = BeginWatch(10.0, 5, lambda queued, waited: reports.append((queued, waited)))
    for _ in range(3):
        watch.add()
    watch.ended(10.02)
    watch.ended(None)  # never began (cancelled)
    assert not reports
    watch.ended(10.07)
    assert len(reports) == 1 and reports[0][0] == 8
    assert abs(reports[0][1] - 0.07) < 1e-9
    # One not full (it took less than it asked) was not sized by the cap: no report.
    quiet = BeginWatch(10.0, 0, lambda queued, waited: reports.append((queued, waited)))
    quiet.add()
    quiet.full = False
    quiet.ended(10.5)
    assert len(reports) == 1


def test_the_cap_bounds_the_python_room() -> None:
    p = ClaimPacer(100, 1.0)
    p.side_share = 0.0
    p.python_cap.cap = 150
    # 150 in all it holds, the 4 running included.
    assert p.room(running=4, processes=4, seconds=1e-6, waiting=0, now=0.0, in_flight=4) == 146


def test_a_claim_ahead_takes_no_more_than_a_claim_of_due_work_would() -> None:
    p = ClaimPacer(100, 1.0)
    # Room to hold 1,000 for later instants, but the python room is 120: should its
    # slots be due already, 120 is what may wait for the processes.
    assert p.ahead_limit(1000, due=120, room=100, now=0.0) == 120
    assert p.ahead_limit(40, due=120, room=100, now=0.0) == 40
    assert p.ahead_limit(1000, due=5000, room=100, now=0.0) == FIRE_AHEAD_CLAIM_MAX


def test_slow_claims_of_python_slots_shrink_until_their_attempts_begin_within_the_wait() -> None:
    # Each claim costs 3 ms and 0.15 ms a row (its statements, its rows into
    # attempts): a claim of 500 answers after 78 ms, past the 50 ms wait before any
    # of its attempts can begin.
    backlog = Backlog(lambda: "python", per_row=0.00015)
    made = worker(backlog, Sleeper(0.01))
    made._pacer.side_share = 0.0  # a python queue: the python room sizes the claims
    waits: list[float] = []  # began - sent

    def ended(done: EndedAttempt) -> None:
        began = done.outcome.started_monotonic
        sent = backlog.sent[done.attempt.run_id]
        if began is not None:
            waits.append(began - sent)

    made._finisher.submit = ended  # type: ignore[method-assign]
    python: PythonExecutor = made._python

    async def go() -> None:
        await python.start()
        await claim_for(made, 2.5)
        await drained(made)

    asyncio.run(go())
    settled = waits[len(waits) // 2 :]
    # Before: claims of 372 and 128 in turn, the median attempt beginning 103 ms after
    # its claim was sent (p99 123 ms); after: 50 ms (p99 74 ms), as many run.
    assert statistics.median(settled) < MAX_WAIT_SECONDS * 1.4
    assert made._pacer.python_cap.cap < PYTHON_ROOM_MAX


def test_a_claim_ahead_that_finds_its_slots_due_keeps_the_python_room() -> None:
    backlog = Backlog(lambda: "python")
    made = worker(backlog, Sleeper(0.01))
    python: PythonExecutor = made._python
    most_waiting: list[int] = []

    def ahead_again() -> None:
        most_waiting.append(python.waiting)
        # Not behind: every claim is a claim ahead, and every slot it finds is due.
        made._pacer.backlog = False

    async def go() -> None:
        await python.start()
        await claim_for(made, 0.5)  # the processes' pace is known
        python.processes = 1
        for child in python._pool[1:]:
            child.stopping = True
        await claim_for(made, 1.0, ahead_again)
        await drained(made)

    made._pacer.backlog = True
    asyncio.run(go())
    # Before: each claim ahead took up to 500 more, whatever already waited.
    assert max(most_waiting) <= PYTHON_ROOM_MAX, max(most_waiting)
