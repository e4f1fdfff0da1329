"""Python child processes: starting one, what the worker knows of it and of the attempts
sent to it, stopping it for sure.

Each child leads its own process group, which is killed whole, and talks to the worker
over private pipes (``child_channel`` has the messages). ``PythonExecutor`` decides
what each child runs.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from pgsched.executors import child_channel
from pgsched.executors.base import signal_group
from pgsched.executors.child_channel import encode, iso_text
from pgsched.executors.child_checks import Withdrawal
from pgsched.executors.child_pipes import ChildDied, ChildOutput, Inbox
from pgsched.executors.job_user import JobUser
from pgsched.models import Attempt, Outcome, RunStatus

log = structlog.get_logger("pgsched.executors.python")

CHILD_MODULE = "pgsched.executors.python_child"
# The most attempts queued in one child: bounds what one slow attempt holds up until
# they are taken back, and one message's size.
BATCH_MAX = 64
# How long children get to handle SIGTERM before they are killed.
TERMINATE_GRACE_SECONDS = 2.0


class CannotStart(RuntimeError):
    """A child process could not be started."""


@dataclass(eq=False)
class Ticket:
    """One attempt on its way through the executor."""

    attempt: Attempt
    # The executor's number for it, unique while it lives (a run id may come twice).
    key: int
    # Its request (``child_channel.Request``'s fields): a batch is a list of these.
    request: tuple[Any, ...]
    # Called once with its outcome (``settle``): a future's ``set_result`` for one
    # awaited (``PythonExecutor.execute``), the worker's own callback for a batch
    # (``PythonExecutor.submit``).
    answer: Callable[[Outcome], None]
    # Since when it waits for a child (the monotonic clock).
    since: float
    # In the executor's queue, waiting for a child.
    pending: bool = False
    # Held in the executor for its instant, not yet handed to a child (python_held).
    held: bool = False
    # The child it was sent to and not answered by, if any.
    child: Child | None = None
    # Given up (cancelled, or handed back): never to be sent again.
    abandoned: bool = False
    # When it began in its child (the monotonic clock): its timeout counts from then,
    # not while it waited for a child or queued in one.
    began: float | None = None
    # The instant it may begin (the monotonic clock; 0: at once): a slot held for its
    # instant is handed to its child before it, and the child waits for it.
    start_at: float = 0.0
    # Answered (``settle``), or its answer no longer wanted: nothing more comes of it.
    settled: bool = False

    @property
    def run_id(self) -> int:
        return self.attempt.run_id

    @property
    def deadline(self) -> float | None:
        """When its timeout is up, once it has begun."""
        return None if self.began is None else self.began + self.attempt.timeout_seconds


@dataclass(eq=False)
class Child:
    """One child process, its private pipes, and the attempts sent to it."""

    process: asyncio.subprocess.Process
    inbox: Inbox
    outbox: asyncio.WriteTransport
    output: ChildOutput
    watcher: asyncio.Task[None] | None = None
    # Set when we stop the child, so that its exit is not reported as a death.
    stopping: bool = False
    # Why we killed it, if we did: the fate of the attempt it may have been running.
    kill_reason: str | None = None
    # Attempts sent and not answered, in the order sent: the first may be running,
    # the others have not begun.
    queued: dict[int, Ticket] = field(default_factory=dict)
    # When the first of ``queued`` began, or will: handed over, or the previous one
    # answered, or its start_at if later (the monotonic clock).
    head_since: float = 0.0
    # When it last had nothing to do: the most recently idle is used first.
    idle_since: float = 0.0
    # Withdrawals sent and not answered, by their id.
    withdrawals: dict[int, Withdrawal] = field(default_factory=dict)
    # One timer for the timeouts of the attempts it runs, and when it fires: re-armed
    # only when a new head's deadline comes sooner, not once per attempt.
    timer: asyncio.TimerHandle | None = None
    timer_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def head(self) -> Ticket | None:
        """The attempt it runs, or will run next; None when it has nothing."""
        for ticket in self.queued.values():  # the first; a loop costs less than next(iter())
            return ticket
        return None

    def began(
        self, at: float, expired: Callable[[Ticket], None], head: Ticket | None = None
    ) -> None:
        """Its head (``head``, if the caller has it) could begin from ``at`` (the
        monotonic clock), and does at its start_at if that is later (the child waits
        for it, and is not timed out while it does): ``expired(head)`` is called should
        the head still run when its timeout is up."""
        if head is None and (head := self.head()) is None:
            return
        start_at = head.start_at
        head.began = self.head_since = at if at > start_at else start_at
        deadline = head.began + head.attempt.timeout_seconds
        if self.timer is None or deadline < self.timer_at:
            self._arm(deadline, expired)

    def _arm(self, at: float, expired: Callable[[Ticket], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = at
        self.timer = asyncio.get_running_loop().call_at(at, self._check, expired)

    def _check(self, expired: Callable[[Ticket], None]) -> None:
        self.timer = None
        head = self.head()
        if head is None or head.abandoned or (deadline := head.deadline) is None:
            return  # idle, stopping it, or not begun: the next head arms the timer
        if deadline <= self.timer_at:
            expired(head)
        else:
            self._arm(deadline, expired)

    def send(self, message: dict[str, Any]) -> None:
        """Write ``message`` to it, unless it has gone."""
        if not self.outbox.is_closing():
            self.outbox.write(encode(message))


async def spawn(
    sys_path: list[str],
    allowed: tuple[str, ...],
    environment: dict[str, str],
    user: JobUser | None,
) -> Child:
    """A new child, ready for attempts; ``CannotStart`` saying why not. Its ``watcher``
    is left for the caller to set."""
    # Private pipes, not stdout: jobs print. Descriptors from os.pipe() are not
    # inherited, and pass_fds hands the child's two ends to this child alone. Its
    # stdout and stderr are a third pipe, never the worker's own (ChildOutput).
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    output_reads, output_writes = os.pipe()
    try:
        process = await _start_process(child_reads, child_writes, output_writes, environment, user)
    except BaseException:
        for end in (parent_reads, parent_writes, output_reads):
            os.close(end)
        raise
    try:
        loop = asyncio.get_running_loop()
        inbound = open(parent_reads, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
        outbound = open(parent_writes, "wb", buffering=0)  # noqa: SIM115 - as above
        printed = open(output_reads, "rb", buffering=0)  # noqa: SIM115 - as above
        _, inbox = await loop.connect_read_pipe(Inbox, inbound)
        outbox, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, outbound)
        _, output = await loop.connect_read_pipe(ChildOutput, printed)
        output.pid = process.pid
        ready: asyncio.Future[Any] = loop.create_future()

        def first_message(message: Any) -> None:
            if not ready.done():
                ready.set_result(message)

        inbox.handler = first_message
        outbox.write(encode({"sys_path": sys_path, "allowed": allowed}))
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait((ready, exited), return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            inbox.drain_and_close()
            outbox.close()
            died = ChildDied(exited.result())
            raise CannotStart(f"python worker process exited on start ({died})")
        exited.cancel()
    except BaseException:
        signal_group(process.pid, signal.SIGKILL)
        raise
    log.info("python_child_started", pid=process.pid)
    return Child(process, inbox, outbox, output)


def batch_frame(tickets: list[Ticket]) -> bytes:
    """One message carrying ``tickets``' requests."""
    return child_channel.batch_frame([ticket.request for ticket in tickets])


