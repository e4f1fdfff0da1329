"""The worker's batch path for python attempts (``PythonRuns``): a claim's attempts go
to the executor as one list, outcomes come back through callbacks to the finisher.

Real child processes; a pool of one child, so a batch queues in it and runs in order.
Each attempt keeps its own fate: a timeout, a withdrawal, a child killed, a release.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pgsched.engine.events import RunEvents
from pgsched.engine.holding import Holds
from pgsched.engine.metrics import Metrics
from pgsched.engine.options import WorkerOptions
from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.python_runs import PythonRuns
from pgsched.engine.release import release_unstarted
from pgsched.engine.state import RELEASED, TAKEN, WorkerState, ending, new_identity
from pgsched.executors.python import PythonExecutor
from pgsched.models import Attempt, ClaimClock, EndedAttempt, Outcome, RunStatus
from tests.attempts import make_attempt

JOBS = "tests.jobs_for_tests"


class Finished:
    """Stands in for the finisher: keeps what it is given, by run id."""

    def __init__(self) -> None:
        self.ended: dict[int, EndedAttempt] = {}

    def submit(self, ended: EndedAttempt) -> None:
        assert ended.attempt.run_id not in self.ended, "one outcome per attempt"
        self.ended[ended.attempt.run_id] = ended

    def status(self, run_id: int) -> RunStatus:
        return self.ended[run_id].outcome.status


class Released:
    """Stands in for the repository at shutdown: which runs were handed back."""

    def __init__(self) -> None:
        self.released: list[int] = []

    async def release_held_runs(self, runs: list[tuple[int, int]]) -> list[int]:
        self.released.extend(run_id for run_id, _ in runs)
        return [run_id for run_id, _ in runs]


class Batch:
    """A worker's state, a one-child executor and the batch path between them."""

    def __init__(self, executor: PythonExecutor) -> None:
        self.state = WorkerState(new_identity(WorkerOptions()))
        self.python = executor
        self.finished = Finished()
        self.holds = Holds()
        self.runs = PythonRuns(
            self.state,
            executor,
            self.holds,
            RunEvents(lambda: "w1"),
            self.finished,  # type: ignore[arg-type]
            ClaimPacer(100, 1.0),
        )

    def start(self, attempts: list[Attempt], start_at: float = 0.0) -> None:
        self.runs.start([(attempt, start_at) for attempt in attempts], from_schedule=True)

    async def until_idle(self, seconds: float = 20.0) -> None:
        """Wait until nothing is in flight."""
        deadline = time.monotonic() + seconds
        while self.state.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not self.state.in_flight


