"""The child side of the python executor: a process that runs attempts one at a time.

``PythonExecutor`` starts ``python -m pgsched.executors.python_child IN_FD OUT_FD``
and talks to it over a private pipe pair (``child_channel`` has the messages),
leaving stdout and stderr to the jobs. Attempts arrive in batches and run in order;
each sends its own result as it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import io
import os
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pgsched.context import RunContext
from pgsched.errors import Permanent
from pgsched.executors.base import ERROR_LIMIT_CHARS, OUTPUT_LIMIT_CHARS, truncate
from pgsched.executors.child_channel import ChildChannel, Request, checkpoint_frame, result_frame
from pgsched.executors.python_target import NotRunnable, allowance_problem, lookup
from pgsched.models import RunStatus

# The parameter through which a job asks for its RunContext.
CONTEXT_PARAMETER = "context"
# The repr of a job's return value is a convenience, not a data channel.
RETURN_REPR_LIMIT_CHARS = 2_000
# Leading traceback frames from these places are our machinery, not the job's.
_MACHINERY = (
    __file__,
    str(Path(asyncio.__file__).parent),
    str(Path(importlib.__file__).parent),
    "<frozen importlib",
)


class _BoundedOutput(io.TextIOBase):
    """A stand-in for stdout and stderr that keeps the first ``limit`` characters.

    The rest is only counted, so a job printing gigabytes costs no memory.
    """

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._room = limit
        self._dropped = 0

    # Some libraries look at these before printing.
    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as the real stdout does; join would fail later
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        kept = text[: self._room]
        if kept:
            self._parts.append(kept)
            self._room -= len(kept)
        self._dropped += len(text) - len(kept)
        return len(text)

    def empty(self) -> bool:
        """Whether nothing was written."""
        return not self._parts and not self._dropped

    def text(self) -> str:
        text = "".join(self._parts)
        if self._dropped:
            text += f"\n... [{self._dropped} more characters truncated]"
        return text


def run_attempt(
    request: Request, channel: ChildChannel, allowed: Sequence[str], pid: int | None = None
) -> dict[str, Any]:
    """Run the attempt ``request`` describes, if ``allowed`` lets it; its result message.
    ``pid``: this process's id, if the caller knows it (one system call less)."""
    target = request.target
    line = _CheckpointLine(channel, request.ticket)
    try:
        function, signature = load_target(target, tuple(allowed))
        call = _bind(function, signature, target, request, line)
    except NotRunnable as exc:
        return _result(RunStatus.FAILED, error=str(exc), retryable=False)
    output = _BoundedOutput(OUTPUT_LIMIT_CHARS)
    if pid is None:
        pid = os.getpid()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = output
    started = time.monotonic()
    try:
        value = call()
        if value is not None and inspect.isawaitable(value):  # None: most jobs
            value = asyncio.run(_awaited(value))
    except SystemExit as exc:
        return _result(
            RunStatus.FAILED, output.text(), f"job called sys.exit({exc.code!r})", started=started
        )
    except BaseException as exc:  # the job's failure, whatever it is, is data
        error = truncate(_describe(exc), ERROR_LIMIT_CHARS)
        retryable = not isinstance(exc, Permanent)
        return _result(RunStatus.FAILED, output.text(), error, retryable, started)
    finally:
        sys.stdout, sys.stderr = saved
        if os.getpid() != pid:
            # A copy of this process forked by the job has returned here: it must not
            # answer the parent or read its requests.
            os._exit(0)
        line.close()
        _stop_leftover_processes()
    if value is None and output.empty():  # most jobs: nothing to add
        return _result(RunStatus.SUCCEEDED, started=started)
    text = output.text()
    if value is not None:
        if text and not text.endswith("\n"):
            text += "\n"
        text += f"return: {truncate(_safe_repr(value), RETURN_REPR_LIMIT_CHARS)}"
    return _result(RunStatus.SUCCEEDED, text, started=started)


@functools.cache  # like the modules they come from, functions are looked up once
def load_target(
    target: str, allowed: tuple[str, ...]
) -> tuple[Callable[..., Any], inspect.Signature | None]:
    """The function ``target`` names, and its signature (None for builtins without one).

    Only under the ``allowed`` module prefixes, and only as ``python_target`` permits
    (``NotRunnable`` otherwise): the module is imported only once the target's form and
    module pass, and what it names must itself be defined under those prefixes.
    """
    problem = allowance_problem(target, allowed)
    if problem is not None:
        raise NotRunnable(problem)
    module_name = target.partition(":")[0]
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # a module's body may raise anything, SystemExit included
        raise NotRunnable(f"cannot import module '{module_name}': {_describe(exc)}") from None
    found = lookup(module, target, allowed)
    try:
        signature = inspect.signature(found)
    except ValueError:
        signature = None
    return found, signature


def _bind(
    function: Callable[..., Any],
    signature: inspect.Signature | None,
    target: str,
    request: Request,
    line: _CheckpointLine,
) -> Callable[[], Any]:
    """``function`` with the attempt's arguments, and the run context if it asks for one."""
    if signature is None:
        arguments = dict(request.args)
        return lambda: function(**arguments)
    if not signature.parameters and not request.args:
        return function  # nothing to bind: Signature.bind costs more than a no-op job

    def context() -> RunContext:
        line.handed_out = True
        return RunContext(
            job_name=request.job_name,
            run_id=request.run_id,
            scheduled_for=datetime.fromisoformat(request.scheduled_for),
            attempt=request.attempt,
            checkpoint=request.checkpoint,
            save=line.save,
            shard=request.shard,
            shards=request.shards,
        )

    bound = bind_arguments(signature, target, request.args, context)
    return lambda: function(*bound.args, **bound.kwargs)


