"""A claim ahead (slots due within the fire-ahead window, held for their instant)
takes no more than the python room: its window begins now, and its slots may be due
already, to begin at once, as a claim of due work's would. The worker-level test uses
``test_claim_room``'s stand-in claim session and real python processes.
"""

from __future__ import annotations

import asyncio

from pgsched.engine.claim_sizing import FIRE_AHEAD_CLAIM_MAX, PYTHON_ROOM_MAX
from pgsched.engine.pacing import ClaimPacer
from pgsched.executors.python import PythonExecutor
from tests.attempts import Sleeper
from tests.unit.test_claim_room import Backlog, claim_for, drained, worker


def test_a_claim_ahead_takes_no_more_than_the_python_room() -> None:
    p = ClaimPacer(100, 1.0)
    # Room to hold 1,000 for later instants, but the python room is 120: should its
    # slots be due already, 120 is what may wait for the processes.
    assert p.ahead_limit(1000, due=120, room=100, now=0.0) == 120
    assert p.ahead_limit(40, due=120, room=100, now=0.0) == 40
    assert p.ahead_limit(1000, due=5000, room=100, now=0.0) == FIRE_AHEAD_CLAIM_MAX


def test_the_python_room_is_kept_for_claims_ahead() -> None:
    p = ClaimPacer(100, 1.0)
    p.room(running=4, processes=4, seconds=1e-6, waiting=300, now=0.0, in_flight=300)
    assert p.python_room == PYTHON_ROOM_MAX - 300


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
        # One process left: what waits drains slowly.
        python.processes = 1
        for child in python._pool[1:]:
            child.stopping = True
        await claim_for(made, 1.0, ahead_again)
        await drained(made)

    asyncio.run(go())
    # Before: each claim ahead took up to 500 more, whatever already waited (908).
    assert max(most_waiting) <= PYTHON_ROOM_MAX, max(most_waiting)
