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
one before it), not while it waits; the executor kills the child when it is up. A slot
held for its instant goes to its child shortly before it, and the child begins it then
(``python_held``). The child's side is ``pgsched.executors.python_child``, the messages
``child_channel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import structlog

from pgsched.executors.base import ERROR_LIMIT_CHARS, truncate
from pgsched.executors.job_user import JobUser
from pgsched.executors.python_children import (
    BATCH_MAX,
    CannotStart,
    Child,
    Ticket,
    batch_frame,
    choose_child,
    kill,
    request,
    settle,
    stop_all,
)
from pgsched.executors.python_held import HeldTickets, Quiet, spread
from pgsched.executors.python_pool import ChildPool
from pgsched.executors.python_target import remembered_allowance_problem
from pgsched.models import Attempt, Outcome

log = structlog.get_logger(__name__)

# An elastic pool grows by one process when an attempt has waited this long while
# every child has run its attempt as long: slow jobs (sleeping, on I/O) then run side
# by side without starving short ones; short jobs alone never grow it (more processes
# than cores only share them). Attempts queued behind one this slow are taken back.
GROW_AFTER_SECONDS = 0.05
# Attempts that take this long together make a batch (by a running average, weight
# DURATION_SMOOTHING), however few wait.
BATCH_SECONDS = 0.005
# How long a shutdown waits for children to say which queued attempts they hand back.
WITHDRAW_TIMEOUT_SECONDS = 1.0


