"""How much a claim takes: --concurrency bounds the attempts that run (shell, http and
sql ones, and python ones while they run in a process); python attempts waiting for a
process are bounded by what the processes begin within ``MAX_WAIT_SECONDS`` instead.

The worker-level tests run real python processes and ``Worker._claim_round`` against
a stand-in for the claim session that always has a backlog of the kinds it is given.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pgsched.db.pooling import PoolMode
from pgsched.engine.claim_sizing import PYTHON_ROOM_MAX, SIDE_SHARE_FADING
from pgsched.engine.claims import DueIn
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.options import WorkerOptions
from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.rows import ClaimResult
from pgsched.engine.worker import Worker
from pgsched.executors.python import PythonExecutor
from pgsched.models import Attempt, ClaimClock
from tests.attempts import Sleeper, make_attempt

URL = "postgresql://nobody@127.0.0.1:1/none"  # never connected to here
CONCURRENCY = 10


def pacer(concurrency: int = 100, side_share: float = 0.0) -> ClaimPacer:
    made = ClaimPacer(concurrency, 1.0)
    made.side_share = side_share
    return made


def test_python_attempts_waiting_for_a_process_do_not_count_against_concurrency() -> None:
    p = pacer(concurrency=100)
    # 4 processes at 0.5 ms an attempt begin 400 within 50 ms: the worker may hold 400,
    # whatever --concurrency says; 4 running in their processes leave it 96 for other
    # kinds.
    assert p.room(running=4, processes=4, seconds=0.0005, waiting=0, now=0.0, in_flight=4) == 396
    assert p.side_room == 96
    assert (
        p.room(running=4, processes=4, seconds=0.0005, waiting=150, now=0.0, in_flight=154) == 246
    )
    # Jobs of microseconds: no more than PYTHON_ROOM_MAX held.
    assert (
        p.room(running=4, processes=4, seconds=1e-6, waiting=0, now=0.0, in_flight=4)
        == PYTHON_ROOM_MAX - 4
    )
    assert (
        p.room(
            running=4,
            processes=4,
            seconds=1e-6,
            waiting=PYTHON_ROOM_MAX,
            now=0.0,
            in_flight=4 + PYTHON_ROOM_MAX,
        )
        <= 0
    )
    assert p.full


def test_slow_python_jobs_still_shrink_claims() -> None:
    p = pacer(concurrency=100)
    # 100 ms an attempt: one a process, and none while one waits for each.
    assert p.room(running=4, processes=4, seconds=0.1, waiting=0, now=0.0, in_flight=4) == 4
    assert p.room(running=4, processes=4, seconds=0.1, waiting=4, now=0.0, in_flight=8) == 0
    assert p.room(running=4, processes=4, seconds=0.01, waiting=0, now=0.0, in_flight=4) == 20


def test_slow_python_jobs_wait_in_the_worker_only_within_concurrency() -> None:
    # 3 s an attempt, both processes busy, --concurrency 2: another worker with room
    # should take the next ones rather than this one queue them behind 3 s.
    assert (
        pacer(concurrency=2).room(
            running=2, processes=2, seconds=3.0, waiting=0, now=0.0, in_flight=2
        )
        == 0
    )
    assert (
        pacer(concurrency=2).room(
            running=0, processes=2, seconds=3.0, waiting=0, now=0.0, in_flight=0
        )
        == 2
    )
    # With --concurrency to spare, one may queue behind each running one, as before.
    assert (
        pacer(concurrency=8).room(
            running=2, processes=2, seconds=3.0, waiting=0, now=0.0, in_flight=2
        )
        == 2
    )


def test_pending_attempts_are_claimed_within_concurrency_less_all_the_worker_holds() -> None:
    # A slot's other shards, retries and manual runs are never handed back: an attempt
    # handed to a python process still starting (neither running nor waiting in the
    # executor's counts) takes its place too, so the next shard goes to another worker.
    p = pacer(concurrency=2)
    p.room(running=1, processes=2, seconds=0.0, waiting=0, now=0.0, in_flight=2)
    assert p.pending_room == 0
    p.room(running=0, processes=2, seconds=0.0, waiting=0, now=0.0, in_flight=0)
    assert p.pending_room == 2


def test_the_room_stays_bounded_while_python_jobs_are_not_timed_yet() -> None:
    # Not timed (0): --concurrency's room, as for any kind; never beyond PYTHON_ROOM_MAX.
    assert (
        pacer(100).room(running=0, processes=4, seconds=0.0, waiting=0, now=0.0, in_flight=0) == 100
    )
    assert (
        pacer(100).room(running=0, processes=4, seconds=0.0, waiting=30, now=0.0, in_flight=30)
        == 70
    )
    huge = pacer(10000).room(running=0, processes=4, seconds=0.0, waiting=0, now=0.0, in_flight=0)
    assert huge == PYTHON_ROOM_MAX
    # Nothing claimed yet: every slot may be a shell one, so --concurrency's room alone.
    fresh = ClaimPacer(100, 1.0)
    assert fresh.room(running=4, processes=4, seconds=1e-6, waiting=0, now=0.0, in_flight=4) == 96


def test_a_claim_of_mixed_kinds_is_sized_so_neither_part_exceeds_its_room() -> None:
    p = pacer(concurrency=100)
    p.kinds_claimed(side_by_side=50, claimed=100)
    # Half of the claim shell, http or sql: 200 brings about 100 of them and 100 python.
    assert p.room(running=0, processes=4, seconds=1e-6, waiting=0, now=0.0, in_flight=0) == 200
    # Python room short: 2 x 40 waits.
    assert p.room(running=0, processes=4, seconds=1e-6, waiting=460, now=0.0, in_flight=460) == 80
    # Rises at once, falls slowly.
    p.kinds_claimed(side_by_side=90, claimed=100)
    assert p.side_share == 0.9
    p.kinds_claimed(side_by_side=0, claimed=100)
    assert p.side_share == 0.9 * (1 - SIDE_SHARE_FADING)
    for _ in range(200):
        p.kinds_claimed(side_by_side=0, claimed=100)
    assert p.side_share == 0.0
    # All of them: --concurrency's room.
    p.kinds_claimed(side_by_side=7, claimed=7)
    assert p.room(running=30, processes=4, seconds=1e-6, waiting=0, now=0.0, in_flight=30) == 70


def test_after_shell_slots_came_beyond_concurrency_claims_stay_within_its_room() -> None:
    p = pacer(concurrency=100)
    p.kinds_claimed(side_by_side=1, claimed=100)
    assert p.room(running=90, processes=4, seconds=1e-6, waiting=0, now=10.0, in_flight=90) > 10
    p.surplus_seen(10.0)
    assert p.room(running=90, processes=4, seconds=1e-6, waiting=0, now=10.1, in_flight=90) == 10


# -- the worker ---------------------------------------------------------------------


class Backlog:
    """Stands in for the claim session: more slots due than any claim takes, each of
    the kind ``kind()`` says; keeps what was asked and what was handed back."""

    def __init__(self, kind: Callable[[], str]) -> None:
        self.kind = kind
        self.asked: list[int] = []
        self.side_by_side = self.handed_back = self.hand_backs = 0
        self._ids = 0

    async def schedule_new_jobs(self, *_: Any) -> int:
        return 0

    async def claim_pending_runs(self, *_: Any) -> list[Attempt]:
        return []

    async def claim_due_jobs(self, _: str, __: Any, limit: int, *___: Any) -> ClaimResult:
        self.asked.append(limit)
        await asyncio.sleep(0.003)  # a claim's round trip
        attempts = []
        for _slot in range(limit):
            self._ids += 1
            kind = self.kind()
            target = "tests.jobs_for_tests:noop" if kind == "python" else "true"
            attempts.append(make_attempt(kind, target, run_id=self._ids, job_id=self._ids))
        self.side_by_side += sum(1 for attempt in attempts if attempt.kind != "python")
        return ClaimResult(attempts, [], [])

    async def release_held_runs(self, held: list[tuple[int, int]]) -> list[int]:
        self.hand_backs += 1
        self.handed_back += len(held)
        return [run_id for run_id, _ in held]

    async def due_in(self, *_: Any) -> DueIn:
        return DueIn(jobs=0.0, pending=None, unscheduled=False)

    async def database_clock(self) -> ClaimClock:
        now = time.monotonic()
        return ClaimClock(datetime.now(UTC), now, now)


def worker(backlog: Backlog, shell: Sleeper) -> Worker:
    options = WorkerOptions(
        concurrency=CONCURRENCY,
        python_processes=2,
        allow_python=("tests.",),
        allow_shell=True,
        allow_root=True,
    )
    made = Worker(URL, options, ConnectionPlan.for_worker(URL, options, PoolMode.DIRECT))
    made._claims = backlog  # type: ignore[assignment]
    made._finisher.submit = lambda ended: None  # type: ignore[method-assign]
    made._executors["shell"]._executor = shell  # type: ignore[attr-defined]
    made._pacer.backlog = True  # due work waits: no claim ahead, no clock to read
    return made


async def claim_for(made: Worker, seconds: float, each: Callable[[], None] = lambda: None) -> None:
    """Run the worker's claim rounds for ``seconds``, calling ``each`` after each."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        delay = await made._claim_round()
        each()
        await made._sleep(min(delay, 0.05))


