"""The worker: claim due slots and pending attempts, execute them, record outcomes.

Identical workers cooperate only through the database. Each loop round claims at
most its free capacity with ``FOR UPDATE SKIP LOCKED``, starts the attempts, then
sleeps until the earliest due time (by the database clock), a NOTIFY, or a freed
slot, whichever comes first. Side loops keep the lease (``heartbeat.py``), write
outcomes in batches (``finisher.py``) and listen for wake-ups (``listener.py``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from pgsched.engine.backoff import Backoff
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.events import RunEvents
from pgsched.engine.finisher import Finisher
from pgsched.engine.heartbeat import Heartbeat, Recovery
from pgsched.engine.options import WorkerOptions
from pgsched.engine.planner import plan_job
from pgsched.engine.repository import Repository, WorkerIdentity
from pgsched.errors import DatabaseError
from pgsched.executors.base import Executor
from pgsched.executors.http import HttpExecutor
from pgsched.executors.python import PythonExecutor
from pgsched.executors.shell import ShellExecutor
from pgsched.logging import run_fields
from pgsched.models import Attempt, Outcome, RunStatus

# When due work (or new jobs) exists but other workers hold it, look again after this
# long, then twice as long each time up to the maximum: slow enough not to spin when
# rows stay locked (a capped queue, a user's open transaction), quick enough that a
# worker does not idle beside a busy one, nor a new job wait a poll for its next_run.
CONTENDED_RETRY_SECONDS = 0.01
CONTENDED_MAX_SECONDS = 0.1
# Under backlog, how long to wait for more capacity before claiming a small batch.
BATCH_GATHER_SECONDS = 0.005
# Under backlog, pending attempts (retries, manual runs) are looked for this often.
BACKLOG_PENDING_CHECK_SECONDS = 0.1
# New jobs (next_run NULL) get their first next_run in batches of this size.
SCHEDULE_BATCH = 1000
# After the grace period, interrupted attempts get this long to be stopped and recorded.
SHUTDOWN_RECORD_SECONDS = 10.0
ABORT_RECORD_SECONDS = 2.0

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = structlog.get_logger(__name__)


class _Taken:
    """Cancellation reason: the attempt is no longer ours; record nothing."""


TAKEN = _Taken()


class Worker:
    """One worker process's engine."""

    def __init__(self, url: str, options: WorkerOptions, plan: ConnectionPlan) -> None:
        self.options = options
        self.plan = plan
        self.identity = self._new_identity()
        self._claims = Repository(url, "pgsched-worker", plan.prepare)
        self._side = Repository(url, "pgsched-worker-side", plan.prepare)
        self._beats = Repository(url, "pgsched-worker-heartbeat", plan.prepare)
        self._events = RunEvents.for_worker(lambda: self.worker_id, options)
        self._finisher = Finisher(
            Repository(url, "pgsched-worker-finish", plan.prepare), self._events
        )
        self._executors: dict[str, Executor] = {
            "python": PythonExecutor(
                options.allow_python,
                options.python_processes or options.concurrency,
                self._save_checkpoint,
                options.hidden_env,
            ),
            "shell": ShellExecutor(options.allow_shell, options.hidden_env),
            "http": HttpExecutor(options.http_per_host, options.hidden_env),
            "sql": plan.sql_executor(options),
        }
        self._in_flight: dict[int, tuple[Attempt, asyncio.Task[None]]] = {}
        self._cancel_reasons: dict[int, Outcome | _Taken] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._aborting = False
        self._check_pending = True
        self._pending_due_at: float | None = None
        self._more_to_schedule = True
        self._pending_checked_at = 0.0
        # Set when the last claim took all it could: more was due than capacity.
        self._backlog = False
        # Set when pending attempts wait for their job's running attempt to end.
        self._pending_blocked = False
        self._gather_floor = max(1, options.concurrency // 4)
        self._claiming = False
        # Claims that found due work but could take none of it, in a row.
        self._empty_claims = 0
        self._stop_requested_at: float | None = None

    @property
    def worker_id(self) -> str:
        """This worker's id, as ``runs.worker_id`` and ``workers.id`` hold it."""
        return self.identity.worker_id

    def _new_identity(self) -> WorkerIdentity:
        options = self.options
        return WorkerIdentity(
            worker_id="-".join(
                (options.name or socket.gethostname(), str(os.getpid()), secrets.token_hex(3))
            ),
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=options.queues,
            concurrency=options.concurrency,
            lease_seconds=options.lease_seconds,
        )

    # -- lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or ``request_stop``), then drain and exit."""
        loop = asyncio.get_running_loop()
        # From the very start: a stop signal while the database is away ends the wait.
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self.request_stop)
        heartbeat = Heartbeat(
            self._beats, self.options.lease_seconds, lambda: self.worker_id, self._presumed_dead
        )
        # Before registering: a metrics port in use stops the worker before it joins.
        self._events.serve(
            self.options, heartbeat, lambda: len(self._in_flight), lambda: self._finisher.unrecorded
        )
        try:
            if await self._register():
                await self._work(heartbeat)
        finally:
            for repository in (self._claims, self._side, self._beats):
                await repository.close()
            await self._finisher.close()
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
        recovery = Recovery(
            self._side,
            self.options.lease_seconds / 3,
            lambda: self.worker_id,
            self._held_runs,
            self._take_away,
            lambda: self._claiming,
            self._events,
        )
        notifications = self.plan.notifications(self._wake_up, self._take_away, recovery)
        side_tasks = [
            asyncio.create_task(_supervised(name, loop_function), name=name)
            for name, loop_function in (
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
        )
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            for task in side_tasks:
                task.cancel()
            await asyncio.gather(*side_tasks, return_exceptions=True)
            for executor in self._executors.values():
                await executor.close()
            await self._unregister()

    def request_stop(self) -> None:
        """First call: stop claiming and drain. Second call: stop at once."""
        now = time.monotonic()
        if self._stop_requested_at is not None and now - self._stop_requested_at < 1.0:
            return  # one signal delivered twice (to the process and its group)
        if self._stopping:
            log.warning("worker_aborting", worker_id=self.worker_id, running=len(self._in_flight))
            self._aborting = True
            for run_id in list(self._in_flight):
                self._cancel(run_id, TAKEN)
        else:
            log.info("worker_stopping", worker_id=self.worker_id, running=len(self._in_flight))
            self._stopping = True
            self._stop_requested_at = now
        self._wake.set()

    async def _register(self) -> bool:
        """Join the cluster, retrying while the database is away; False if stopped first."""
        backoff = Backoff()
        while not self._stopping:
            try:
                await self._side.register_worker(self.identity)
                return True
            except DatabaseError as exc:
                delay = backoff.next_delay()
                log.warning("worker_register_failed", error=str(exc), retry_in_s=round(delay, 2))
                await self._sleep(delay)
        return False

    async def _unregister(self) -> None:
        try:
            await self._side.stop_worker(self.worker_id)
        except DatabaseError as exc:
            log.warning("worker_unregister_failed", error=str(exc))

    async def _drain(self) -> None:
        """Let running attempts finish within the grace period, then interrupt the rest."""
        tasks = [task for _, task in self._in_flight.values()]
        if tasks and not self._aborting:
            log.info("worker_draining", running=len(tasks), grace_s=self.options.grace_seconds)
            await asyncio.wait(tasks, timeout=self.options.grace_seconds)
        interrupted = Outcome(
            RunStatus.LOST,
            error=f"interrupted: worker {self.worker_id} shut down before the attempt finished "
            f"(grace period {self.options.grace_seconds:g} s)",
        )
        for run_id in list(self._in_flight):
            self._cancel(run_id, TAKEN if self._aborting else interrupted)
        remaining = [task for _, task in self._in_flight.values()]
        if remaining:
            await asyncio.wait(remaining, timeout=SHUTDOWN_RECORD_SECONDS)
        # Even when aborting, attempts that did finish are worth a brief try to record.
        flush_for = ABORT_RECORD_SECONDS if self._aborting else SHUTDOWN_RECORD_SECONDS
        if not await self._finisher.flush(flush_for):
            log.error("outcomes_lost_at_shutdown", count=self._finisher.unrecorded)

    # -- claiming --------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            free = self.options.concurrency - len(self._in_flight)
            if free <= 0:
                await self._sleep(self.options.poll_interval)  # a finish wakes us
                continue
            if self._backlog and free < self._gather_floor:
                # More is due than we can take: let a few more attempts end, so one
                # claim serves many instead of one claim per finished attempt.
                await asyncio.sleep(BATCH_GATHER_SECONDS)
                free = self.options.concurrency - len(self._in_flight)
            try:
                self._claiming = True
                started = await self._claim(free)
                self._backlog = started >= free
                if self._backlog or self._more_to_schedule:
                    continue
                delay = await self._idle_delay(started)
            except DatabaseError as exc:
                delay = backoff.next_delay()
                log.warning("claim_failed", error=str(exc), retry_in_s=round(delay, 2))
            except Exception:  # a bug must not stop the cluster's work on this worker
                delay = backoff.next_delay()
                log.exception("claim_crashed", retry_in_s=round(delay, 2))
            else:
                backoff.reset()
            finally:
                self._claiming = False
            await self._sleep(delay)

    async def _claim(self, free: int) -> int:
        """Start pending attempts and due slots, up to ``free``; returns how many started."""
        if self._more_to_schedule:
            scheduled = await self._claims.schedule_new_jobs(
                self.options.queues, SCHEDULE_BATCH, plan_job
            )
            # After a bulk INSERT, one batch per round, between claims of due work.
            self._more_to_schedule = scheduled == SCHEDULE_BATCH
        started = 0
        now = time.monotonic()
        if (
            self._check_pending
            or (self._pending_due_at is not None and now >= self._pending_due_at)
            or (self._backlog and now - self._pending_checked_at >= BACKLOG_PENDING_CHECK_SECONDS)
        ):
            self._pending_checked_at = now
            self._check_pending = False
            self._pending_blocked = False
            self._pending_due_at = None
            attempts = await self._claims.claim_pending_runs(
                self.worker_id, self.options.queues, free
            )
            self._start(attempts)
            started += len(attempts)
            # More may be waiting behind the ones just started.
            self._check_pending = len(attempts) == free
        if started < free:
            result = await self._claims.claim_due_jobs(
                self.worker_id, self.options.queues, free - started, plan_job
            )
            for job_name, error in result.job_errors:
                log.error("job_schedule_invalid", job_name=job_name, error=error)
            self._start(result.attempts)
            started += len(result.attempts)
        return started

    async def _idle_delay(self, started: int) -> float:
        """How long to sleep: until the next due time, capped by the poll interval."""
        due = await self._claims.due_in(self.options.queues)
        self._more_to_schedule = due.unscheduled
        delay = CONTENDED_MAX_SECONDS if due.unscheduled else self.options.poll_interval
        if due.jobs is not None:
            if started or due.jobs > 0:
                self._empty_claims = 0
            else:
                # Due, yet nothing claimed: other workers (or a capped queue, or a
                # user's open transaction) hold those rows. Look again soon, then
                # less and less often, never spinning.
                self._empty_claims += 1
            contended = min(
                CONTENDED_RETRY_SECONDS * 2 ** min(self._empty_claims, 10),
                CONTENDED_MAX_SECONDS,
            )
            delay = min(delay, max(due.jobs, contended if self._empty_claims else 0.0))
        if due.pending is not None and not self._check_pending:
            # Pending attempts due now but not startable (their job is running) wait
            # for a finish, a NOTIFY or the next poll instead of spinning.
            self._pending_blocked = due.pending <= 0
            wait = self.options.poll_interval if self._pending_blocked else due.pending
            self._pending_due_at = time.monotonic() + wait
            delay = min(delay, wait)
        return delay

    async def _sleep(self, seconds: float) -> None:
        if self._wake.is_set() or seconds <= 0:
            self._wake.clear()
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            self._check_pending = True  # a poll: a run_now without NOTIFY is found now
        self._wake.clear()

    def _wake_up(self) -> None:
        self._check_pending = True
        self._more_to_schedule = True  # a NOTIFY may announce new jobs
        self._wake.set()

    # -- executing -------------------------------------------------------------

    def _start(self, attempts: Sequence[Attempt]) -> None:
        self._events.started(attempts, self._claims.claimed_at)
        for attempt in attempts:
            task = asyncio.create_task(self._execute(attempt), name=f"run-{attempt.run_id}")
            self._in_flight[attempt.run_id] = (attempt, task)

    async def _execute(self, attempt: Attempt) -> None:
        started = time.monotonic()
        outcome: Outcome | _Taken
        try:
            async with asyncio.timeout(attempt.timeout_seconds):
                outcome = await self._executors[attempt.kind].execute(attempt)
        except TimeoutError:
            outcome = Outcome(
                RunStatus.TIMED_OUT,
                error=f"timed out after {attempt.timeout_seconds} s; the work was stopped",
            )
        except asyncio.CancelledError:
            if attempt.run_id not in self._cancel_reasons:
                raise
            outcome = self._cancel_reasons.pop(attempt.run_id)
        except Exception as exc:  # an executor bug must not take the worker down
            log.exception("executor_failed", **run_fields(attempt, self.worker_id))
            outcome = Outcome.failed(f"pgsched could not run the attempt: {exc!r}")
        finally:
            self._in_flight.pop(attempt.run_id, None)
            if self._pending_blocked:
                self._check_pending = True  # a queued attempt of this job may start now
                self._wake.set()
            elif self._backlog or len(self._in_flight) + 1 >= self.options.concurrency:
                self._wake.set()  # the claim loop waits for capacity
        duration_ms = (time.monotonic() - started) * 1000
        if isinstance(outcome, _Taken):
            self._events.abandoned(attempt, duration_ms)
            return
        self._finisher.submit(attempt, outcome, duration_ms)

    def _cancel(self, run_id: int, reason: Outcome | _Taken) -> None:
        entry = self._in_flight.get(run_id)
        if entry is not None and run_id not in self._cancel_reasons:
            self._cancel_reasons[run_id] = reason
            entry[1].cancel()

    def _take_away(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            self._cancel(run_id, TAKEN)

    def _held_runs(self) -> list[tuple[int, int]]:
        return [(attempt.run_id, attempt.fence) for attempt, _ in self._in_flight.values()]

    async def _presumed_dead(self) -> None:
        """The cluster reaped this worker: drop its work and rejoin under a new id."""
        self._take_away(list(self._in_flight))
        self.identity = self._new_identity()
        await self._side.register_worker(self.identity)
        log.warning("worker_rejoined", worker_id=self.worker_id)

    async def _save_checkpoint(self, attempt: Attempt, value: Any) -> None:
        if not await self._side.save_checkpoint(attempt, value):
            raise RuntimeError("checkpoint not saved: this attempt no longer holds its claim")


async def _supervised(name: str, loop_function: Callable[[], Awaitable[None]]) -> None:
    """Run a side loop, restarting it (and saying so) if it ever crashes."""
    backoff = Backoff()
    while True:
        try:
            await loop_function()
            return
        except Exception:
            delay = backoff.next_delay()
            log.exception("side_loop_crashed", loop=name, restart_in_s=round(delay, 2))
            await asyncio.sleep(delay)