def choose_child(pool: list[Child], processes: int, slow_since: float) -> Child | None:
    """The child of ``pool`` to send to next: the most recently idle, else (once the
    pool has ``processes``) the least queued whose current attempt is not slow (handed
    over after ``slow_since``) and that has room. None: start a child, or wait."""
    live = [child for child in pool if not child.stopping]
    idle = [child for child in live if not child.queued]
    if idle:
        return max(idle, key=lambda child: child.idle_since)
    if len(pool) < processes:
        return None
    open_ = [c for c in live if c.head_since > slow_since and len(c.queued) < BATCH_MAX]
    return min(open_, key=lambda child: len(child.queued), default=None)


def request(attempt: Attempt, key: int, start_at: float = 0.0) -> tuple[Any, ...]:
    """What a child needs to run ``attempt``, as ticket ``key``, not before monotonic
    instant ``start_at``: ``child_channel.Request``'s fields; ``ValueError`` when its
    arguments or checkpoint cannot be sent (``marshal`` refuses them)."""
    args, checkpoint = attempt.args, attempt.checkpoint
    # Values from the database are JSON and always can; anything else is refused here,
    # for this attempt alone, rather than fail the batch it would go in.
    if args:
        marshal.dumps(args)
    if checkpoint is not None:
        marshal.dumps(checkpoint)
    return (
        key,
        attempt.target,
        args,
        attempt.job_name,
        attempt.run_id,
        iso_text(attempt.scheduled_for),
        attempt.attempt,
        checkpoint,
        attempt.shard,
        attempt.shards,
        start_at,
    )


def settle(ticket: Ticket, outcome: Outcome) -> None:
    """Answer ``ticket`` with ``outcome``, unless it was answered or cancelled."""
    if not ticket.settled:
        ticket.settled = True
        ticket.answer(outcome)


