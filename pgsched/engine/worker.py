"""The worker: claim due slots and pending attempts, execute them, record outcomes.

Identical workers cooperate only through the database. Each loop round claims at
most what it can start promptly with ``FOR UPDATE SKIP LOCKED`` (and, when it is
not behind, the slots due within a short fire-ahead window, held until their
instant), starts the attempts, then sleeps until the next due time (by the
database clock), a NOTIFY, or a freed slot. ``pacing.py`` decides when to look and
for what; side loops keep the lease (``heartbeat.py``), write outcomes in batches
(``finisher.py``) and listen for wake-ups (``listener.py``); all share one
``WorkerState``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.engine.heartbeat import Heartbeat, Recovery
from pgsched.engine.holding import Holds
from pgsched.engine.keep_running import keep_running
from pgsched.engine.options import WorkerOptions
from pgsched.engine.pacing import BATCH_GATHER_SECONDS, ClaimPacer
from pgsched.engine.python_runs import PythonRuns
from pgsched.engine.release import hand_back_surplus, release_unstarted, side_by_side
from pgsched.engine.repository import Repository
from pgsched.engine.shared_plans import SharedPlans
from pgsched.engine.state import (
    TAKEN,
    WorkerState,
    ending,
    new_identity,
)
from pgsched.engine.task_runs import TaskRuns
from pgsched.errors import DatabaseError
from pgsched.executors.kinds import executors_for
from pgsched.models import Attempt, ClaimClock, Outcome, RunStatus

# New jobs (next_run NULL) get their first next_run in batches of this size.
SCHEDULE_BATCH = 1000
# After the grace period, interrupted attempts get this long to be stopped and recorded.
SHUTDOWN_RECORD_SECONDS = 10.0
ABORT_RECORD_SECONDS = 2.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# While the claim loop leaves the cores to python processes beginning an instant, it
# looks for a stop request this often.
QUIET_STOP_CHECK_SECONDS = 0.005

log = structlog.get_logger(__name__)


class Worker:
    """One worker process's engine."""

    def __init__(self, url: str, options: WorkerOptions, plan: ConnectionPlan) -> None:
        self.options = options
        self._plan = plan
        self.state = WorkerState(new_identity(options))
        # Half the lease: a transaction frozen with the worker ends well within it.
        session, sql_mode = (plan.prepare, options.lease_seconds / 2), plan.sql_pool_mode
        self._claims = Repository(url, "pgsched-worker", *session)
        self._side = Repository(url, "pgsched-worker-side", *session)
        self._beats = Repository(url, "pgsched-worker-heartbeat", *session)
        self._events = RunEvents.for_worker(lambda: self.state.worker_id, options)
        finish = Repository(url, "pgsched-worker-finish", *session)
        self._finisher = Finisher(finish, self._events, lambda: self._python.quiet())
        self._python, self._executors = executors_for(options, url, self._save_checkpoint, sql_mode)
        self._pacer = ClaimPacer(options.concurrency, options.poll_interval)
        self._planner = SharedPlans()
        self._holds = Holds()
        self._stopping = False
        self._aborting = False
        self._stop_requested_at: float | None = None
        # Python attempts go to their executor in batches, their outcomes come back
        # through callbacks: no task per attempt.
        shared = (self._holds, self._events, self._finisher, self._pacer)
        self._runs = PythonRuns(self.state, self._python, *shared)
        # Shell, http and sql attempts, and refused ones: a task each.
        self._tasks = TaskRuns(self.state, self._executors, *shared)

    @property
    def worker_id(self) -> str:
        """This worker's id, as ``runs.worker_id`` and ``workers.id`` hold it."""
        return self.state.worker_id

    # -- lifecycle -------------------------------------------------------------

    async def run(self, stop_requested: Callable[[], bool] = lambda: False) -> None:
        """Run until SIGTERM/SIGINT (or ``request_stop``), then drain and exit;
        ``stop_requested`` says whether a stop signal came before this started."""
        loop = asyncio.get_running_loop()
        self.state.claim_round_done()  # the wait for the database is behind us
        # From the very start: a stop signal while the database is away ends the wait.
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.request_stop)
        if stop_requested():
            self.request_stop()
        heartbeat = Heartbeat(self._beats, self.options, self.state)
        # Before registering: a metrics port in use stops the worker before it joins.
        server = None
        if self._events.metrics is not None:
            from pgsched.engine.metrics import serve_worker_metrics

            server = serve_worker_metrics(
                self._events.metrics, self.options, self.state, self._finisher, heartbeat
            )
        try:
            if await self._register():
                await self._work(heartbeat)
        finally:
            for repository in (self._claims, self._side, self._beats):
                await repository.close()
            await self._finisher.close()
            if server is not None:
                server.close()
            self._events.close()
            log.info("worker_stopped", worker_id=self.worker_id)

    async def _work(self, heartbeat: Heartbeat) -> None:
        """Once registered: claim, execute and record until stopped, then drain."""
        for executor in self._executors.values():
            await executor.start()
        if self.options.stop_after_seconds is not None:
            asyncio.get_running_loop().call_later(
                self.options.stop_after_seconds, self.request_stop
            )
        recovery = Recovery(self._side, self.options.lease_seconds / 3, self.state, self._events)
        notifications = self._plan.notifications(self.state, recovery)
        side_tasks = [
            asyncio.create_task(side_loop(), name=name)
            for name, side_loop in (
                ("heartbeat", heartbeat.run),
                ("recovery", recovery.run),
                notifications,
                ("finisher", self._finisher.run),
            )
        ]
        log.info(
            "worker_started",
            worker_id=self.worker_id,
            queues=list(self.options.queues),
            concurrency=self.options.concurrency,
            python_processes=self._python.processes,
        )
        try:
            await keep_running(
                self._claim_round,
                "claim_failed",
                "claim_crashed",
                wait=self._sleep,
                stopped=lambda: self._stopping,
            )
            await self._drain()
        finally:
            for task in side_tasks:
                task.cancel()
            await asyncio.gather(*side_tasks, return_exceptions=True)
            for executor in self._executors.values():
                await executor.close()
            await self._unregister()

    def request_stop(self) -> None:
        """First call: stop claiming, release what has not begun, drain. Second: stop at once."""
        now = time.monotonic()
        if self._stop_requested_at is not None and now - self._stop_requested_at < 1.0:
            return  # one signal delivered twice (to the process and its group)
        if self._stopping:
            log.warning("worker_aborting", worker_id=self.worker_id, running=self.state.running)
            self._aborting = True
            self.state.take_away(list(self.state.in_flight))
        else:
            log.info("worker_stopping", worker_id=self.worker_id, running=self.state.running)
            self._stopping = True
            self._stop_requested_at = now
        self.state.wake_up()

    async def _register(self) -> bool:
        """Join the cluster, retrying while the database is away; False if stopped first."""

        async def register() -> None:
            await self._side.register_worker(self.state.identity)
            registered.append(True)

        registered: list[bool] = []
        await keep_running(
            register,
            "worker_register_failed",
            "worker_register_crashed",
            wait=self._sleep,
            stopped=lambda: self._stopping or bool(registered),
        )
        return bool(registered)

    async def _unregister(self) -> None:
        try:
            await self._side.stop_worker(self.worker_id)
        except DatabaseError as exc:
            log.warning("worker_unregister_failed", error=str(exc))

    async def _drain(self) -> None:
        """Release what has not begun, let the rest finish within the grace period,
        then interrupt what still runs."""
        if not self._aborting:
            await release_unstarted(self.state, self._python, self._side, self._events.metrics)
        tasks = [ending(held.task) for held in self.state.in_flight.values()]
        if tasks and not self._aborting:
            log.info("worker_draining", running=len(tasks), grace_s=self.options.grace_seconds)
            await asyncio.wait(tasks, timeout=self.options.grace_seconds)
        interrupted = Outcome(
            RunStatus.LOST,
            error=f"interrupted: worker {self.worker_id} shut down before the attempt finished "
            f"(grace period {self.options.grace_seconds:g} s)",
        )
        for run_id in list(self.state.in_flight):
            self.state.cancel(run_id, TAKEN if self._aborting else interrupted)
        remaining = [ending(held.task) for held in self.state.in_flight.values()]
        if remaining:
            await asyncio.wait(remaining, timeout=SHUTDOWN_RECORD_SECONDS)
        # Even when aborting, attempts that did finish are worth a brief try to record.
        flush_for = ABORT_RECORD_SECONDS if self._aborting else SHUTDOWN_RECORD_SECONDS
        if not await self._finisher.flush(flush_for):
            log.error("outcomes_lost_at_shutdown", count=self._finisher.unrecorded)

    # -- claiming --------------------------------------------------------------

    def _free(self, ahead: bool = False) -> int:
        """How many attempts this worker can take now and begin promptly
        (``ClaimPacer.room``): shell, http and sql ones within --concurrency, beside
        the python attempts running in a process; python ones as many as its
        processes begin within a short wait, at their own time per attempt (python
        attempts waiting for a process or held for a later instant are not running).
        With ``ahead``: how many more slots to hold for their instants
        (``ClaimPacer.hold_room``)."""
        python = self._python
        if ahead:
            unstarted = sum(1 for held in self.state.in_flight.values() if not held.started)
            held = python.held + unstarted
            return self._pacer.hold_room(held, python.processes, python.pace)
        running = self._tasks.running + python.running
        seconds, waiting = python.attempt_seconds, python.waiting
        # Everything here but slots held for a later instant, whatever the executor's
        # step (an attempt handed to a child still starting is neither running nor
        # waiting in its counts).
        in_flight = self.state.running - python.held
        now = time.monotonic()
        return self._pacer.room(running, python.processes, seconds, waiting, now, in_flight)

    async def _claim_round(self) -> float:
        """One claim; returns how long to sleep before the next."""
        # Not while python processes begin an instant's held attempts (their results
        # wake this loop): a claim then, due work's or the next instant's, is worth
        # less than the cores they need (python_held.Quiet). SIGTERM goes first.
        while (quiet := self._python.quiet()) > 0 and not self._stopping:
            await asyncio.sleep(min(quiet, QUIET_STOP_CHECK_SECONDS))
        free = self._free()
        if self._pacer.should_gather(free):
            await asyncio.sleep(BATCH_GATHER_SECONDS)
            free = self._free()  # attempts may have begun waiting meanwhile: it can fall
        if free <= 0:
            self.state.claim_round_done()  # full: nothing to claim is healthy
            return self.options.poll_interval  # a finish wakes us
        if self.state.notified:
            self.state.notified = False
            self._pacer.woken()
        elif self._pacer.only_look(time.monotonic()):
            due = await self._claims.due_in(self.options.queues)
            if not self._pacer.within_reach(due, time.monotonic()):
                self.state.claim_round_done()
                return self._pacer.idle_delay(due, 0, time.monotonic())
        self.state.claiming = True
        try:
            claimed = await self._claim(free)
        finally:
            self.state.claiming = False
        self.state.claim_round_done()
        if self._pacer.backlog or self._pacer.more_to_schedule:
            return 0.0
        due = await self._claims.due_in(self.options.queues)
        return self._pacer.idle_delay(due, claimed, time.monotonic())

    async def _claim(self, free: int) -> int:
        """Start pending attempts and due slots, up to ``free`` (and hold slots due
        within the fire-ahead window); returns how many attempts it took in all."""
        pacer, queues = self._pacer, self.options.queues
        if pacer.more_to_schedule:
            scheduled = await self._claims.schedule_new_jobs(queues, SCHEDULE_BATCH, self._planner)
            pacer.scheduled(scheduled, SCHEDULE_BATCH)
        taken = held = 0
        latency = None
        # Pending attempts (retries, manual runs, a slot's other shards) are of any kind
        # and are not handed back: they are claimed within --concurrency less all the
        # worker holds, python attempts waiting for a process too: the shards of a slot
        # are meant to run side by side, on other workers if this one is busy.
        pending = min(free, pacer.pending_room)
        if pending > 0 and pacer.should_check_pending(time.monotonic()):
            attempts = await self._claims.claim_pending_runs(self.worker_id, queues, pending)
            self._start(attempts, from_schedule=False)
            pacer.pending_claimed(len(attempts), pending)
            taken += len(attempts)
        if taken < free:
            ahead = pacer.ahead_window(time.monotonic())
            limit = free - taken
            if ahead:
                within = pacer.side_room - taken
                hold = self._free(ahead=True) - taken
                due = pacer.python_room - taken
                limit = pacer.ahead_limit(hold, due, within, time.monotonic())
                if pacer.slot_soon and self._holds.clock.wants_sample(time.monotonic()):
                    self._holds.clock.observe(await self._claims.database_clock())
            claim_started = time.monotonic()
            pacer.claim_sent(claim_started, ahead)
            result = await self._claims.claim_due_jobs(
                self.worker_id, queues, limit, self._planner, ahead
            )
            self._events.planned(result)
            answered = time.monotonic()
            claimed = result.attempts
            pacer.kinds_claimed(sum(1 for a in claimed if side_by_side(a)), len(claimed))
            pacer.share_taken(len(result.attempts), ahead, answered, self.state.peers)
            # An empty claim is quick and says nothing of the claim the window must
            # cover: counted, a worker other workers left nothing would wake ever
            # later for the next instant, and find nothing again.
            latency = answered - claim_started if result.attempts else None
            starting = await hand_back_surplus(
                result.attempts, self.state, pacer, self._claims, self._events.metrics
            )
            held = self._start(starting, from_schedule=True)
            taken += len(starting) - held
        pacer.claimed(taken, free, latency)
        return taken + held

    async def _sleep(self, seconds: float) -> None:
        wake = self.state.wake
        if wake.is_set() or seconds <= 0:
            wake.clear()
            return
        try:
            async with asyncio.timeout(seconds):
                await wake.wait()
        except TimeoutError:
            pass
        wake.clear()

    # -- executing -------------------------------------------------------------

    def _start(self, attempts: Sequence[Attempt], from_schedule: bool) -> int:
        """Start each attempt (python ones as one batch, others a task each); returns
        how many wait for a later instant."""
        self._events.claimed(attempts)
        now = time.monotonic()
        later = 0
        clock = self._holds.clock
        clock.claimed(attempts)
        python: list[tuple[Attempt, float]] = []
        # A claim's attempts share its clock and come in slot order: the instant to
        # begin at is worked out again only when the slot or the clock changes
        # (keyed by slot, each attempt's instant was hashed afresh: ~0.3 us).
        slot: datetime | None = None
        slot_clock: ClaimClock | None = None
        at = 0.0
        for attempt in attempts:
            if attempt.scheduled_for != slot or attempt.clock is not slot_clock:
                slot, slot_clock = attempt.scheduled_for, attempt.clock
                at = clock.start_at(attempt)
            if at > now:
                later += 1
            if attempt.kind == "python" and attempt.refusal is None:
                python.append((attempt, at))
                continue
            self._tasks.start(attempt, at, from_schedule)
        if python:
            self._runs.start(python, from_schedule)
        return later

    async def _save_checkpoint(self, attempt: Attempt, value: Any) -> None:
        if not await self._side.save_checkpoint(attempt, value):
            raise RuntimeError("checkpoint not saved: this attempt no longer holds its claim")
