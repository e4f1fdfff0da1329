"""Shell, http and sql attempts, and refused ones: a task each (python: ``PythonRuns``).

Each task waits for its attempt's instant, runs it through its executor and hands the
outcome to the finisher; ``WorkerState.cancel`` cancels the task with a reason (taken
away, handed back, interrupted at shutdown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from functools import partial

import structlog

from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.engine.holding import Holds
from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.state import InFlight, Released, Taken, WorkerState
from pgsched.executors.base import Executor
from pgsched.executors.kinds import execute
from pgsched.log_lines import run_fields
from pgsched.models import Attempt, EndedAttempt, Outcome

log = structlog.get_logger("pgsched.engine.worker")


class TaskRuns:
    """Starts an attempt as a task and records how it ended."""

    def __init__(
        self,
        state: WorkerState,
        executors: Mapping[str, Executor],
        holds: Holds,
        events: RunEvents,
        finisher: Finisher,
        pacer: ClaimPacer,
    ) -> None:
        self._state = state
        self._executors = executors
        self._holds = holds
        self._events = events
        self._finisher = finisher
        self._pacer = pacer
        self._live: set[asyncio.Task[None]] = set()

    def start(self, attempt: Attempt, start_at: float, from_schedule: bool) -> None:
        """Run ``attempt`` at ``start_at`` (monotonic) in a task of its own."""
        task = asyncio.create_task(self._execute(attempt, start_at), name=f"run-{attempt.run_id}")
        task.add_done_callback(partial(self._cancelled_unstepped, attempt))
        task.add_done_callback(self._live.discard)
        self._live.add(task)
        self._state.in_flight[attempt.run_id] = InFlight(attempt, task, from_schedule)

    @property
    def running(self) -> int:
        """Attempts with a task here, waiting for their instant or running: the shell,
        http and sql ones take --concurrency's room (refused ones end at once)."""
        return len(self._live)

    def _cancelled_unstepped(self, attempt: Attempt, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never enters _execute, whose cleanup
        # then never runs: taken away or handed back in its claim's turn, its attempt
        # would keep a --concurrency slot for good. It never began.
        state = self._state
        held = state.in_flight.get(attempt.run_id)
        if not task.cancelled() or held is None or held.task is not task:
            return
        reason = state.cancel_reasons.pop(attempt.run_id, None)
        state.left(attempt.run_id, task, self._pacer)
        if isinstance(reason, Outcome):
            self._finisher.submit(EndedAttempt(attempt, reason, 0.0, None))
        elif isinstance(reason, Taken):
            self._events.abandoned(attempt, 0.0)

    async def _execute(self, attempt: Attempt, start_at: float) -> None:
        state, clock = self._state, attempt.clock
        task = asyncio.current_task()
        assert task is not None  # _execute runs only as the task start() made
        outcome: Outcome | Taken | Released
        handed_over: float | None = None
        try:
            await self._holds.wait_until(start_at)
            handed_over = time.monotonic()
            state.in_flight[attempt.run_id].started = True
            self._events.started(attempt, handed_over)
            # Each executor times it from when it really begins: once a slot of
            # --concurrency is free (SideBySide).
            outcome = await execute(self._executors, attempt)
        except asyncio.CancelledError:
            if attempt.run_id not in state.cancel_reasons:
                raise
            outcome = state.cancel_reasons.pop(attempt.run_id)  # type: ignore[assignment]
        except Exception as exc:  # an executor bug must not take the worker down
            log.exception("executor_failed", **run_fields(attempt, state.worker_id))
            outcome = Outcome.failed(f"pgsched could not run the attempt: {exc!r}")
        finally:
            self._events.ended(attempt)
            state.left(attempt.run_id, task, self._pacer)
        ended = time.monotonic()
        if isinstance(outcome, Released):
            return  # never began: release_unstarted hands it back
        if isinstance(outcome, Taken):
            # A held slot taken before its instant never began: no time of its own.
            ran = 0.0 if handed_over is None else max(0.0, ended - handed_over)
            self._events.abandoned(attempt, ran)
            return
        began = outcome.started_monotonic or handed_over
        self._finisher.submit(
            EndedAttempt(
                attempt,
                outcome,
                0.0 if began is None else (ended - began) * 1000,
                # On the database clock, never early: the tightest bound answers give.
                None
                if began is None or clock is None
                else self._holds.clock.database_time(began, clock),
            )
        )