async def ignore_checkpoint(attempt: Attempt, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")


async def batch(processes: int = 1) -> Batch:
    executor = PythonExecutor(("tests.",), processes, ignore_checkpoint, slow_seconds=30)
    await executor.start()
    return Batch(executor)


def appender(run_id: int, path: Path, seconds: float = 0.0, **fields: Any) -> Attempt:
    args = {"path": str(path), "line": str(run_id), "seconds": seconds}
    return make_attempt("python", f"{JOBS}:sleep_then_append", args, run_id=run_id, **fields)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_batch_is_recorded_attempt_by_attempt_with_no_task_per_attempt(tmp_path: Path) -> None:
    out = tmp_path / "out"

    async def go() -> tuple[Batch, int]:
        b = await batch()
        try:
            tasks_before = len(asyncio.all_tasks())
            b.start([appender(run_id, out) for run_id in range(1, 21)])
            tasks_during = len(asyncio.all_tasks()) - tasks_before
            await b.until_idle()
            return b, tasks_during
        finally:
            await b.python.close()

    b, tasks = asyncio.run(go())
    assert tasks <= 1  # at most the executor's dispatcher, not one per attempt
    assert lines(out) == [str(run_id) for run_id in range(1, 21)]
    assert {b.finished.status(run_id) for run_id in range(1, 21)} == {RunStatus.SUCCEEDED}
    assert 0 < b.python.attempt_seconds < 1.0


def test_one_attempt_of_a_batch_times_out_its_child_killed_the_ones_behind_run_elsewhere(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"

    async def go() -> Batch:
        b = await batch()
        try:
            slow = appender(2, out, seconds=30, timeout_seconds=1)
            b.start([appender(1, out), slow, appender(3, out), appender(4, out)])
            await b.until_idle()
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert b.finished.status(2) is RunStatus.TIMED_OUT
    assert [b.finished.status(run_id) for run_id in (1, 3, 4)] == [RunStatus.SUCCEEDED] * 3
    assert lines(out) == ["1", "3", "4"]  # the timed-out one never appended
    # Its time counts from when it began, not from the batch's hand-over.
    assert 900 <= b.finished.ended[2].duration_ms < 5000


def test_an_attempt_taken_away_midway_through_a_batch_is_not_recorded_nor_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"

    async def go() -> Batch:
        b = await batch()
        try:
            b.start([appender(1, out, seconds=0.5), appender(2, out), appender(3, out)])
            await asyncio.sleep(0.2)  # 1 runs, 2 and 3 are queued in the child
            assert b.state.take_away([2]) == [2]
            await b.until_idle()
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert 2 not in b.finished.ended
    assert lines(out) == ["1", "3"]
    assert not b.state.cancel_reasons


def test_the_running_attempt_of_a_batch_taken_away_kills_its_child_the_others_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"

    async def go() -> Batch:
        b = await batch()
        try:
            b.start([appender(1, out, seconds=30), appender(2, out), appender(3, out)])
            await asyncio.sleep(0.5)
            b.state.take_away([1])
            await b.until_idle()
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert 1 not in b.finished.ended
    assert lines(out) == ["2", "3"]


def test_an_attempt_interrupted_at_shutdown_is_recorded_with_the_reason_given(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    lost = Outcome(RunStatus.LOST, error="interrupted")

    async def go() -> Batch:
        b = await batch()
        try:
            b.start([appender(1, out, seconds=30)])
            await asyncio.sleep(0.5)
            b.state.cancel(1, lost)
            await asyncio.wait([ending(held.task) for held in b.state.in_flight.values()])
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert b.finished.ended[1].outcome == lost
    assert lines(out) == []


def test_a_child_killed_mid_batch_fails_its_attempt_and_the_rest_run_in_another(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"

    async def go() -> Batch:
        b = await batch()
        try:
            b.start([appender(1, out, seconds=30), appender(2, out), appender(3, out)])
            await asyncio.sleep(0.5)
            os.kill(b.python._pool[0].pid, signal.SIGKILL)
            await b.until_idle()
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert b.finished.status(1) is RunStatus.FAILED
    assert "died" in (b.finished.ended[1].outcome.error or "")
    assert [b.finished.status(2), b.finished.status(3)] == [RunStatus.SUCCEEDED] * 2
    assert lines(out) == ["2", "3"]


def test_sigterm_hands_back_held_slots_of_a_batch_and_they_never_run(tmp_path: Path) -> None:
    out = tmp_path / "out"

    metrics = Metrics()

    async def go() -> tuple[Batch, Released]:
        b = await batch()
        repository = Released()
        try:
            b.start([appender(1, out, seconds=0.3)])
            # Held for an instant 0.3 s away: already in the child when SIGTERM comes.
            b.start([appender(run_id, out) for run_id in (2, 3)], time.monotonic() + 0.3)
            await asyncio.sleep(0.1)
            await release_unstarted(b.state, b.python, repository, metrics)  # type: ignore[arg-type]
            await b.until_idle()
            await asyncio.sleep(0.5)  # past the instant: nothing of theirs runs
            return b, repository
        finally:
            await b.python.close()

    b, repository = asyncio.run(go())
    assert sorted(repository.released) == [2, 3]
    assert set(b.finished.ended) == {1}
    assert lines(out) == ["1"]
    released = metrics.registry.get_sample_value(
        "pgsched_runs_released_total", {"reason": "stopping"}
    )
    assert released == 2


def test_a_held_batch_begins_at_its_instant_and_records_the_real_begin_on_the_database_clock(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    now = time.monotonic()
    # The database clock as one claim saw it: 1,000 s after the worker's monotonic.
    clock = ClaimClock(datetime(2026, 1, 1, tzinfo=UTC), now, now)

    async def go() -> tuple[Batch, float]:
        b = await batch()
        try:
            start_at = time.monotonic() + 0.4
            held = [appender(run_id, out, clock=clock) for run_id in (1, 2, 3)]
            b.start(held, start_at)
            await asyncio.sleep(0.2)
            assert lines(out) == []  # in flight, not begun
            await b.until_idle()
            return b, start_at
        finally:
            await b.python.close()

    b, start_at = asyncio.run(go())
    for run_id in (1, 2, 3):
        ended = b.finished.ended[run_id]
        began = ended.outcome.started_monotonic
        assert began is not None and began >= start_at  # never early
        assert ended.started_at == clock.database_time(began)
        assert ended.started_at >= clock.database_time(start_at)
        assert ended.started_at - clock.database_time(start_at) < timedelta(seconds=1)


def test_a_held_attempt_refused_fails_at_its_instant_and_a_release_meanwhile_drops_it() -> None:
    refused = make_attempt("python", "elsewhere:job", run_id=1)
    released = make_attempt("python", "elsewhere:job", run_id=2)

    async def go() -> tuple[Batch, float, float]:
        b = await batch()
        try:
            start_at = time.monotonic() + 0.3
            b.start([refused, released], start_at)
            assert set(b.state.in_flight) == {1, 2}  # until their instant
            b.state.cancel(2, RELEASED)
            await asyncio.wait([ending(b.state.in_flight[1].task)])
            return b, start_at, time.monotonic()
        finally:
            await b.python.close()

    b, start_at, ended_at = asyncio.run(go())
    assert ended_at >= start_at
    assert set(b.finished.ended) == {1}
    assert b.finished.status(1) is RunStatus.FAILED
    assert not b.state.in_flight and not b.state.cancel_reasons


def test_taken_away_twice_or_after_it_ended_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"

    async def go() -> Batch:
        b = await batch()
        try:
            b.start([appender(1, out, seconds=30), appender(2, out)])
            await asyncio.sleep(0.3)
            run = b.state.in_flight[1].task
            b.state.cancel(1, TAKEN)
            run.cancel()  # a second cancel while it is being stopped
            await b.until_idle()
            run.cancel()  # and after it has gone
            return b
        finally:
            await b.python.close()

    b = asyncio.run(go())
    assert set(b.finished.ended) == {2}
    assert not b.state.cancel_reasons


def test_a_held_attempt_with_a_warning_is_told_started_at_its_instant_not_before(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"

    async def go() -> tuple[bool, bool]:
        b = await batch()
        try:
            watched = appender(1, out, seconds=0.5, warn_after_seconds=60)
            b.start([watched], time.monotonic() + 0.3)
            await asyncio.sleep(0.1)
            before = 1 in b.runs._events._warning_timers
            await asyncio.sleep(0.4)
            during = 1 in b.runs._events._warning_timers
            await b.until_idle()
            return before, during
        finally:
            await b.python.close()

    before, during = asyncio.run(go())
    assert not before  # its warning timer starts when it begins
    assert during


def test_a_held_attempt_whose_result_is_read_before_its_instants_timer_is_told_started() -> None:
    told = SimpleNamespace(started=[], ended=[])
    events: Any = type(
        "Events",
        (),
        {
            "watching_starts": lambda self: True,
            "started": lambda self, attempt, at: told.started.append(attempt.run_id),
            "started_all": lambda self, attempts, at: told.started.extend(
                a.run_id for a in attempts
            ),
            "ended": lambda self, attempt: told.ended.append(attempt.run_id),
            "abandoned": lambda self, attempt, ms: None,
        },
    )()
    python: Any = type("Python", (), {"submit": lambda self, batch: [None] * len(batch)})()
    state = WorkerState(new_identity(WorkerOptions()))
    finished = Finished()
    runs = PythonRuns(state, python, Holds(), events, finished, ClaimPacer(100, 1.0))  # type: ignore[arg-type]

    async def go() -> tuple[list[int], list[int]]:
        start_at = time.monotonic() + 0.05
        plain = make_attempt("python", f"{JOBS}:noop", run_id=7)
        watched = make_attempt("python", f"{JOBS}:noop", run_id=8, warn_after_seconds=60)
        runs.start([(plain, start_at), (watched, start_at)], True)
        time.sleep(0.1)  # the worker woke late, its instant's timer due but not yet run:
        for run_id in (7, 8):  # its processes' results are read first, in the same turn
            run = state.in_flight[run_id].task
            run.answered(Outcome(RunStatus.SUCCEEDED, started_monotonic=start_at))  # type: ignore[union-attr]
        told_then = list(told.started)
        for _ in range(2):  # this test's turn ends; the instant's timer runs next
            await asyncio.sleep(0)
        told_in_turn = list(told.started)
        await asyncio.sleep(0.1)  # the timer must not tell them again
        return told_then, told_in_turn

    told_then, told_in_turn = asyncio.run(go())
    # One with a warning timer is told at once, before ended cancels its timer; the
    # other by its instant's timer, in the same turn, with the others of its instant.
    assert told_then == [8]
    assert told_in_turn == told.started == [8, 7]
    assert told.ended == [7, 8]
    assert finished.status(7) is RunStatus.SUCCEEDED


def test_a_claims_starts_are_told_together_held_ones_by_one_callback_per_instant() -> None:
    told: list[tuple[list[int], float]] = []
    events: Any = type(
        "Events",
        (),
        {
            "watching_starts": lambda self: True,
            "started_all": lambda self, attempts, at: told.append(
                ([a.run_id for a in attempts], at)
            ),
        },
    )()
    timers: list[float] = []

    class CountedHolds(Holds):
        def call_at(self, at: float, callback: Any) -> None:
            timers.append(at)
            super().call_at(at, callback)

    python: Any = type("Python", (), {"submit": lambda self, batch: [None] * len(batch)})()
    state = WorkerState(new_identity(WorkerOptions()))
    runs = PythonRuns(state, python, CountedHolds(), events, Finished(), ClaimPacer(100, 1.0))  # type: ignore[arg-type]

    async def go() -> tuple[float, float]:
        now = time.monotonic()
        first, second = now + 0.1, now + 0.2
        batch = [(make_attempt("python", f"{JOBS}:noop", run_id=n), now - 1) for n in (1, 2)]
        batch += [(make_attempt("python", f"{JOBS}:noop", run_id=n), first) for n in (3, 4, 5)]
        batch += [(make_attempt("python", f"{JOBS}:noop", run_id=n), second) for n in (6, 7)]
        runs.start(batch, True)
        assert [ids for ids, _ in told] == [[1, 2]]  # those due: at once, together
        del state.in_flight[4]  # taken away before its instant: never told
        await asyncio.sleep(0.3)
        return first, second

    first, second = asyncio.run(go())
    assert sorted(timers) == [first, second]  # one callback per instant, not per slot
    assert told[1:] == [([3, 5], first), ([6, 7], second)]
