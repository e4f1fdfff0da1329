"""Attempts sent to one python child in a batch each keep their own fate.

Real child processes; each test puts several attempts on a one-process pool in the
same event-loop turn, so they reach the child as one batch and run one after the
other there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

from pgsched.executors.python import PythonExecutor
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt

JOBS = "tests.jobs_for_tests"


def attempt(run_id: int, function: str, **args: Any) -> Attempt:
    return make_attempt("python", f"{JOBS}:{function}", args, run_id=run_id)


def appender(run_id: int, path: Path, seconds: float = 0.0) -> Attempt:
    return attempt(run_id, "sleep_then_append", path=str(path), line=str(run_id), seconds=seconds)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def ignore_checkpoint(attempt: Attempt, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")


async def one_child(save: Any = ignore_checkpoint, slow_seconds: float = 30) -> PythonExecutor:
    """A pool of one child that leaves attempts queued in it (behind a slow one too),
    unless ``slow_seconds`` says when to take them back."""
    executor = PythonExecutor(("tests.",), 1, save, slow_seconds=slow_seconds)
    await executor.start()
    return executor


async def within(seconds: float, work: Any) -> Outcome | None:
    """``work``'s outcome, or None when cancelled after ``seconds`` (as a timeout does)."""
    try:
        async with asyncio.timeout(seconds):
            return await work  # type: ignore[no-any-return]
    except TimeoutError:
        return None


def test_a_batch_runs_in_one_child_each_attempt_started_when_it_began(tmp_path: Path) -> None:
    async def go() -> list[Outcome]:
        executor = await one_child()
        try:
            return list(
                await asyncio.gather(
                    executor.execute(appender(1, tmp_path / "ran", seconds=0.3)),
                    executor.execute(attempt(2, "getpid")),
                    executor.execute(attempt(3, "getpid")),
                )
            )
        finally:
            await executor.close()

    first, second, third = asyncio.run(go())
    assert [o.status for o in (first, second, third)] == [RunStatus.SUCCEEDED] * 3
    assert second.output == third.output  # one child ran them
    assert first.started_monotonic is not None and second.started_monotonic is not None
    assert second.started_monotonic >= first.started_monotonic + 0.3  # not the batch's start


