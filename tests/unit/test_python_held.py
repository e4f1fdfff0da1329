"""Python attempts held for their instant: handed to a child before it, begun at it.

Real child processes. A held attempt (``execute(attempt, start_at)``) waits in the
executor until shortly before ``start_at``, then in its child's queue (still
withdrawable) until ``start_at`` itself, on the monotonic clock the worker and its
children share.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pgsched.executors.child_channel import (
    HEADER,
    SPIN_SECONDS,
    ChildChannel,
    batch_frame,
    encode,
)
from pgsched.executors.child_pipes import Inbox
from pgsched.executors.python import PythonExecutor
from pgsched.executors.python_children import request
from pgsched.executors.python_held import HAND_OVER_LEAD_SECONDS, QUIET_MAX_SECONDS
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt

JOBS = "tests.jobs_for_tests"
# Generous: a loaded test machine wakes a process late, never early.
LATE_SECONDS = 0.25


def attempt(run_id: int, function: str, timeout_seconds: int = 60, **args: Any) -> Attempt:
    target = f"{JOBS}:{function}"
    return make_attempt("python", target, args, run_id=run_id, timeout_seconds=timeout_seconds)


def appender(run_id: int, path: Path, seconds: float = 0.0) -> Attempt:
    return attempt(run_id, "sleep_then_append", path=str(path), line=str(run_id), seconds=seconds)


async def no_checkpoint(attempt: Attempt, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")


async def pool(processes: int = 1) -> PythonExecutor:
    executor = PythonExecutor(("tests.",), processes, no_checkpoint, slow_seconds=30)
    await executor.start()
    return executor


def test_held_attempts_begin_at_their_instant_never_before() -> None:
    async def go() -> tuple[float, list[Outcome]]:
        executor = await pool(2)
        try:
            start_at = time.monotonic() + 0.4
            held = [executor.execute(attempt(n, "getpid"), start_at) for n in range(20)]
            return start_at, list(await asyncio.gather(*held))
        finally:
            await executor.close()

    start_at, outcomes = asyncio.run(go())
    assert all(outcome.status is RunStatus.SUCCEEDED for outcome in outcomes)
    began = [outcome.started_monotonic for outcome in outcomes]
    assert all(at is not None and start_at <= at < start_at + LATE_SECONDS for at in began)


def test_a_held_attempt_is_in_its_child_before_its_instant() -> None:
    async def go() -> int:
        executor = await pool(1)
        try:
            start_at = time.monotonic() + 0.3
            task = asyncio.ensure_future(executor.execute(attempt(1, "getpid"), start_at))
            await asyncio.sleep(0.3 - HAND_OVER_LEAD_SECONDS / 2)
            in_children = sum(len(child.queued) for child in executor._pool)
            assert executor.held == 1 and executor.waiting == 0
            await task
            return in_children
        finally:
            await executor.close()

    assert asyncio.run(go()) == 1


def test_a_held_attempt_withdrawn_from_its_child_never_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"

    async def go() -> tuple[set[int], set[int], list[str]]:
        executor = await pool(1)
        try:
            start_at = time.monotonic() + 0.5
            # One still in the executor, one already waiting in the child.
            later = asyncio.ensure_future(executor.execute(appender(1, ran), start_at + 5))
            sooner = asyncio.ensure_future(executor.execute(appender(2, ran), start_at))
            await asyncio.sleep(0.5 - HAND_OVER_LEAD_SECONDS / 2)
            assert sum(len(child.queued) for child in executor._pool) == 1
            took = await executor.withdraw_unstarted([1, 2])
            for task in (later, sooner):
                task.cancel()  # as the worker does with the slots it hands back
            await asyncio.gather(later, sooner, return_exceptions=True)
            await asyncio.sleep(0.3)  # past the instant: it would have begun by now
            # The child was not killed to take it back: it runs the next attempt.
            pids = {child.pid for child in executor._pool}
            again = await executor.execute(attempt(3, "getpid"))
            return (
                took,
                pids,
                [again.output or "", *(ran.read_text().split() if ran.exists() else [])],
            )
        finally:
            await executor.close()

    took, pids, (pid, *lines) = asyncio.run(go())
    assert took == {1, 2}
    assert lines == []
    assert f"return: {pids.pop()}" in pid


def test_cancelling_a_held_attempt_takes_it_back_without_killing_its_child() -> None:
    async def go() -> tuple[int, str]:
        executor = await pool(1)
        try:
            start_at = time.monotonic() + 0.4
            task = asyncio.ensure_future(executor.execute(attempt(1, "getpid"), start_at))
            await asyncio.sleep(0.4 - HAND_OVER_LEAD_SECONDS / 2)
            pid = executor._pool[0].pid
            task.cancel()  # taken away by recovery, say, before its instant
            await asyncio.gather(task, return_exceptions=True)
            after = await executor.execute(attempt(2, "getpid"))
            return pid, after.output or ""
        finally:
            await executor.close()

    pid, output = asyncio.run(go())
    assert f"return: {pid}" in output


def test_a_held_attempt_is_timed_out_from_its_instant_not_while_it_waits() -> None:
    async def go() -> tuple[float, Outcome, Outcome]:
        executor = await pool(2)
        try:
            start_at = time.monotonic() + 1.2
            # A 1 s timeout; 1.2 s of waiting for the instant does not count.
            fits = executor.execute(attempt(1, "sleep_then_getpid", 1, seconds=0.3), start_at)
            runs_over = executor.execute(attempt(2, "sleep_then_getpid", 1, seconds=5), start_at)
            return start_at, *await asyncio.gather(fits, runs_over)
        finally:
            await executor.close()

    start_at, fits, runs_over = asyncio.run(go())
    assert fits.status is RunStatus.SUCCEEDED
    assert runs_over.status is RunStatus.TIMED_OUT
    assert runs_over.started_monotonic is not None
    assert start_at <= runs_over.started_monotonic < start_at + LATE_SECONDS


def test_held_attempts_of_a_child_killed_before_their_instant_run_in_another() -> None:
    async def go() -> tuple[int, list[Outcome], float]:
        executor = await pool(1)
        try:
            start_at = time.monotonic() + 0.5
            held = [executor.execute(attempt(n, "getpid"), start_at) for n in (1, 2)]
            tasks = [asyncio.ensure_future(work) for work in held]
            await asyncio.sleep(0.5 - HAND_OVER_LEAD_SECONDS / 2)
            killed = executor._pool[0].pid
            os.kill(killed, signal.SIGKILL)
            return killed, list(await asyncio.gather(*tasks)), start_at
        finally:
            await executor.close()

    killed, outcomes, start_at = asyncio.run(go())
    for outcome in outcomes:
        assert outcome.status is RunStatus.SUCCEEDED, outcome
        assert f"return: {killed}" not in (outcome.output or "")
        assert outcome.started_monotonic is not None and outcome.started_monotonic >= start_at


def test_a_held_attempt_refused_fails_at_its_instant_not_before() -> None:
    async def go() -> tuple[float, Outcome, float]:
        executor = await pool(1)
        try:
            start_at = time.monotonic() + 0.3
            refused = make_attempt("python", "elsewhere:job", run_id=1)
            outcome = await executor.execute(refused, start_at)
            return start_at, outcome, time.monotonic()
        finally:
            await executor.close()

    start_at, outcome, answered = asyncio.run(go())
    assert outcome.status is RunStatus.FAILED
    assert answered >= start_at


def test_the_child_takes_no_attempt_before_its_start_at_and_gives_it_back_meanwhile() -> None:
    parent_reads, child_writes = os.pipe()
    child_reads, parent_writes = os.pipe()
    channel = ChildChannel(child_reads, child_writes)
    channel.start_reading()
    start_at = time.monotonic() + 0.3
    os.write(parent_writes, batch_frame([held_request(key, start_at) for key in (1, 2)]))
    os.write(parent_writes, encode({"type": "withdraw", "id": 7, "tickets": [1]}))
    first = channel.next_attempt()
    taken_at = time.monotonic()
    os.close(parent_writes)
    answer = os.read(parent_reads, 4096)
    assert first is not None and first.ticket == 2
    assert taken_at >= start_at and channel.waited
    assert b'"tickets":[1]' in answer
    assert channel.next_attempt() is None  # the parent has gone


def test_a_batch_the_child_cannot_read_ends_its_attempts_rather_than_hang_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: failed.append(hook.exc_type))
    parent_reads, child_writes = os.pipe()
    child_reads, parent_writes = os.pipe()
    channel = ChildChannel(child_reads, child_writes)
    channel.start_reading()
    body = b"\x01" + marshal.dumps([(1, "jobs:noop")])  # a request of too few fields
    os.write(parent_writes, HEADER.pack(len(body)) + body)
    try:
        taken: list[object] = []
        taker = threading.Thread(target=lambda: taken.append(channel.next_attempt()), daemon=True)
        taker.start()
        taker.join(5)  # before: waited for ever
        assert taken == [None]
        deadline = time.monotonic() + 5  # the thread reports its error once it has ended
        while not failed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert failed == [TypeError]
    finally:
        for fd in (parent_reads, parent_writes):
            os.close(fd)


def test_results_of_an_instants_burst_stay_unread_while_the_children_begin_it() -> None:
    # Reading each result as it comes would take the CPU the children need to begin
    # the rest of the instant: the worker reads them once the burst is begun, in one
    # go, and its other loops (outcomes, claims) wait as long (``quiet``).
    async def go() -> tuple[float, list[float], list[Outcome], float, float]:
        executor = await pool(2)
        read_at: list[float] = []
        try:
            start_at = time.monotonic() + 0.3

            async def one(run_id: int) -> Outcome:
                outcome = await executor.execute(attempt(run_id, "getpid"), start_at)
                read_at.append(time.monotonic())
                return outcome

            async def quiet_at_the_instant() -> tuple[float, float]:
                before = executor.quiet()
                await asyncio.sleep(start_at - time.monotonic())
                return before, executor.quiet()

            asked = asyncio.create_task(quiet_at_the_instant())
            outcomes = await asyncio.gather(*(one(n) for n in range(200)))
            return start_at, read_at, list(outcomes), *(await asked)
        finally:
            await executor.close()

    start_at, read_at, outcomes, before, during = asyncio.run(go())
    assert all(outcome.status is RunStatus.SUCCEEDED for outcome in outcomes)
    began = [outcome.started_monotonic for outcome in outcomes]
    assert all(at is not None and at >= start_at for at in began)
    # The children's pace starts slow (50 ms): the longest quiet window.
    assert min(read_at) >= start_at + QUIET_MAX_SECONDS
    assert before == 0.0 and 0 < during <= QUIET_MAX_SECONDS


def test_an_inbox_left_unread_twice_reads_again_after_both_end() -> None:
    async def go() -> list[list[Any]]:
        reads, writes = os.pipe()
        seen: list[Any] = []
        loop = asyncio.get_running_loop()
        pipe = open(reads, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
        _, inbox = await loop.connect_read_pipe(Inbox, pipe)
        inbox.handler = seen.append
        snapshots = []
        inbox.leave_unread()
        inbox.leave_unread()
        os.write(writes, encode({"n": 1}))
        await asyncio.sleep(0.05)
        snapshots.append(list(seen))
        inbox.read_again()
        await asyncio.sleep(0.05)
        snapshots.append(list(seen))
        inbox.read_again()
        await asyncio.sleep(0.05)
        snapshots.append(list(seen))
        os.close(writes)
        inbox.drain_and_close()
        return snapshots

    assert asyncio.run(go()) == [[], [], [{"n": 1}]]


def test_the_child_spins_the_last_fraction_before_start_at_rather_than_sleep_through_it() -> None:
    # A timed wait wakes 0.1 to 0.5 ms late: the child's timed waits end SPIN_SECONDS
    # before start_at, and it takes the attempt at start_at, never before.
    parent_reads, child_writes = os.pipe()
    child_reads, parent_writes = os.pipe()
    channel = ChildChannel(child_reads, child_writes)
    waits: list[float] = []  # when each timed wait would end at the latest

    class Recording(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            if timeout is not None:
                waits.append(time.monotonic() + timeout)
            return super().wait(timeout)

    channel._changed = Recording(channel._lock)
    channel.start_reading()
    start_at = time.monotonic() + 0.2
    os.write(parent_writes, batch_frame([held_request(1, start_at)]))
    taken = channel.next_attempt()
    taken_at = time.monotonic()
    os.close(parent_writes)
    assert taken is not None and taken_at >= start_at
    assert waits and max(waits) <= start_at - SPIN_SECONDS + 0.0001
    os.close(parent_reads)


def test_an_attempt_handed_back_after_the_withdrawal_gave_up_goes_to_a_child_again() -> None:
    async def late_hand_back(executor: PythonExecutor, first: int) -> tuple[bool, bool, list[int]]:
        """One try: an attempt queued behind a long one, its process stopped while the
        withdrawal waits. Whether the answer came late (a stopped process sometimes
        answers first), whether the attempt went back to the child, what waits unsent."""
        running = asyncio.ensure_future(
            executor.execute(attempt(first, "sleep_then_getpid", seconds=30))
        )
        queued = asyncio.ensure_future(executor.execute(attempt(first + 1, "getpid")))
        # A new process, the one before it killed with its long attempt.
        while not executor._pool or len(executor._pool[0].queued) < 2:
            await asyncio.sleep(0.01)
        child = executor._pool[0]
        key = next(t.key for t in child.queued.values() if t.run_id == first + 1)
        os.kill(child.pid, signal.SIGSTOP)  # its reader cannot answer within the second
        try:
            late = not await executor.withdraw_unstarted([first + 1])
        finally:
            os.kill(child.pid, signal.SIGCONT)
        while child.withdrawals:  # the answer, late: it handed the attempt back
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        # Still this worker's to run: back in a child's queue (the only child's, behind
        # the 30 s attempt), not left in the executor's unseen.
        sent_again = key in child.queued
        waiting = [ticket.run_id for ticket in executor._pending]
        for task in (running, queued):
            task.cancel()
        await asyncio.gather(running, queued, return_exceptions=True)
        return late, sent_again, waiting

    async def go() -> tuple[bool, bool, list[int]]:
        executor = await pool(1)
        try:
            for first in range(1, 20, 2):
                late, sent_again, waiting = await late_hand_back(executor, first)
                if late:
                    break
            return late, sent_again, waiting
        finally:
            await executor.close()

    late, sent_again, waiting = asyncio.run(go())
    assert late, "no try had its process answer late"
    assert sent_again
    assert waiting == []


def held_request(ticket: int, start_at: float) -> tuple[Any, ...]:
    """A request as the worker sends it, ``ticket`` held until ``start_at``."""
    return request(attempt(ticket, "getpid"), ticket, start_at)