async def time_out(ticket: Ticket) -> None:
    """Stop an attempt still running when its timeout is up: kill its child, then
    answer it timed out (unless its result, read as the child died, came first)."""
    child = ticket.child
    if child is None or child.head() is not ticket or ticket.settled:
        return  # answered, or handed back, meanwhile
    ticket.abandoned = True  # its child's death is not its outcome
    fate = f"cut short: its python process was killed to stop run {ticket.run_id} (timed out)"
    await kill(child, reason="attempt timed out", fate=fate)
    settle(ticket, timed_out(ticket.attempt, ticket.began))


async def checkpoint(
    child: Child, key: int, value: Any, save: Callable[[Attempt, Any], Awaitable[None]]
) -> None:
    """Store the checkpoint ``value`` of ``child``'s ticket ``key`` with ``save``; the
    job waits for the answer."""
    ticket = child.queued.get(key)
    error = None
    try:
        if ticket is None:
            raise RuntimeError("the attempt is no longer running")
        await save(ticket.attempt, value)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    child.send({"type": "answer", "error": error})


def timed_out(attempt: Attempt, began: float | None = None) -> Outcome:
    """How an attempt stopped at its timeout ended; ``began``: when it began, if known."""
    error = f"timed out after {attempt.timeout_seconds} s; the work was stopped"
    return Outcome(RunStatus.TIMED_OUT, error=error, started_monotonic=began)


def child_gone(child: Child, returncode: int) -> list[Ticket]:
    """Settle what ``child``, now exited, held: no answer comes to its withdrawals; the
    attempt it may have been running failed (``kill_reason``, or its death); the ones
    behind it, not begun, are returned to be sent elsewhere (unless given up), and so
    is the first when the child died before its instant."""
    for withdrawal in child.withdrawals.values():
        if not withdrawal.answer.done():
            withdrawal.answer.set_result([])
    child.withdrawals.clear()
    if child.timer is not None:
        child.timer.cancel()
    tickets = list(child.queued.values())
    child.queued.clear()
    for ticket in tickets:
        ticket.child = None
    if not tickets:
        return []
    # Dead before the head's instant, it never began the head either.
    behind = tickets if tickets[0].start_at > time.monotonic() else tickets[1:]
    head = tickets[0]
    if len(behind) < len(tickets) and not head.abandoned:
        died = f"python worker process died while running the job ({ChildDied(returncode)})"
        settle(head, Outcome.failed(child.kill_reason or died))
    for ticket in behind:
        ticket.pending = not ticket.abandoned
    return [ticket for ticket in behind if not ticket.abandoned]


def stop(child: Child, signum: signal.Signals, reason: str) -> None:
    """Signal ``child``'s whole process group, as the worker's own decision."""
    child.stopping = True
    signal_group(child.pid, signum)
    log.info("python_child_killed", pid=child.pid, signal=signum.name, reason=reason)


async def stop_all(children: list[Child]) -> None:
    """Stop ``children``: SIGTERM to each process group, SIGKILL to those that linger."""
    for child in children:
        stop(child, signal.SIGTERM, reason="executor closing")
    watchers = [child.watcher for child in children if child.watcher is not None]
    if watchers:
        await asyncio.wait(watchers, timeout=TERMINATE_GRACE_SECONDS)
    for child in children:
        if child.process.returncode is None:
            await kill(child, reason="did not exit on SIGTERM")


async def kill(child: Child, reason: str, fate: str | None = None) -> None:
    """SIGKILL ``child``'s group and wait until its exit is handled; ``fate`` is the
    error of the attempt it may have been running, if that is not the one killed."""
    if child.kill_reason is None:
        child.kill_reason = fate
    stop(child, signal.SIGKILL, reason)
    if child.watcher is not None:
        # Shielded: cancelling us again must not cancel the watcher, which reaps the
        # child and closes its pipes.
        await asyncio.shield(child.watcher)


async def _start_process(
    child_reads: int,
    child_writes: int,
    output: int,
    environment: dict[str, str],
    user: JobUser | None,
) -> asyncio.subprocess.Process:
    """Start a child in a session of its own, so its process group holds all it starts."""
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            CHILD_MODULE,
            str(child_reads),
            str(child_writes),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            pass_fds=(child_reads, child_writes),
            start_new_session=True,
            env=environment,
            **(user.process_options() if user is not None else {}),
        )
    except OSError as exc:
        raise CannotStart(f"cannot start a python worker process: {exc}") from exc
    finally:
        os.close(child_reads)
        os.close(child_writes)
        os.close(output)
