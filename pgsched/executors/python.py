"""Runs ``python`` jobs (target ``package.module:function``) in reusable child processes.

A job runs in a child, not in the worker, so that it can block, leak, crash or call
``os._exit`` without harm to the worker, and so that a timed-out job can be stopped
for certain: each child leads its own process group, which is killed whole. Children
outlive attempts because starting an interpreter costs far more than most jobs.
The child's side of the conversation is ``pgsched.executors.python_child``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from pgsched.config import job_environment
from pgsched.executors.base import ERROR_LIMIT_CHARS, signal_group, truncate
from pgsched.executors.child_pipes import ChildDied, ChildOutput, Inbox
from pgsched.executors.job_user import JobUser
from pgsched.executors.python_child import encode
from pgsched.executors.python_target import allowance_problem
from pgsched.models import Attempt, Outcome, RunStatus

log = structlog.get_logger(__name__)

CHILD_MODULE = "pgsched.executors.python_child"
# An elastic pool grows by one process when an attempt has waited this long for a
# free one while a process has been running its attempt at least as long: slow
# jobs (sleeping, waiting on I/O) then run side by side without starving the short
# ones queued behind. A queue of short jobs alone never grows it: more processes
# than cores would only share the same CPUs.
GROW_AFTER_SECONDS = 0.05
# How long close() lets children handle SIGTERM before it kills them.
TERMINATE_GRACE_SECONDS = 2.0


class _CannotStart(RuntimeError):
    """A child process could not be started."""


@dataclass(eq=False)
class _Child:
    """One child process and its private pipes."""

    process: asyncio.subprocess.Process
    inbox: Inbox
    outbox: asyncio.WriteTransport
    output: ChildOutput
    watcher: asyncio.Task[None] | None = None
    # Set when we stop the child, so that its exit is not reported as a death.
    stopping: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid


class PythonExecutor:
    """Runs python jobs in a pool of ``processes`` children, one attempt per child at a time;
    an elastic pool (``max_processes`` above ``processes``) grows up to it while
    attempts wait for a free child.

    Only targets under ``allowed_prefixes`` run (``python_target``'s rules); others
    are refused before any child sees them. ``save_checkpoint(attempt, value)`` stores
    what a job passes to ``context.save_checkpoint``; the job waits until it returns.
    With ``user``, children run as that OS user. Call ``start`` first.
    """

    def __init__(
        self,
        allowed_prefixes: Sequence[str],
        processes: int,
        save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
        hidden_env: Sequence[str] = (),
        max_processes: int | None = None,
        user: JobUser | None = None,
    ) -> None:
        self._allowed = tuple(allowed_prefixes)
        self._hidden_env = tuple(hidden_env)
        self._user = user
        self.processes = processes
        self._max_processes = max(processes, max_processes or processes)
        self._save_checkpoint = save_checkpoint
        # At most `processes` attempts run at once, each in its own child. Children
        # start on first need and are kept; the most recently used idle child is
        # taken first, so a lightly loaded worker keeps few of them busy.
        self._slots = asyncio.Semaphore(processes)
        # Attempts waiting for a free child: they have not begun.
        self._waiting: set[int] = set()
        # When each busy child began its current attempt (the monotonic clock).
        self._busy_since: dict[_Child, float] = {}
        self._idle: list[_Child] = []
        self._children: set[_Child] = set()

    async def start(self) -> None:
        """Start one child, so the first attempt does not wait for an interpreter.

        Only when python jobs are allowed at all. A child that cannot start (an
        interpreter the ``--run-as`` user may not run) is logged, and each attempt
        then fails saying why, while the worker runs its other kinds of jobs.
        """
        if not self._allowed:
            return
        try:
            self._idle.append(await self._spawn())
        except _CannotStart as exc:
            log.error("python_child_start_failed", error=str(exc))

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run ``attempt`` in a free child; kill the child if cancelled meanwhile."""
        refusal = self._refusal(attempt.target)
        if refusal is not None:
            return refusal
        try:
            request = encode(_request(attempt))
        except (TypeError, ValueError) as exc:
            error = f"arguments of {attempt.target} are not JSON-serialisable: {exc}"
            return Outcome.failed(error, retryable=False)
        self._waiting.add(attempt.run_id)
        try:
            await self._take_slot()
        finally:
            self._waiting.discard(attempt.run_id)
        try:
            return await self._execute_in_child(attempt, request)
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        """Wait for a free child's slot, growing an elastic pool while slow jobs hold them."""
        while self.processes < self._max_processes:
            try:
                async with asyncio.timeout(GROW_AFTER_SECONDS):
                    await self._slots.acquire()
                return
            except TimeoutError:
                slow_since = time.monotonic() - GROW_AFTER_SECONDS
                if any(started <= slow_since for started in self._busy_since.values()):
                    self.processes += 1
                    self._slots.release()  # one more slot; whoever waits longest takes it
        await self._slots.acquire()

    def is_waiting(self, run_id: int) -> bool:
        """Whether attempt ``run_id`` still waits for a free child (so has not begun):
        cancelled now, it stops before any job code runs."""
        return run_id in self._waiting

    @property
    def waiting(self) -> int:
        """How many attempts wait for a free child."""
        return len(self._waiting)

    async def _execute_in_child(self, attempt: Attempt, request: bytes) -> Outcome:
        child: _Child | None = None
        while self._idle and child is None:
            candidate = self._idle.pop()
            if candidate.process.returncode is None:
                child = candidate  # else it died while idle; its watcher reported it
        try:
            if child is None:
                child = await self._spawn()
            self._busy_since[child] = time.monotonic()
            outcome = await self._run(child, attempt, request)
        except _CannotStart as exc:
            return Outcome.failed(str(exc))
        except ChildDied as exc:
            return Outcome.failed(f"python worker process died while running the job ({exc})")
        except BaseException:
            # Cancelled (timeout, overlap, shutdown): the job must stop before we return.
            if child is not None:
                await self._kill(child, reason="attempt cancelled")
            raise
        finally:
            if child is not None:
                self._busy_since.pop(child, None)
        self._idle.append(child)
        return outcome

    async def close(self) -> None:
        """Stop every child: SIGTERM to its process group, SIGKILL if it lingers."""
        children = list(self._children)
        for child in children:
            self._signal(child, signal.SIGTERM, reason="executor closing")
        watchers = [child.watcher for child in children if child.watcher is not None]
        if not watchers:
            return
        await asyncio.wait(watchers, timeout=TERMINATE_GRACE_SECONDS)
        for child in children:
            if child.process.returncode is None:
                await self._kill(child, reason="did not exit on SIGTERM")

    def _refusal(self, target: str) -> Outcome | None:
        problem = allowance_problem(target, self._allowed)
        if problem is None:
            return None
        return Outcome.failed(truncate(problem, ERROR_LIMIT_CHARS), retryable=False)

    async def _run(self, child: _Child, attempt: Attempt, request: bytes) -> Outcome:
        child.output.attempt_started(attempt.run_id)
        child.outbox.write(request)
        while True:
            message = await child.inbox.receive()
            if message["type"] == "garbled":
                await self._kill(child, reason="sent a message the worker cannot read")
                return Outcome.failed("the python worker process sent a message that is not JSON")
            if message["type"] == "result":
                return Outcome(
                    RunStatus(message["status"]),
                    error=message["error"],
                    output=message["output"],
                    retryable=message["retryable"],
                    started_monotonic=message["started"],
                )
            # A checkpoint: the job waits until it is stored, or knows it was not.
            error = None
            try:
                await self._save_checkpoint(attempt, message["value"])
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            child.outbox.write(encode({"error": error}))

    async def _spawn(self) -> _Child:
        # Private pipes, not stdout: jobs print. Descriptors from os.pipe() are not
        # inherited, and pass_fds hands the child's two ends to this child alone. Its
        # stdout and stderr are a third pipe, never the worker's own (ChildOutput).
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()
        output_reads, output_writes = os.pipe()
        environment = job_environment(self._hidden_env)
        if self._user is not None:
            environment = self._user.environment(environment)
        try:
            process = await _start_process(
                child_reads, child_writes, output_writes, environment, self._user
            )
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
            child = _Child(process, inbox, outbox, output)
            child.watcher = asyncio.create_task(self._watch(child))
            self._children.add(child)
            outbox.write(
                encode({"sys_path": [str(entry) for entry in sys.path], "allowed": self._allowed})
            )
            await inbox.receive()  # it says it is ready
        except ChildDied as exc:
            raise _CannotStart(f"python worker process exited on start ({exc})") from exc
        except BaseException:
            signal_group(process.pid, signal.SIGKILL)
            raise
        log.info("python_child_started", pid=process.pid)
        return child

    async def _watch(self, child: _Child) -> None:
        returncode = await child.process.wait()
        # Whatever the job left running dies with the child, so nothing keeps its
        # pipe open or outlives the attempt that started it. The group id cannot have
        # been reused while any of them lives.
        signal_group(child.pid, signal.SIGKILL)
        child.inbox.child_exited(returncode)
        child.outbox.close()
        self._children.discard(child)
        if not child.stopping:
            log.warning("python_child_died", pid=child.pid, exit_code=returncode)

    def _signal(self, child: _Child, signum: signal.Signals, reason: str) -> None:
        child.stopping = True
        signal_group(child.pid, signum)
        log.info("python_child_killed", pid=child.pid, signal=signum.name, reason=reason)

    async def _kill(self, child: _Child, reason: str) -> None:
        self._signal(child, signal.SIGKILL, reason)
        if child.watcher is not None:
            # Shielded: cancelling us again must not cancel the watcher, which reaps the
            # child and closes its pipes.
            await asyncio.shield(child.watcher)


def _request(attempt: Attempt) -> dict[str, Any]:
    return {
        "target": attempt.target,
        "args": attempt.args,
        "job_name": attempt.job_name,
        "run_id": attempt.run_id,
        "scheduled_for": attempt.scheduled_for.isoformat(),
        "attempt": attempt.attempt,
        "checkpoint": attempt.checkpoint,
        "shard": attempt.shard,
        "shards": attempt.shards,
    }


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
        raise _CannotStart(f"cannot start a python worker process: {exc}") from exc
    finally:
        os.close(child_reads)
        os.close(child_writes)
        os.close(output)
