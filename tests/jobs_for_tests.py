"""Python job targets for tests: plain module-level functions, one behaviour each."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pgsched.context import RunContext
from pgsched.errors import Permanent

NOT_CALLABLE = 42


def noop() -> None:
    pass


def greet(name: str, punctuation: str = "!") -> str:
    print(f"hello {name}")
    return f"greeted {name}{punctuation}"


def getpid() -> int:
    return os.getpid()


def sleep_then_getpid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0.01)
    return a + b


def fail(message: str) -> None:
    print("about to fail")
    raise ValueError(message)


def fail_permanently(message: str) -> None:
    raise Permanent(message)


def call_sys_exit(code: int) -> None:
    sys.exit(code)


def hard_exit(code: int) -> None:
    os._exit(code)


def write_pid_then_sleep_then_mark(pid_file: str, seconds: float, marker: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    Path(marker).write_text("the job outlived its timeout")


def spawn_marker_writer_then_sleep(seconds: float, marker: str) -> None:
    subprocess.Popen(["sh", "-c", f"sleep {seconds}; echo late > '{marker}'"])
    time.sleep(seconds * 10)


def fork_then_exit() -> None:
    if os.fork() == 0:
        time.sleep(30)  # the forked copy holds the child's pipes open meanwhile
    os._exit(3)


def print_lots(megabytes: int) -> int:
    """Print ``megabytes`` in 1 kB lines; return how much the resident memory grew, in kB."""
    before = resident_kilobytes()
    filler = "x" * 1012
    for number in range(megabytes * 1024):
        print(f"{number:>10} {filler}")  # a new string each time, as real output is
    return resident_kilobytes() - before


def resident_kilobytes() -> int:
    # Not ru_maxrss: a child's peak starts at its parent's size, inherited across exec.
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def describe_context(context: RunContext) -> None:
    print(
        json.dumps(
            {
                "job_name": context.job_name,
                "run_id": context.run_id,
                "scheduled_for": context.scheduled_for.isoformat(),
                "attempt": context.attempt,
                "checkpoint": context.checkpoint,
                "logger": type(context.logger).__name__,
            }
        )
    )


def count_with_checkpoints(context: RunContext, steps: int) -> Any:
    start = context.checkpoint or 0
    for done in range(start + 1, start + steps + 1):
        context.save_checkpoint(done)
    return context.checkpoint


def save_checkpoint_reporting_errors(context: RunContext, value: Any) -> str:
    try:
        context.save_checkpoint(value)
    except RuntimeError as exc:
        return f"RuntimeError: {exc}"
    return "saved"


def save_set_as_checkpoint(context: RunContext) -> str:
    try:
        context.save_checkpoint({1, 2})
    except TypeError as exc:
        return f"TypeError: {exc}"
    return "saved"


def log_through_context(context: RunContext) -> None:
    context.logger.info("rows_copied", rows=3)


def tick_while_running(context: RunContext, directory: str, seconds: float) -> None:
    """Write the time to ``directory/<run_id>`` every 50 ms for ``seconds``: its last
    value is when the attempt was last alive, should it be stopped before."""
    marker = Path(directory) / str(context.run_id)
    written = marker.with_suffix(".new")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        written.write_text(repr(time.time()))
        written.replace(marker)  # atomic: a kill mid-write leaves the previous time
        time.sleep(0.05)


def sleep_then_append(path: str, line: str, seconds: float = 0.0) -> str:
    """Sleep, then append ``line`` to ``path``: one line per attempt that ran to its end."""
    time.sleep(seconds)
    with open(path, "a") as file:
        file.write(line + "\n")
    return line


def _own_ticket() -> int:
    """The ticket the child runs this attempt as (``run_attempt``'s request)."""
    frame = sys._getframe(1)
    while frame is not None:
        request = frame.f_locals.get("request")
        if request is not None and hasattr(request, "ticket"):
            return int(request.ticket)
        frame = frame.f_back  # type: ignore[assignment]
    raise AssertionError("not run by a python child")


def forge_result(ticket_offset: int = 0, started_before: float = 0.0, nan: bool = True) -> None:
    """Write a plain success to the worker's message pipe, as a job's code could: for
    its own ticket plus ``ticket_offset``, started NaN (``nan``) or ``started_before``
    seconds ago; then wait to be stopped."""
    from pgsched.executors.child_channel import PLAIN_SUCCESS

    now = time.monotonic()
    started = float("nan") if nan else now - started_before
    body = PLAIN_SUCCESS.pack(0, _own_ticket() + ticket_offset, started, now, float("nan"))
    os.write(int(sys.argv[2]), len(body).to_bytes(4, "big") + body)
    time.sleep(30)


def announce_huge_message() -> None:
    """Write the header of a 2 GiB message to the worker's pipe; then wait to be stopped."""
    os.write(int(sys.argv[2]), (2**31).to_bytes(4, "big") + b"{")
    time.sleep(30)
