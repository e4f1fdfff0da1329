"""Shell jobs: run a command line as a process group, without a shell.

The target is split with ``shlex.split`` and executed directly, so nothing in it is
expanded or interpolated; write ``sh -c '...'`` to get a shell. ``args`` may hold
``env`` (strings merged over the worker's environment, without the variables hidden
from jobs) and ``cwd``. With ``--run-as``, commands run as that user.

Every command runs in a new session, so it and everything it starts share one
process group. That group is what gets killed when the attempt is cancelled, and
whatever is left of it once the command's main process has exited: a job's
processes never outlive its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from pgsched.config import job_environment
from pgsched.executors.base import ERROR_LIMIT_CHARS, OUTPUT_LIMIT_CHARS, signal_group, truncate
from pgsched.executors.job_user import JobUser
from pgsched.models import Attempt, Outcome

DISABLED_MESSAGE = "shell jobs are disabled on this worker (start it with --allow-shell)"

# How long output may keep flowing after the main process exited: long enough to
# read what it wrote just before exiting, short enough that a background child
# holding stdout open cannot keep the attempt alive.
DRAIN_SECONDS = 0.5


class _InvalidJob(Exception):
    """The job definition cannot be run; the message says why."""


class ShellExecutor:
    """Runs ``shell`` jobs when the worker allows them."""

    def __init__(
        self, allowed: bool, hidden_env: Sequence[str] = (), user: JobUser | None = None
    ) -> None:
        self._allowed = allowed
        self._hidden_env = tuple(hidden_env)
        self._user = user
        self._running: set[int] = set()  # process group ids of commands being run

    async def start(self) -> None:
        """Nothing to acquire: each attempt starts its own process."""

    async def close(self) -> None:
        """Kill the process groups of commands still running."""
        for group in self._running:
            signal_group(group)

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run the command line in ``attempt.target``; kill its process group if cancelled."""
        if not self._allowed:
            return Outcome.failed(DISABLED_MESSAGE, retryable=False)
        try:
            argv = _command_line(attempt.target)
            env = job_environment(self._hidden_env)
            if self._user is not None:
                env = self._user.environment(env)
            env.update(_env_overrides(attempt.args.get("env")))
            cwd = _working_directory(attempt.args.get("cwd"))
        except _InvalidJob as exc:
            return Outcome.failed(truncate(str(exc), ERROR_LIMIT_CHARS), retryable=False)

        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _CommandProtocol(loop),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
                **(self._user.process_options() if self._user is not None else {}),
            )
        except OSError as exc:
            error = _start_failure(exc, argv[0], cwd)
            return Outcome.failed(truncate(error, ERROR_LIMIT_CHARS), retryable=False)

        group = transport.get_pid()  # the command leads its own session and process group
        self._running.add(group)
        try:
            await _wait_for_exit(protocol)
        except asyncio.CancelledError:
            signal_group(group)
            # The main process is gone only once it has been reaped: wait for that
            # without letting a second cancellation abandon the wait.
            await asyncio.shield(protocol.exited)
            raise
        finally:
            signal_group(group)
            self._running.discard(group)
            transport.close()
        return _outcome(transport.get_returncode(), protocol.output())


class _CommandProtocol(asyncio.SubprocessProtocol):
    """Keeps the head of the command's output and reports when it exits.

    ``Process.wait()`` of ``asyncio.create_subprocess_exec`` only returns once stdout
    is closed too, which a background child can postpone forever; this protocol
    tells the two events apart. Output beyond the limit is counted and dropped
    as it arrives, so a chatty command never makes the worker buffer megabytes.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()
        self._kept = bytearray()
        self._dropped_bytes = 0

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        """Keep what fits under the output limit and count the rest."""
        assert isinstance(data, bytes)
        room = OUTPUT_LIMIT_CHARS - len(self._kept)
        self._kept += data[:room]
        self._dropped_bytes += max(0, len(data) - room)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """Every process of the group closed its stdout."""
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        """The command's main process exited and was reaped."""
        if not self.exited.done():
            self.exited.set_result(None)

    def output(self) -> str | None:
        """The output kept, decoded, with a note of how much was dropped."""
        # A cut at the limit may split a character: it decodes as U+FFFD.
        text = self._kept.decode("utf-8", errors="replace")
        if self._dropped_bytes:
            text += f"\n... [{self._dropped_bytes} more bytes of output dropped]"
        return text or None


async def _wait_for_exit(protocol: _CommandProtocol) -> None:
    """Wait for the main process to exit, then briefly for the rest of its output."""
    await protocol.exited
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(protocol.output_closed), DRAIN_SECONDS)


def target_problem(target: str) -> str | None:
    """Why ``target`` is not a command line this executor can run, or None."""
    try:
        _command_line(target)
    except _InvalidJob as exc:
        return str(exc)
    return None


def _command_line(target: str) -> list[str]:
    try:
        argv = shlex.split(target)
    except ValueError as exc:
        raise _InvalidJob(
            f"shell target {target!r} cannot be split into a command line: {exc}"
        ) from None
    if not argv:
        raise _InvalidJob("shell target is an empty command line")
    return argv


def _env_overrides(overrides: Any) -> Mapping[str, str]:
    """``args.env``, checked: variables the job sets over the worker's environment."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in overrides.items()
    ):
        raise _InvalidJob('args "env" must be an object whose values are strings')
    return overrides


def _working_directory(cwd: Any) -> str | None:
    if cwd is None or isinstance(cwd, str):
        return cwd
    raise _InvalidJob('args "cwd" must be a string')


def _start_failure(exc: OSError, program: str, cwd: str | None) -> str:
    """Why the command could not be started, naming what is missing."""
    if cwd is not None and exc.filename == cwd:
        return f"cannot start the command: working directory {cwd!r}: {exc.strerror}"
    if isinstance(exc, FileNotFoundError):
        return f"cannot start the command: program {program!r} not found"
    return f"cannot start the command {program!r}: {exc.strerror or exc}"


def _outcome(returncode: int | None, output: str | None) -> Outcome:
    if returncode == 0:
        return Outcome.succeeded(output)
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return Outcome.failed(f"command was killed by signal {name}", output=output)
    return Outcome.failed(f"command exited with status {returncode}", output=output)
