"""The worker's batch path for python attempts: no task, no future per attempt.

A claim's python attempts go to the python executor as one list
(``PythonExecutor.submit``); each child's result is turned into an outcome and
handed, by a callback in the event loop's turn that read it, straight to the
finisher. Each attempt keeps its own fate as a ``PythonRun``, what
``WorkerState.in_flight`` holds in place of a task: ``cancel()`` (recovery took it,
SIGTERM released it, shutdown interrupted it) withdraws it from its child or kills
the child, as cancelling its task did; ``wait()`` is a future made only when someone
waits (a drain). Shell, http and sql attempts, and refused ones, keep their task
(``TaskRuns``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial

import structlog

from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.engine.holding import Holds
from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.state import InFlight, Released, Taken, WorkerState
from pgsched.executors.python import PythonExecutor
from pgsched.executors.python_children import Ticket
from pgsched.log_lines import RUN_LINES, run_fields
from pgsched.models import Attempt, EndedAttempt, Outcome

log = structlog.get_logger("pgsched.engine.worker")


class PythonRun:
    """One python attempt on the batch path, from its claim to its outcome."""

    __slots__ = (
        "_runs",
        "_waiter",
        "attempt",
        "ended",
        "failing",
        "gone",
        "handed_over",
        "start_at",
        "ticket",
        "unannounced",
    )

    def __init__(self, runs: PythonRuns, attempt: Attempt, start_at: float) -> None:
        self.attempt = attempt
        self.start_at = start_at
        # When it went to its executor, or its instant if later: its time counts from
        # then should its process not say when it began.
        self.handed_over = start_at
        self.ticket: Ticket | None = None
        # Its outcome is decided (answered, or cancelled): later answers are dropped.
        self.ended = False
        # It has left the worker: recorded, handed to the finisher, or dropped.
        self.gone = False
        # The timer of one that failed without beginning, to end at its instant.
        self.failing: asyncio.TimerHandle | None = None
        # Held, its start to be told at its instant (RunEvents.started), not yet told.
        self.unannounced = False
        self._runs = runs
        self._waiter: asyncio.Future[None] | None = None

    def cancel(self) -> None:
        """Stop it (``WorkerState.cancel``, which gave the reason): withdrawn from its
        child if not begun, else its child killed; ended with the reason once so."""
        self._runs.cancel(self)

    def wait(self) -> asyncio.Future[None]:
        """A future done once it has left the worker (``asyncio.wait`` takes it)."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
            if self.gone:
                self._waiter.set_result(None)
        return self._waiter

    def answered(self, outcome: Outcome) -> None:
        """Its executor's answer (``Ticket.answer``)."""
        if self.ended:
            return
        self.ended = True
        if outcome.started_monotonic is None and self.start_at > time.monotonic():
            # One that fails without beginning fails at its instant, not before.
            loop = asyncio.get_running_loop()
            self.failing = loop.call_at(self.start_at, self._runs.end, self, outcome)
            return
        self._runs.end(self, outcome)

    def left(self) -> None:
        self.gone = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class PythonRuns:
    """Starts python attempts in batches and ends them through callbacks."""

    def __init__(
        self,
        state: WorkerState,
        python: PythonExecutor,
        holds: Holds,
        events: RunEvents,
        finisher: Finisher,
        pacer: ClaimPacer,
    ) -> None:
        self._state = state
        self._python = python
        self._holds = holds
        self._events = events
        self._finisher = finisher
        self._pacer = pacer

    def start(self, batch: Sequence[tuple[Attempt, float]], from_schedule: bool) -> None:
        """Hand ``(attempt, start_at)`` pairs to the executor as one list: those due
        begin now (for the worker), the others at ``start_at`` in their process."""
        now = time.monotonic()
        in_flight, events = self._state.in_flight, self._events
        watching = events.watching_starts()
        submitted: list[tuple[Attempt, float, Callable[[Outcome], None]]] = []
        runs: list[PythonRun] = []
        # Starts told together: those begun now, and those held, by instant (one
        # callback per instant of this claim, told in one batch then).
        begun: list[Attempt] = []
        held: dict[float, list[PythonRun]] = {}
        for attempt, start_at in batch:
            run = PythonRun(self, attempt, start_at)
            # Handed to the executor: "started" for the worker; the executor says
            # whether it has begun (release_unstarted).
            in_flight[attempt.run_id] = InFlight(attempt, run, from_schedule, True)
            told = watching or attempt.warn_after_seconds is not None
            if start_at > now:
                if told:
                    run.unannounced = True
                    group = held.get(start_at)
                    if group is None:
                        group = held[start_at] = []
                    group.append(run)
            else:
                run.handed_over = now
                if told:
                    begun.append(attempt)
            submitted.append((attempt, start_at, run.answered))
            runs.append(run)
        if begun:
            events.started_all(begun, now)
        for start_at, group in held.items():
            self._holds.call_at(start_at, partial(self._began_held, group, start_at))
        for run, ticket in zip(runs, self._python.submit(submitted), strict=True):
            run.ticket = ticket

    def cancel(self, run: PythonRun) -> None:
        if run.failing is not None:  # failed, waiting for its instant: ends now
            run.failing.cancel()
            run.failing = None
            self.end(run, None)
            return
        if run.ended:
            return  # being stopped already
        run.ended = True
        ticket = run.ticket
        if ticket is None:
            self.end(run, None)
            return
        stopping = self._python.abandon(ticket)
        stopping.add_done_callback(lambda task: self._stopped(run, task))

    def _stopped(self, run: PythonRun, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "python_attempt_not_stopped",
                error=repr(error),
                **run_fields(run.attempt, self._state.worker_id),
            )
        self.end(run, None)

    def end(self, run: PythonRun, outcome: Outcome | None) -> None:
        """``run`` has left its executor with ``outcome`` (None: cancelled, for the
        reason ``WorkerState.cancel`` gave): record it, or drop it."""
        attempt, state = run.attempt, self._state
        try:
            run.failing = None
            reason: object = outcome
            if outcome is None:
                reason = state.cancel_reasons.pop(attempt.run_id, None)
            if run.unannounced and (outcome is None or attempt.warn_after_seconds is not None):
                # Its result was read in the loop turn of its instant, before the timer
                # that tells its start (a late wake-up runs what was read first). One
                # that began is told by that timer, in this turn, with the others of its
                # instant; one with a warning timer now, before ``ended`` cancels it.
                run.unannounced = False
                if outcome is not None:
                    self._events.started(attempt, run.start_at)
            self._events.ended(attempt)
            state.left(attempt.run_id, run, self._pacer)
            self._record(run, reason)
        except Exception:  # a bug here must not stop the loop reading results
            log.exception("python_outcome_failed", **run_fields(attempt, state.worker_id))
        finally:
            run.left()

    def _record(self, run: PythonRun, reason: object) -> None:
        attempt = run.attempt
        ended = time.monotonic()
        if not isinstance(reason, Outcome):  # an outcome first: nearly every run has one
            if isinstance(reason, Released):
                RUN_LINES.forget(attempt.run_id)  # its keys, kept if it was logged started
                return  # never began: release_unstarted hands it back
            assert isinstance(reason, Taken) or reason is None
            # A held slot taken before its instant never began: no time of its own.
            self._events.abandoned(attempt, max(0.0, ended - run.handed_over))
            return
        began = reason.started_monotonic
        if began is None:
            began = run.handed_over
        clock = attempt.clock
        self._finisher.submit(
            EndedAttempt(
                attempt,
                reason,
                (ended - began) * 1000,
                # On the database clock, never early: the tightest bound answers give.
                None if clock is None else self._holds.clock.database_time(began, clock),
            )
        )

    def _began_held(self, group: list[PythonRun], start_at: float) -> None:
        """Tell the start of the held runs of ``group``, begun at instant ``start_at``,
        that are still this worker's, or ended with an outcome (``end``), and not told."""
        in_flight, begun = self._state.in_flight, []
        for run in group:
            if not run.unannounced:
                continue  # told already, or withdrawn and ended with no outcome
            run.unannounced = False
            held = in_flight.get(run.attempt.run_id)
            # Not withdrawn or taken meanwhile, or its outcome read before this timer.
            if run.gone or (held is not None and held.task is run):
                begun.append(run.attempt)
        if begun:
            self._events.started_all(begun, start_at)