async def drained(made: Worker) -> None:
    deadline = time.monotonic() + 10
    while made.state.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await made._python.close()


def test_python_backlog_claims_take_more_than_concurrency_when_the_processes_keep_up() -> None:
    backlog, shell = Backlog(lambda: "python"), Sleeper(0.01)
    made = worker(backlog, shell)
    most_waiting: list[int] = []
    python: PythonExecutor = made._python

    async def go() -> None:
        await python.start()
        await claim_for(made, 1.5, lambda: most_waiting.append(python.waiting))
        await drained(made)

    asyncio.run(go())
    # No-ops take microseconds in their process: a claim brings what the processes
    # begin within 50 ms, up to PYTHON_ROOM_MAX, not --concurrency's 10.
    assert max(backlog.asked) > 5 * CONCURRENCY, backlog.asked
    assert max(most_waiting) <= PYTHON_ROOM_MAX
    assert 0 < python.attempt_seconds < 0.005


def test_shell_slots_never_run_nor_wait_beyond_concurrency_when_python_room_is_large() -> None:
    kinds = ["python"]
    backlog, shell = Backlog(lambda: kinds[0]), Sleeper(0.02)
    made = worker(backlog, shell)
    held: list[int] = []

    async def go() -> None:
        await made._python.start()
        await claim_for(made, 1.0)
        # The queue now holds shell jobs only, while the python room is large.
        kinds[0] = "shell"
        await claim_for(made, 1.0, lambda: held.append(made._tasks.running))
        await drained(made)

    asyncio.run(go())
    assert max(backlog.asked) > 5 * CONCURRENCY  # python room beyond --concurrency
    assert shell.ran > 5 * CONCURRENCY
    assert shell.most <= CONCURRENCY
    # The first shell claim was sized by the python room: its slots beyond
    # --concurrency went back at once, and the next claims were sized by its room.
    assert max(held) <= CONCURRENCY
    assert backlog.hand_backs <= 1