def bind_arguments(
    signature: inspect.Signature,
    target: str,
    args: dict[str, Any],
    make_context: Callable[[], Any],
) -> inspect.BoundArguments:
    """``args`` bound to ``target``'s parameters, with ``make_context()`` as ``context``
    when the function has a parameter of that name; ``NotRunnable`` saying why not."""
    arguments = dict(args)
    if CONTEXT_PARAMETER in signature.parameters:
        if CONTEXT_PARAMETER in arguments:
            raise NotRunnable(f"argument 'context' of {target} is reserved for the run context")
        arguments[CONTEXT_PARAMETER] = make_context()
    try:
        return signature.bind(**arguments)
    except TypeError as exc:
        raise NotRunnable(f"arguments do not fit {target}{signature}: {exc}") from None


class _CheckpointLine:
    """A job's way to the parent's ``save_checkpoint``, open while its attempt runs."""

    def __init__(self, channel: ChildChannel, ticket: int) -> None:
        self._channel = channel
        self._ticket = ticket
        self._open = True
        # Given to the job (in its RunContext): only then can a save be in flight.
        self.handed_out = False

    def save(self, value: Any) -> None:
        frame = checkpoint_frame(self._ticket, value)
        with self._channel.checkpoint_lock:
            if not self._open:
                raise RuntimeError("checkpoint not saved: the attempt has already ended")
            self._channel.send_frame(frame)
            answer = self._channel.checkpoint_answer()
        if answer is None:
            raise RuntimeError("checkpoint not saved: the worker has gone")
        if answer["error"] is not None:
            raise RuntimeError(f"checkpoint not saved: {answer['error']}")

    def close(self) -> None:
        """Refuse later saves, once any save in flight has its answer."""
        if not self.handed_out:  # most jobs take no context: no save can be in flight
            self._open = False
            return
        with self._channel.checkpoint_lock:
            self._open = False


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    # asyncio.run takes coroutines only; a job may return any awaitable.
    return await awaitable


def _describe(exc: BaseException) -> str:
    """``ExcType: message``, then the traceback from the job's first frame on."""
    frames = traceback.extract_tb(exc.__traceback__)
    skipped = 0
    while skipped < len(frames) and frames[skipped].filename.startswith(_MACHINERY):
        skipped += 1
    lines = [f"{type(exc).__name__}: {exc}"]
    if skipped < len(frames):
        lines.append("Traceback (most recent call last):")
        lines.extend(traceback.format_list(frames[skipped:]))
    return "\n".join(line.rstrip("\n") for line in lines)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not turn a success into a failure
        return f"<{type(value).__name__} object; repr failed: {exc!r}>"


def _result(
    status: RunStatus,
    output: str = "",
    error: str | None = None,
    retryable: bool = True,
    started: float | None = None,
) -> dict[str, Any]:
    return {
        "type": "result",
        "status": str(status),  # a StrEnum: its value, without the enum's property
        "output": output or None,
        # Every failure's text bounded here, sys.exit's argument among them.
        "error": None if error is None else truncate(error, ERROR_LIMIT_CHARS),
        "retryable": retryable,
        "started": started,
    }


def _stop_leftover_processes() -> None:
    """Kill what the job started and left running: no work outlives its attempt.

    This process is a child subreaper (``_adopt_orphans``), so all the job forked, even
    through a double fork, stays its descendant until reaped. With no children left,
    which is the usual case, this costs one system call.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue  # reaped one that had exited; there may be more
        for child in _running_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        # Killed children die promptly; their own children are adopted and come next.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)


def _running_children() -> list[int]:
    """Ids of this process's children, read from /proc (Linux)."""
    me = os.getpid()
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            children.append(int(entry))
    return children


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the worker dies, and to adopt orphans.

    A worker killed with SIGKILL cannot stop its children; without this, a job
    would run on unrecorded while the cluster retries it elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    # Orphans of the job's processes are adopted here, not by init, so they can be
    # stopped when the attempt ends (_stop_leftover_processes).
    libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def main(read_fd: int, write_fd: int) -> None:
    """Serve attempts until the parent closes the pipe."""
    die_with_parent()
    channel = ChildChannel(read_fd, write_fd)
    hello = channel.receive()
    if hello is None:
        return
    # The parent's path first, so jobs import exactly what the worker would; our own
    # entries (the working directory among them) after it.
    parent_path = hello["sys_path"]
    sys.path[:] = parent_path + [entry for entry in sys.path if entry not in parent_path]
    channel.send({"type": "ready"})
    channel.start_reading()
    allowed, pid = tuple(hello["allowed"]), os.getpid()
    previous: float | None = None  # when the last attempt's job was called
    while (request := channel.next_attempt()) is not None:
        result = run_attempt(request, channel, allowed, pid)
        result["ticket"] = request.ticket
        result["ended"] = time.monotonic()
        # The pace of attempts taken back to back: how many this child can begin in a
        # short time after an instant (the parent sizes what it holds by it).
        started = result["started"]
        back_to_back = not channel.waited and started is not None and previous is not None
        result["gap"] = started - previous if back_to_back else None
        previous = started
        # Sent before the next attempt is taken: the parent counts on that order.
        channel.send_frame(result_frame(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