class PythonExecutor(ChildPool):
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
        # The children's time per attempt and pace start slow: held slots are claimed
        # by the pace, and few at first.
        allowed, hidden = tuple(allowed_prefixes), tuple(hidden_env)
        super().__init__(allowed, hidden, user, save_checkpoint, GROW_AFTER_SECONDS)
        self.processes = processes
        self._max_processes = max(processes, max_processes or processes)
        self._slow_seconds = slow_seconds
        self._held = HeldTickets(self._hand_over)
        self._quiet = Quiet()
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
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

    async def execute(self, attempt: Attempt, start_at: float = 0.0) -> Outcome:
        """Run ``attempt`` in a child, not before monotonic instant ``start_at`` (a
        slot held for its instant: its child waits for it); stop it (withdrawn, or its
        child killed) if cancelled meanwhile. One that fails without beginning fails
        at ``start_at``, not before."""
        outcome = await self._execute(attempt, start_at)
        if outcome.started_monotonic is None and (early := start_at - time.monotonic()) > 0:
            await asyncio.sleep(early)
        return outcome

    async def _execute(self, attempt: Attempt, start_at: float) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        ticket = self._ticket(attempt, start_at, future.set_result)
        if not isinstance(ticket, Ticket):
            return ticket
        self._wake()  # held ones too: every process should be up by their instant
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled (timeout, overlap, shutdown): the job must stop before we return.
            await asyncio.shield(self.abandon(ticket))
            raise

    def submit(
        self, attempts: Sequence[tuple[Attempt, float, Callable[[Outcome], None]]]
    ) -> list[Ticket | None]:
        """The batch path: each ``(attempt, start_at, answer)`` runs as ``execute``
        would run it, and ``answer(outcome)`` is called once with its outcome, from
        the event loop (at once for one refused here), with no task or future of its
        own. ``abandon(ticket)`` stops one. Returns the tickets (None: answered)."""
        tickets: list[Ticket | None] = []
        for attempt, start_at, answer in attempts:
            ticket = self._ticket(attempt, start_at, answer)
            if isinstance(ticket, Ticket):
                tickets.append(ticket)
            else:
                answer(ticket)
                tickets.append(None)
        self._wake()
        return tickets

    def abandon(self, ticket: Ticket) -> asyncio.Task[None]:
        """Make sure ``ticket``'s attempt does not run, or is stopped (its child
        killed); its answer is no longer wanted. The task ends once it is so."""
        ticket.settled = True
        return self._spawn_task(self._abandon(ticket))

    def _ticket(
        self, attempt: Attempt, start_at: float, answer: Callable[[Outcome], None]
    ) -> Ticket | Outcome:
        """A ticket for ``attempt`` queued (held for ``start_at``, or waiting for a
        child), or the outcome of one refused before any child sees it."""
        problem = remembered_allowance_problem(attempt.target, self._allowed)
        if problem is not None:
            return Outcome.failed(truncate(problem, ERROR_LIMIT_CHARS), retryable=False)
        try:
            self._keys += 1
            sent = request(attempt, self._keys, start_at)
        except ValueError as exc:
            error = f"arguments of {attempt.target} cannot be sent to a python process: {exc}"
            return Outcome.failed(error, retryable=False)
        ticket = Ticket(attempt, self._keys, sent, answer, time.monotonic(), start_at=start_at)
        if start_at > ticket.since:
            self._held.hold(ticket)
        else:
            ticket.pending = True
            self._pending.append(ticket)
        return ticket

    @property
    def held(self) -> int:
        """How many attempts wait for an instant still to come (slots held for it)."""
        return self._held.later()

    @property
    def waiting(self) -> int:
        """How many attempts due now have not begun: waiting for a child, or queued in
        one (those held for a later instant are ``held``)."""
        if not self._held.later():
            return len(self._pending) + sum(max(0, len(c.queued) - 1) for c in self._pool)
        now = time.monotonic()
        queued = [ticket for child in self._pool for ticket in list(child.queued.values())[1:]]
        return sum(1 for ticket in (*self._pending, *queued) if ticket.start_at <= now)

    @property
    def running(self) -> int:
        """How many attempts run in a child now (one a child at most; one held for its
        instant in its child does not run yet)."""
        now = time.monotonic()
        return sum(1 for child in self._pool if child.queued and child.head_since <= now)

    def quiet(self) -> float:
        """How long the worker should still leave the cores to the children, which
        begin an instant's held attempts (0: not now; ``python_held.Quiet``)."""
        return self._quiet.remaining()

    async def withdraw_unstarted(self, run_ids: Collection[int]) -> set[int]:
        """Take back those of ``run_ids`` that have not begun and now never will: held
        for their instant, waiting for a child, or queued in one (its first too, which
        may be waiting for its instant). Which were taken."""
        wanted = set(run_ids)
        gone = [t for t in self._held.waiting() if t.run_id in wanted and self._held.take(t)]
        gone.extend(t for t in self._pending if t.run_id in wanted)
        asking = [
            self._spawn_task(self._withdraw(child, keys))
            for child in self._pool
            if (keys := [t.key for t in child.queued.values() if t.run_id in wanted])
        ]
        for ticket in gone:
            self._unqueue(ticket)
        if asking:
            done, late = await asyncio.wait(asking, timeout=WITHDRAW_TIMEOUT_SECONDS)
            gone.extend(ticket for task in done for ticket in task.result())
            for task in late:  # those handed back after all run here
                task.add_done_callback(self._handed_back_late)
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
        # Slots held for their instant begin on every process: start them beforehand.
        while self._held.later() and len(self._pool) < self.processes:
            try:
                await self._add_child()
            except CannotStart:
                break  # handed over, they wait for a child and fail as others do
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
        seconds = self.attempt_seconds or self._initial_seconds
        return int(BATCH_SECONDS / max(seconds, BATCH_SECONDS / BATCH_MAX))

    def _hand_over(self, tickets: list[Ticket]) -> None:
        """Send an instant's held tickets to the children, shortly before it, shared so
        that each begins about as many (not to one whose attempt runs slow; beyond
        BATCH_MAX if need be: they were held because their processes begin them soon)."""
        slow = time.monotonic() - self._slow_seconds
        live = [c for c in self._pool if not c.stopping]
        live = [c for c in live if not c.queued or c.head_since > slow] or live
        shares = spread(tickets, live)
        for child, share in shares:
            self._send(child, share)
        begun_by = [child for child, _ in shares]
        self._quiet.begin(begun_by, tickets[0].start_at, len(tickets), self.pace)
        if not live:  # none yet (or none can start): they wait for a child as others do
            for ticket in tickets:
                ticket.pending = True
            self._pending.extend(tickets)
            self._wake()

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
            child.output.attempt_started(tickets[0].run_id)
            child.began(time.monotonic(), self._expired)
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
        self._pend_again(await self._withdraw(child, keys))

    def _handed_back_late(self, withdrawal: asyncio.Task[list[Ticket]]) -> None:
        # Answered after withdraw_unstarted stopped waiting: those are still this
        # worker's to run, and nothing else would send them to a child again.
        if not withdrawal.cancelled() and withdrawal.exception() is None:
            self._pend_again(withdrawal.result())

    def _pend_again(self, taken: list[Ticket]) -> None:
        """Tickets a child handed back wait for a child again, first in line."""
        self._pending.extendleft(reversed([t for t in taken if not t.abandoned]))
        for ticket in taken:
            ticket.pending = not ticket.abandoned
        self._wake()

    async def _abandon(self, ticket: Ticket) -> None:
        """Make sure a cancelled attempt does not run, or is stopped."""
        ticket.abandoned = True
        while True:
            if ticket.pending or self._held.take(ticket):
                self._unqueue(ticket)
                return
            child = ticket.child
            if child is None:
                return  # answered, or handed back
            # The fate of the next one, should the child have begun it meanwhile:
            fate = f"cut short: its python process was killed to stop run {ticket.run_id}"
            if child.head() is ticket and ticket.start_at <= time.monotonic():
                await kill(child, reason="attempt cancelled", fate=fate)
                return
            try:
                async with asyncio.timeout(WITHDRAW_TIMEOUT_SECONDS):
                    await self._withdraw(child, [ticket.key])
            except TimeoutError:
                # Its reader cannot run (a job holding the interpreter): stop it all.
                fate = f"the python worker process was killed to stop attempt {ticket.run_id}"
                await kill(child, reason="did not hand back a cancelled attempt", fate=fate)
            # Withdrawn, answered, or begun meanwhile (its instant come): look again.

    def _unqueue(self, ticket: Ticket) -> None:
        with contextlib.suppress(ValueError):
            self._pending.remove(ticket)
        ticket.pending = False

    def _fail_waiting(self, error: str) -> None:
        while self._pending:
            ticket = self._pending.popleft()
            ticket.pending = False
            settle(ticket, Outcome.failed(error))
