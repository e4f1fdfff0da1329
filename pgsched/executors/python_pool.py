"""The python executor's children: starting them, reading what they send, seeing them go.

``PythonExecutor`` (``python.py``) builds on this and decides what each child runs;
here is what every child needs whatever it runs: its start, the handling of its
results, checkpoints and withdrawals as they arrive, and, once it has exited, the
fate of the attempts it held (``child_gone``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from pgsched.config import job_environment
from pgsched.executors.base import signal_group
from pgsched.executors.child_channel import MESSAGE_MAX_BYTES
from pgsched.executors.child_checks import (
    Withdrawal,
    message_problem,
    result_problem,
    withdrawn_problem,
)
from pgsched.executors.job_user import JobUser
from pgsched.executors.python_children import (
    Child,
    Ticket,
    checkpoint,
    child_gone,
    kill,
    settle,
    spawn,
    time_out,
)
from pgsched.models import Attempt, Outcome, RunStatus

log = structlog.get_logger("pgsched.executors.python")

# Weight of the newest attempt in the running averages of the children's time per
# attempt and pace.
DURATION_SMOOTHING = 0.05
# A gap between back-to-back starts counts for at most this many times the pace.
PACE_OUTLIER = 4.0


class ChildPool:
    """The children of one executor, and what they send.

    ``attempt_seconds`` is the average time an attempt takes in its child (from the
    job's call to its result, on the child's clock), from the first attempt timed (0
    until then: claims are sized by --concurrency, batches by ``initial_seconds``);
    ``pace``, the average time between the starts of attempts a child takes back to
    back, starting from ``initial_seconds``. ``_wake`` is called whenever a child may
    take more (it frees up, hands attempts back, or dies).
    """

    def __init__(
        self,
        allowed: tuple[str, ...],
        hidden_env: tuple[str, ...],
        user: JobUser | None,
        save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
        initial_seconds: float,
    ) -> None:
        self._allowed = allowed
        self._hidden_env = hidden_env
        self._user = user
        self._save_checkpoint = save_checkpoint
        self._initial_seconds = self.pace = initial_seconds
        # Not held at the guess once one is timed: it follows the jobs from the first.
        self.attempt_seconds = 0.0
        # Attempts waiting for a child, oldest first.
        self._pending: deque[Ticket] = deque()
        self._pool: list[Child] = []  # children able to take attempts (not exited)
        self._children: set[Child] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._withdrawal_ids = 0

    def _wake(self) -> None:
        raise NotImplementedError

    async def _add_child(self) -> Child:
        environment = job_environment(self._hidden_env)
        if self._user is not None:
            environment = self._user.environment(environment)
        sys_path = [str(entry) for entry in sys.path]
        child = await spawn(sys_path, self._allowed, environment, self._user)
        child.inbox.handler = lambda message: self._on_message(child, message)
        child.inbox.on_success = functools.partial(self._ended, child)
        child.idle_since = time.monotonic()
        child.watcher = asyncio.create_task(self._watch(child))
        self._children.add(child)
        self._pool.append(child)
        return child

    def _on_message(self, child: Child, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "result":
            self._on_result(child, message)
        elif kind == "checkpoint":
            head = child.head()
            if head is None or head.key != message.get("ticket"):
                self._refuse(child, "a checkpoint of an attempt it was not running")
                return
            saved = checkpoint(child, head.key, message.get("value"), self._save_checkpoint)
            self._spawn_task(saved)
        elif kind == "withdrawn":
            self._withdrawn(child, message)
        elif kind == "oversized":
            self._refuse(
                child, f"a message of {message['bytes']} bytes (at most {MESSAGE_MAX_BYTES})"
            )
        else:  # garbled, or a message this worker does not know
            self._refuse(child, "a message that is not JSON")

    def _on_result(self, child: Child, message: dict[str, Any]) -> None:
        problem = message_problem(message)
        if problem is not None:
            self._refuse(child, problem)
            return
        started, ended, gap = message["started"], message["ended"], message["gap"]
        self._ended(child, message["ticket"], started, ended, gap, message)

    def _withdrawn(self, child: Child, message: dict[str, Any]) -> None:
        key = message.get("id")
        withdrawal = child.withdrawals.pop(key, None) if type(key) is int else None
        if withdrawal is None:
            self._refuse(child, "an answer to a withdrawal it was not asked for")
            return
        tickets: Any = message.get("tickets")
        at: Any = message.get("at")
        problem = withdrawn_problem(withdrawal, tickets, at, time.monotonic())
        if problem is not None:
            self._refuse(child, problem)
            return
        head = child.head()
        for taken in tickets:
            ticket = child.queued.pop(taken, None)
            if ticket is not None:
                ticket.child = None
        if (first := child.head()) is None:
            child.idle_since = time.monotonic()
        elif first is not head:
            # The first was waiting for its instant: the next may begin from "at".
            child.output.attempt_started(first.run_id)
            child.began(at, self._expired)
        if not withdrawal.answer.done():
            withdrawal.answer.set_result(tickets)
        self._wake()

    def _refuse(self, child: Child, problem: str) -> None:
        """``child`` sent ``problem`` (``child_checks``): it is stopped, nothing more it
        sends is read, the attempt it was running fails saying so, and the ones queued
        behind it go to another child."""
        child.inbox.refuse()
        fate = (
            f"the python worker process sent {problem}; it was stopped (the job's code "
            "may have written to the worker's pipe)"
        )
        self._spawn_task(kill(child, reason=f"sent {problem}", fate=fate))

    def _ended(
        self,
        child: Child,
        key: int,
        started: float | None,
        ended: float,
        gap: float | None,
        message: dict[str, Any] | None = None,
    ) -> None:
        """``child`` answered ticket ``key``: with ``message``, or (None) a plain success
        (``Inbox.on_success``, read without building a message)."""
        # Once per result: locals and no property or helper where a line does.
        queued = child.queued
        head = child.head()
        problem = result_problem(head, key, started, ended, gap, time.monotonic())
        if problem is not None:
            self._refuse(child, problem)
            return
        ticket = queued.pop(key)
        if started is not None:  # the job's time, not the reading
            took = ended - started
            timed = self.attempt_seconds
            self.attempt_seconds = timed + DURATION_SMOOTHING * (took - timed) if timed else took
        if gap is not None:
            # A child descheduled mid-burst (a busy host) is not its pace: one sample
            # moves the average by a fraction of it at most.
            pace = self.pace
            self.pace = pace + DURATION_SMOOTHING * (min(gap, PACE_OUTLIER * pace) - pace)
        for head in queued.values():  # the first: the child's next attempt
            child.output.attempt_started(head.attempt.run_id)
            # The child takes its next attempt as soon as it has written this result.
            child.began(ended, self._expired, head)
            break
        else:
            child.idle_since = time.monotonic()
        if self._pending:
            self._wake()
        ticket.child = None
        if message is None:
            settle(ticket, Outcome(RunStatus.SUCCEEDED, started_monotonic=started))
            return
        settle(
            ticket,
            Outcome(
                RunStatus(message["status"]),
                error=message["error"],
                output=message["output"],
                retryable=message["retryable"],
                started_monotonic=started,
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

    async def _withdraw(self, child: Child, keys: list[int]) -> list[Ticket]:
        """Ask ``child`` for the tickets ``keys`` back; those it handed back, in order
        (none if it died first: the death hands back all but its current attempt)."""
        asked = [ticket for key in keys if (ticket := child.queued.get(key))]
        self._withdrawal_ids += 1
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        sent = time.monotonic()
        child.withdrawals[self._withdrawal_ids] = Withdrawal(answer, frozenset(keys), sent)
        child.send({"type": "withdraw", "id": self._withdrawal_ids, "tickets": keys})
        taken = set(await answer)
        return [ticket for ticket in asked if ticket.key in taken]

    def _expired(self, ticket: Ticket) -> None:
        self._spawn_task(time_out(ticket))
