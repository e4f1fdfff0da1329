"""Runs ``python`` jobs (target ``package.module:function``) in reusable child processes.

A job runs in a child, not in the worker, so that it can block, leak, crash or call
``os._exit`` without harm to the worker, and so that a timed-out job can be stopped
for certain: each child leads its own process group, which is killed whole. Children
outlive attempts because starting an interpreter costs far more than most jobs.

When attempts wait, a child gets many in one message (a batch) and runs them in order,
answering each as it ends: one write and one wake-up carry many attempts. Each keeps
its own fate. The first attempt a child has not answered is the one it may be running;
those behind it have not begun, and a withdrawal takes them back at once (the child
reads it on a thread of its own). An attempt cancelled while queued is withdrawn;
one cancelled while it runs kills its child, whose queued attempts go to another; a
child that dies loses only the attempt it ran; at shutdown queued attempts are handed
back like any not begun; those behind a slow one are taken back and sent elsewhere.
An attempt's timeout counts from when it begins in its child (as the child answers the
one before it), not while it waits; the executor kills the child when it is up. The
child's side is ``pgsched.executors.python_child``, the messages ``child_channel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import structlog

from pgsched.config import job_environment
from pgsched.executors.base import ERROR_LIMIT_CHARS, signal_group, truncate
from pgsched.executors.job_user import JobUser
from pgsched.executors.python_children import (
    BATCH_MAX,
    CannotStart,
    Child,
    Ticket,
    batch_frame,
    checkpoint,
    child_gone,
    choose_child,
    kill,
    request,
    settle,
    spawn,
    stop_all,
    time_out,
)
from pgsched.executors.python_target import remembered_allowance_problem
from pgsched.models import Attempt, Outcome, RunStatus

log = structlog.get_logger(__name__)

# An elastic pool grows by one process when an attempt has waited this long while
# every child has run its attempt as long: slow jobs (sleeping, on I/O) then run side
# by side without starving short ones; short jobs alone never grow it (more processes
# than cores only share them). Attempts queued behind one this slow are taken back.
GROW_AFTER_SECONDS = 0.05
# Attempts that take this long together make a batch (by a running average, weight
# DURATION_SMOOTHING), however few wait.
BATCH_SECONDS, DURATION_SMOOTHING = 0.005, 0.05
# How long a shutdown waits for children to say which queued attempts they hand back.
WITHDRAW_TIMEOUT_SECONDS = 1.0


class PythonExecutor:
    """Runs python jobs in a pool of ``processes`` children, each running one attempt
    at a time; an elastic pool (``max_processes`` above ``processes``) grows up to it
    while attempts wait behind slow ones.

    Only targets under ``allowed_prefixes`` run (``python_target``'s rules); others
    are refused before any child sees them. ``save_checkpoint(attempt, value)`` stores
    what a job passes to ``context.save_checkpoint``; the job waits until it returns.
    With ``user``, children run as that OS user; ``slow_seconds``: how long an
    attempt runs before those queued behind it are taken back. Call ``start`` first.
    """

    def __init__(
        self,
        allowed_prefixes: Sequence[str],
        processes: int,
        save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
        hidden_env: Sequence[str] = (),
        max_processes: int | None = None,
        user: JobUser | None = None,
        slow_seconds: float = GROW_AFTER_SECONDS,
    ) -> None:
        self._allowed = tuple(allowed_prefixes)
        self._hidden_env = tuple(hidden_env)
        self._user = user
        self.processes = processes
        self._max_processes = max(processes, max_processes or processes)
        self._save_checkpoint = save_checkpoint
        self._slow_seconds = slow_seconds
        # Average time attempts take in their child (held slots are claimed by it).
        self.seconds = GROW_AFTER_SECONDS
        # Attempts waiting for a child, oldest first.
        self._pending: deque[Ticket] = deque()
        self._pool: list[Child] = []  # children able to take attempts (not exited)
        self._children: set[Child] = set()
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._withdrawal_ids = 0
        self._keys = 0

    async def start(self) -> None:
        """Start one child, so the first attempt does not wait for an interpreter.

        Only when python jobs are allowed at all. A child that cannot start (an
        interpreter the ``--run-as`` user may not run) is logged, and each attempt
        then fails saying why, while the worker runs its other kinds of jobs.
        """
        if not self._allowed:
            return
        try:
            await self._add_child()
        except CannotStart as exc:
            log.error("python_child_start_failed", error=str(exc))

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run ``attempt`` in a child; stop it (withdrawn, or its child killed) if
        cancelled meanwhile."""
        problem = remembered_allowance_problem(attempt.target, self._allowed)
        if problem is not None:
            return Outcome.failed(truncate(problem, ERROR_LIMIT_CHARS), retryable=False)
        try:
            self._keys += 1
            encoded = request(attempt, self._keys)
        except (TypeError, ValueError) as exc:
            error = f"arguments of {attempt.target} are not JSON-serialisable: {exc}"
            return Outcome.failed(error, retryable=False)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        ticket = Ticket(attempt, self._keys, encoded, future, time.monotonic(), pending=True)
        self._pending.append(ticket)
        self._wake()
        try:
            return await ticket.future
        except asyncio.CancelledError:
            # Cancelled (timeout, overlap, shutdown): the job must stop before we return.
            await asyncio.shield(self._spawn_task(self._abandon(ticket)))
            raise

    @property
    def waiting(self) -> int:
        """How many attempts have not begun: waiting for a child, or queued in one."""
        queued = sum(max(0, len(child.queued) - 1) for child in self._pool)
        return len(self._pending) + queued

    async def withdraw_unstarted(self, run_ids: Collection[int]) -> set[int]:
        """Take back those of ``run_ids`` that have not begun and now never will: waiting
        for a child, or queued in one behind the attempt it runs. Which were taken."""
        wanted = set(run_ids)
        gone = [t for t in self._pending if t.run_id in wanted]
        asking = [
            self._spawn_task(self._withdraw(child, behind))
            for child in self._pool
            if (behind := [t.key for t in list(child.queued.values())[1:] if t.run_id in wanted])
        ]
        for ticket in gone:
            self._unqueue(ticket)
        if asking:
            done, late = await asyncio.wait(asking, timeout=WITHDRAW_TIMEOUT_SECONDS)
            gone.extend(ticket for task in done for ticket in task.result())
            for task in late:  # those handed back after all run here
                task.add_done_callback(lambda t: self._pending.extend(t.result()))
        for ticket in gone:
            ticket.abandoned = True
        return {ticket.run_id for ticket in gone}

    async def close(self) -> None:
        """Stop every child: SIGTERM to its process group, SIGKILL if it lingers."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        await stop_all(list(self._children))

    # -- dispatching -------------------------------------------------------------

    def _wake(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_loop())
        self._wakeup.set()

    async def _dispatch_loop(self) -> None:
        while True:
            # Woken by attempts arriving and children freeing up; while anything waits
            # or is queued, also every slow_seconds to look for slow attempts.
            try:
                await self._dispatch()
            except Exception:  # a bug here must not leave every attempt waiting
                log.exception("python_dispatch_failed")
            busy = self._pending or any(len(child.queued) > 1 for child in self._pool)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._slow_seconds if busy else None):
                    await self._wakeup.wait()
            self._wakeup.clear()

    async def _dispatch(self) -> None:
        """Send waiting attempts to children: an idle one first, then (a batch each)
        to those whose current attempt is not slow, starting children up to the pool's
        size on the way."""
        now = time.monotonic()
        self._take_back_from_slow_children(now)
        while self._pending:
            child = choose_child(self._pool, self.processes, now - self._slow_seconds)
            if child is None:
                if len(self._pool) >= self.processes:
                    return
                try:
                    child = await self._add_child()
                except CannotStart as exc:
                    self._fail_waiting(str(exc))
                    return
                continue
            # Spread over the pool, but short jobs in batches worth BATCH_SECONDS: a
            # batch of one per process costs a write and a wake-up each again.
            share = max(-(-len(self._pending) // self.processes), self._batch_for_speed())
            count = min(BATCH_MAX - len(child.queued), share, len(self._pending))
            self._send(child, [self._pending.popleft() for _ in range(count)])

    def _batch_for_speed(self) -> int:
        return int(BATCH_SECONDS / max(self.seconds, BATCH_SECONDS / BATCH_MAX))

    def _send(self, child: Child, tickets: list[Ticket]) -> None:
        tickets = [ticket for ticket in tickets if not ticket.abandoned]
        if not tickets:
            return
        idle = not child.queued
        for ticket in tickets:
            ticket.pending = False
            ticket.child = child
            child.queued[ticket.key] = ticket
        if idle:
            child.head_since = time.monotonic()
            child.output.attempt_started(tickets[0].run_id)
            child.began(child.head_since, self._expired)
        child.outbox.write(batch_frame(tickets))

    def _take_back_from_slow_children(self, now: float) -> None:
        """Withdraw attempts queued behind one running past slow_seconds, and grow
        an elastic pool when attempts have waited that long behind slow ones alone."""
        slow = now - self._slow_seconds
        for child in self._pool:
            if child.head_since <= slow and len(child.queued) > 1 and not child.withdrawals:
                self._spawn_task(self._requeue(child, list(child.queued)[1:]))
        if (
            self.processes < self._max_processes
            and self._pending
            and self._pending[0].since <= slow
            and all(child.queued and child.head_since <= slow for child in self._pool)
        ):
            self.processes += 1

    async def _requeue(self, child: Child, keys: list[int]) -> None:
        taken = await self._withdraw(child, keys)
        self._pending.extendleft(reversed([t for t in taken if not t.abandoned]))
        for ticket in taken:
            ticket.pending = not ticket.abandoned
        self._wake()

    async def _withdraw(self, child: Child, keys: list[int]) -> list[Ticket]:
        """Ask ``child`` for the tickets ``keys`` back; those it handed back, in order
        (none if it died first: the death hands back all but its current attempt)."""
        asked = [ticket for key in keys if (ticket := child.queued.get(key))]
        self._withdrawal_ids += 1
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        child.withdrawals[self._withdrawal_ids] = answer
        child.send({"type": "withdraw", "id": self._withdrawal_ids, "tickets": keys})
        taken = set(await answer)
        return [ticket for ticket in asked if ticket.key in taken]

    def _expired(self, ticket: Ticket) -> None:
        self._spawn_task(time_out(ticket))

    async def _abandon(self, ticket: Ticket) -> None:
        """Make sure a cancelled attempt does not run, or is stopped."""
        ticket.abandoned = True
        while True:
            if ticket.pending:
                self._unqueue(ticket)
                return
            child = ticket.child
            if child is None:
                return  # answered, or handed back
            # The fate of the next one, should the child have begun it meanwhile:
            fate = f"cut short: its python process was killed to stop run {ticket.run_id}"
            if child.head() is ticket:
                await kill(child, reason="attempt cancelled", fate=fate)
                return
            try:
                async with asyncio.timeout(WITHDRAW_TIMEOUT_SECONDS):
                    await self._withdraw(child, [ticket.key])
            except TimeoutError:
                # Its reader cannot run (a job holding the interpreter): stop it all.
                fate = f"the python worker process was killed to stop attempt {ticket.run_id}"
                await kill(child, reason="did not hand back a cancelled attempt", fate=fate)
            # Withdrawn, answered, or begun meanwhile (now first): look again.

    def _unqueue(self, ticket: Ticket) -> None:
        with contextlib.suppress(ValueError):
            self._pending.remove(ticket)
        ticket.pending = False

    def _fail_waiting(self, error: str) -> None:
        while self._pending:
            ticket = self._pending.popleft()
            ticket.pending = False
            settle(ticket, Outcome.failed(error))

    # -- children ----------------------------------------------------------------

    async def _add_child(self) -> Child:
        environment = job_environment(self._hidden_env)
        if self._user is not None:
            environment = self._user.environment(environment)
        sys_path = [str(entry) for entry in sys.path]
        child = await spawn(sys_path, self._allowed, environment, self._user)
        child.inbox.handler = lambda message: self._on_message(child, message)
        child.idle_since = time.monotonic()
        child.watcher = asyncio.create_task(self._watch(child))
        self._children.add(child)
        self._pool.append(child)
        return child

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "result":
            self._on_result(child, message)
        elif kind == "checkpoint":
            saved = checkpoint(child, message["ticket"], message["value"], self._save_checkpoint)
            self._spawn_task(saved)
        elif kind == "withdrawn":
            for key in message["tickets"]:
                ticket = child.queued.pop(key, None)
                if ticket is not None:
                    ticket.child = None
            answer = child.withdrawals.pop(message["id"], None)
            if answer is not None and not answer.done():
                answer.set_result(message["tickets"])
            self._wake()
        else:  # garbled, or a message this worker does not know
            fate = "the python worker process sent a message that is not JSON"
            self._spawn_task(kill(child, reason="sent a message the worker cannot read", fate=fate))

    def _on_result(self, child: Child, message: dict[str, Any]) -> None:
        ticket = child.queued.pop(message["ticket"], None)
        now = time.monotonic()
        if (started := message["started"]) is not None:  # the job's time, not the reading
            self.seconds += DURATION_SMOOTHING * (message["ended"] - started - self.seconds)
        if (head := child.head()) is not None:
            child.head_since = now
            child.output.attempt_started(head.run_id)
            # The child takes its next attempt as soon as it has written this result.
            child.began(message["ended"], self._expired)
        else:
            child.idle_since = now
        if self._pending:
            self._wake()
        if ticket is None:
            return
        ticket.child = None
        settle(
            ticket,
            Outcome(
                RunStatus(message["status"]),
                error=message["error"],
                output=message["output"],
                retryable=message["retryable"],
                started_monotonic=message["started"],
            ),
        )

    async def _watch(self, child: Child) -> None:
        returncode = await child.process.wait()
        # Whatever the job left running dies with the child, so nothing keeps its
        # pipe open or outlives the attempt that started it. The group id cannot have
        # been reused while any of them lives.
        signal_group(child.pid, signal.SIGKILL)
        child.inbox.drain_and_close()  # results it sent before it died still count
        child.outbox.close()
        self._children.discard(child)
        with contextlib.suppress(ValueError):
            self._pool.remove(child)
        if not child.stopping:
            log.warning("python_child_died", pid=child.pid, exit_code=returncode)
        behind = child_gone(child, returncode)
        # Never begun: they run in another child.
        self._pending.extendleft(reversed(behind))
        self._wake()

    def _spawn_task(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
