"""Shell jobs: run without a shell, bounded output, and no process outlives its run."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.executors.shell import DISABLED_MESSAGE, ShellExecutor
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt
from tests.processes import process_gone


def attempt(target: str, **args: Any) -> Attempt:
    return make_attempt("shell", target, args)


def run(target: str, allowed: bool = True, **args: Any) -> Outcome:
    return asyncio.run(ShellExecutor(allowed).execute(attempt(target, **args)))


def sh(script: str) -> str:
    """A command line running ``script`` with ``sh -c``."""
    return f"sh -c {shlex.quote(script)}"


def wait_until(condition: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_success_keeps_output() -> None:
    outcome = run(sh("echo hello; echo to-stderr >&2"))
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "hello\nto-stderr\n"


def test_arguments_are_not_interpolated() -> None:
    outcome = run("echo '$HOME' '*' 'a;b'")
    assert outcome.output == "$HOME * a;b\n"


def test_nonzero_exit_fails_and_keeps_output() -> None:
    outcome = run(sh("echo partial; exit 3"))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == "command exited with status 3"
    assert outcome.output == "partial\n"
    assert outcome.retryable


def test_death_by_signal_names_the_signal() -> None:
    outcome = run(sh("kill -TERM $$"))
    assert outcome.error == "command was killed by signal SIGTERM"


def test_env_and_cwd_come_from_args(tmp_path: Path) -> None:
    outcome = run(sh('echo "$GREETING"; pwd'), env={"GREETING": "hi there"}, cwd=str(tmp_path))
    assert outcome.output == f"hi there\n{tmp_path}\n"


def test_not_allowed_starts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    outcome = run(f"touch {marker}", allowed=False)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == DISABLED_MESSAGE
    assert not outcome.retryable
    assert not marker.exists()


@pytest.mark.parametrize(
    ("target", "args", "message"),
    [
        ("no-such-program-pgsched", {}, "program 'no-such-program-pgsched' not found"),
        ("pwd", {"cwd": "/no/such/dir"}, "working directory '/no/such/dir'"),
        ("echo 'unterminated", {}, "cannot be split into a command line"),
        ("   ", {}, "an empty command line"),
        ("env", {"env": {"A": 1}}, 'args "env" must be an object whose values are strings'),
    ],
)
def test_unrunnable_definitions_fail_permanently(
    target: str, args: dict[str, Any], message: str
) -> None:
    outcome = run(target, **args)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and message in outcome.error
    assert not outcome.retryable


def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    child_marker, grandchild_marker = tmp_path / "F", tmp_path / "G"
    script = f"(sleep 1; touch {grandchild_marker}) & sleep 1; touch {child_marker}"

    async def cancel_soon() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ShellExecutor(True).execute(attempt(sh(script))), 0.2)
        return time.monotonic() - started

    assert asyncio.run(cancel_soon()) < 1.0
    time.sleep(2.0)  # past the moment either process would have touched its file
    assert not child_marker.exists()
    assert not grandchild_marker.exists()


def test_huge_output_is_truncated_without_being_buffered() -> None:
    size = 5_000_000
    command = f"{shlex.quote(sys.executable)} -c \"import sys; sys.stdout.write('x' * {size})\""
    tracemalloc.start()
    try:
        outcome = run(command)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    assert outcome.output.startswith("x" * OUTPUT_LIMIT_CHARS + "\n")
    assert outcome.output.endswith(f"[{size - OUTPUT_LIMIT_CHARS} more bytes of output dropped]")
    assert peak < 2_000_000


def test_background_child_holding_stdout_does_not_hang_the_attempt() -> None:
    started = time.monotonic()
    outcome = run(sh("sleep 30 & echo $!"))
    assert time.monotonic() - started < 2.0
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    background_pid = int(outcome.output)
    assert wait_until(lambda: process_gone(background_pid))