def test_a_timeout_in_a_batch_kills_that_attempt_only_and_the_rest_run_once(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> list[Outcome | None]:
        executor = await one_child()
        try:
            # The first is cancelled while it runs: its child is killed with the
            # others queued behind it.
            return list(
                await asyncio.gather(
                    within(0.3, executor.execute(appender(1, ran, 2.0))),
                    within(30, executor.execute(appender(2, ran))),
                    within(30, executor.execute(appender(3, ran))),
                )
            )
        finally:
            await executor.close()

    timed_out, second, third = asyncio.run(go())
    time.sleep(2.2)  # had attempt 1 survived, it would have written by now
    assert timed_out is None
    assert second is not None and second.status is RunStatus.SUCCEEDED
    assert third is not None and third.status is RunStatus.SUCCEEDED
    assert sorted(lines(ran)) == ["2", "3"]  # each once; the timed-out one never wrote


def test_a_child_crashing_mid_batch_fails_only_the_attempt_it_was_running(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> list[Outcome]:
        executor = await one_child()
        try:
            return list(
                await asyncio.gather(
                    executor.execute(appender(1, ran)),
                    executor.execute(attempt(2, "hard_exit", code=3)),
                    executor.execute(appender(3, ran)),
                    executor.execute(appender(4, ran)),
                )
            )
        finally:
            await executor.close()

    before, crashed, *after = asyncio.run(go())
    assert before.status is RunStatus.SUCCEEDED
    assert crashed.status is RunStatus.FAILED
    assert crashed.error is not None and "died while running the job" in crashed.error
    assert [o.status for o in after] == [RunStatus.SUCCEEDED] * 2
    assert sorted(lines(ran)) == ["1", "3", "4"]


def test_an_attempt_cancelled_while_queued_is_withdrawn_and_its_child_keeps_running(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> tuple[Outcome | None, Outcome | None]:
        executor = await one_child()
        try:
            running, queued = await asyncio.gather(
                within(30, executor.execute(appender(1, ran, 0.5))),
                within(0.1, executor.execute(appender(2, ran))),
            )
            return running, queued
        finally:
            await executor.close()

    running, queued = asyncio.run(go())
    assert queued is None
    assert running is not None and running.status is RunStatus.SUCCEEDED  # not killed
    time.sleep(0.3)
    assert lines(ran) == ["1"]


def test_queued_attempts_are_handed_back_at_once_while_the_first_runs_on(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> tuple[set[int], float, Outcome]:
        executor = await one_child()
        try:
            tasks = [
                asyncio.ensure_future(executor.execute(appender(run_id, ran, seconds)))
                for run_id, seconds in ((1, 1.0), (2, 0.0), (3, 0.0))
            ]
            await asyncio.sleep(0.2)
            asked = time.monotonic()
            taken = await executor.withdraw_unstarted({1, 2, 3})
            answered = time.monotonic() - asked
            for task in tasks[1:]:
                task.cancel()  # as the worker does with what was handed back
            first = await tasks[0]
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            return taken, answered, first
        finally:
            await executor.close()

    taken, answered, first = asyncio.run(go())
    assert taken == {2, 3}  # the running one is not handed back
    assert answered < 0.5  # not after the running attempt
    assert first.status is RunStatus.SUCCEEDED
    time.sleep(0.2)
    assert lines(ran) == ["1"]


def test_checkpoints_of_a_batch_reach_their_own_attempt() -> None:
    saved: list[tuple[int, Any]] = []

    async def save(attempt: Attempt, value: Any) -> None:
        saved.append((attempt.run_id, value))

    async def go() -> list[Outcome]:
        executor = await one_child(save)
        try:
            return list(
                await asyncio.gather(
                    *(
                        executor.execute(attempt(n, "count_with_checkpoints", steps=n))
                        for n in (1, 2, 3)
                    )
                )
            )
        finally:
            await executor.close()

    outcomes = asyncio.run(go())
    assert [o.status for o in outcomes] == [RunStatus.SUCCEEDED] * 3
    assert saved == [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]


def test_attempts_queued_behind_a_slow_one_are_taken_back_and_run_elsewhere(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[float, int]:
        executor = PythonExecutor(("tests.",), 1, ignore_checkpoint, max_processes=2)
        await executor.start()
        try:
            slow = asyncio.ensure_future(executor.execute(appender(1, tmp_path / "ran", 1.5)))
            await asyncio.sleep(0.01)  # sent first: the quick one is queued behind it
            started = time.monotonic()
            quick = await executor.execute(attempt(2, "getpid"))
            waited = time.monotonic() - started
            await slow
            assert quick.status is RunStatus.SUCCEEDED
            return waited, executor.processes
        finally:
            await executor.close()

    waited, processes = asyncio.run(go())
    assert processes == 2 and waited < 1.2  # not behind the slow one


def test_after_many_short_attempts_a_few_still_run_each_once() -> None:
    # Short jobs go in batches larger than what waits: the batch is what there is.
    async def go() -> list[Outcome]:
        executor = PythonExecutor(("tests.",), 2, ignore_checkpoint)
        await executor.start()
        try:
            for run_id in range(300):
                await executor.execute(attempt(run_id, "noop"))
            return list(
                await asyncio.gather(*(executor.execute(attempt(n, "getpid")) for n in (1, 2, 3)))
            )
        finally:
            await executor.close()

    outcomes = asyncio.run(asyncio.wait_for(go(), 60))
    assert [o.status for o in outcomes] == [RunStatus.SUCCEEDED] * 3


def test_once_one_short_attempt_is_timed_short_ones_go_in_one_batch() -> None:
    # One time per attempt, from the first timed: the batches follow it at once, not a
    # second average still held near the start's guess (50 ms) for a hundred attempts.
    async def go() -> tuple[float, set[str]]:
        executor = PythonExecutor(("tests.",), 2, ignore_checkpoint)
        await executor.start()
        try:
            await executor.execute(attempt(0, "noop"))
            timed = executor.attempt_seconds
            outcomes = await asyncio.gather(
                *(executor.execute(attempt(n, "getpid")) for n in range(1, 6))
            )
            assert [o.status for o in outcomes] == [RunStatus.SUCCEEDED] * 5
            return timed, {str(o.output) for o in outcomes}
        finally:
            await executor.close()

    timed, processes = asyncio.run(asyncio.wait_for(go(), 60))
    assert 0 < timed < 0.001  # a no-op: a batch of 5 is worth under BATCH_SECONDS
    assert len(processes) == 1


def test_a_timeout_counts_from_when_the_attempt_begins_not_while_it_waits_in_a_batch(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> list[Outcome]:
        executor = await one_child()
        try:
            # The second waits 1.5 s behind the first, longer than its own 1 s timeout,
            # then runs 0.2 s of it.
            return list(
                await asyncio.gather(
                    executor.execute(appender(1, ran, 1.5)),
                    executor.execute(dataclasses.replace(appender(2, ran, 0.2), timeout_seconds=1)),
                )
            )
        finally:
            await executor.close()

    first, second = asyncio.run(go())
    assert [first.status, second.status] == [RunStatus.SUCCEEDED] * 2
    assert first.started_monotonic is not None and second.started_monotonic is not None
    assert second.started_monotonic >= first.started_monotonic + 1.5
    assert lines(ran) == ["1", "2"]


def test_an_attempt_past_its_timeout_is_stopped_and_the_one_behind_it_runs_once(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    async def go() -> tuple[Outcome, Outcome, float]:
        executor = await one_child()
        try:
            started = time.monotonic()
            slow = dataclasses.replace(appender(1, ran, 5.0), timeout_seconds=1)
            stopped, behind = await asyncio.gather(
                executor.execute(slow), executor.execute(appender(2, ran))
            )
            return stopped, behind, time.monotonic() - started
        finally:
            await executor.close()

    stopped, behind, took = asyncio.run(go())
    assert stopped.status is RunStatus.TIMED_OUT
    assert stopped.error == "timed out after 1 s; the work was stopped"
    assert stopped.started_monotonic is not None  # from when it began in its child
    assert behind.status is RunStatus.SUCCEEDED
    assert took < 4
    time.sleep(4.5)  # had attempt 1 survived, it would have written by now
    assert lines(ran) == ["2"]


def test_each_attempt_of_a_batch_keeps_its_own_timeout_longer_or_shorter_than_the_last(
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran"

    def timing_out_after(seconds: int, attempt_: Attempt) -> Attempt:
        return dataclasses.replace(attempt_, timeout_seconds=seconds)

    async def go() -> list[Outcome]:
        executor = await one_child()
        try:
            # 1 s then 60 s: the second runs past the first's deadline and must not be
            # stopped; 60 s then 1 s: the last must be stopped after its own second.
            return list(
                await asyncio.gather(
                    executor.execute(timing_out_after(1, appender(1, ran, 0.2))),
                    executor.execute(timing_out_after(60, appender(2, ran, 1.5))),
                    executor.execute(timing_out_after(1, appender(3, ran, 5.0))),
                )
            )
        finally:
            await executor.close()

    started = time.monotonic()
    outcomes = asyncio.run(go())
    assert [o.status for o in outcomes] == [
        RunStatus.SUCCEEDED,
        RunStatus.SUCCEEDED,
        RunStatus.TIMED_OUT,
    ]
    assert time.monotonic() - started < 4.5
    assert lines(ran) == ["1", "2"]