def test_a_mixed_queue_does_not_claim_shell_slots_only_to_hand_them_back() -> None:
    draw = random.Random(13)
    backlog, shell = Backlog(lambda: draw.choice(("python", "shell"))), Sleeper(0.005)
    made = worker(backlog, shell)

    async def go() -> None:
        await made._python.start()
        await claim_for(made, 2.0)
        await drained(made)

    asyncio.run(go())
    assert shell.most <= CONCURRENCY
    # Half python: a claim takes more than --concurrency, about as many shell slots
    # as it has room for, and hardly any go back.
    assert max(backlog.asked) > CONCURRENCY
    assert backlog.side_by_side > 10 * CONCURRENCY
    assert backlog.handed_back <= 0.02 * backlog.side_by_side, (
        backlog.handed_back,
        backlog.side_by_side,
    )


def test_the_processes_time_is_their_own_however_late_a_busy_worker_reads_results() -> None:
    async def go() -> tuple[float, float]:
        python = PythonExecutor(("tests.",), 1, ignore_checkpoint)
        await python.start()
        try:
            answered: list[float] = []
            attempts = [
                make_attempt("python", "tests.jobs_for_tests:noop", run_id=n) for n in (1, 2)
            ]
            began = time.monotonic()
            python.submit([(a, 0.0, lambda _: answered.append(time.monotonic())) for a in attempts])
            await asyncio.sleep(0)  # sent to the child
            time.sleep(0.3)  # the worker busy (a claim, a burst of results): read late
            while len(answered) < len(attempts):
                await asyncio.sleep(0.01)
            return min(answered) - began, python.attempt_seconds
        finally:
            await python.close()

    read_after, seconds = asyncio.run(go())
    # Read 0.3 s after their start, yet a no-op's time in its process: sized by the
    # read, a claim would take one attempt a process; sized by this, hundreds.
    assert read_after >= 0.3
    assert 0 < seconds < 0.01


async def ignore_checkpoint(attempt: Attempt, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")
