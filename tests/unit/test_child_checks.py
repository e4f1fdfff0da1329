"""What a python child sends is checked before the worker believes it: a job's code
runs in the child and can write to its message pipe. A frame it forges fails its own
attempt, saying so, and no other."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest

from pgsched.executors.child_channel import MESSAGE_MAX_BYTES, checkpoint_frame
from pgsched.executors.child_checks import message_problem, result_problem
from pgsched.executors.child_pipes import Inbox
from pgsched.executors.python import PythonExecutor
from pgsched.executors.python_children import Ticket
from pgsched.models import Outcome, RunStatus
from tests.attempts import make_attempt

JOBS = "tests.jobs_for_tests"


def attempt(run_id: int, function: str, **args: Any) -> Any:
    return make_attempt("python", f"{JOBS}:{function}", args, run_id=run_id)


async def ignore_checkpoint(attempt: Any, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")


def head(began: float = 100.0) -> Ticket:
    made = Ticket(attempt(1, "noop"), 7, (), lambda outcome: None, since=began - 1)
    made.began = began
    return made


@pytest.mark.parametrize(
    ("started", "ended", "gap", "problem"),
    [
        (math.nan, 101.0, None, "impossible times"),
        (100.5, math.inf, None, "impossible times"),
        (-math.inf, 101.0, None, "impossible times"),
        (99.0, 101.0, None, "impossible times"),  # before it could begin
        (100.5, 100.2, None, "impossible times"),  # ended before it started
        (100.5, 103.0, None, "impossible times"),  # ended after it was read
        (100.5, 101.0, math.inf, "impossible pace"),
        (100.5, 101.0, -0.1, "impossible pace"),
    ],
)
def test_a_result_with_impossible_times_is_refused(
    started: float, ended: float, gap: float | None, problem: str
) -> None:
    found = result_problem(head(), 7, started, ended, gap, now=102.0)
    assert found is not None and problem in found
    assert result_problem(head(), 7, 100.5, 101.0, 0.001, now=102.0) is None
    assert result_problem(head(), 7, None, 101.0, None, now=102.0) is None  # not runnable


def test_a_result_for_an_attempt_the_child_is_not_running_is_refused() -> None:
    assert "not running" in str(result_problem(head(), 8, 100.5, 101.0, None, now=102.0))
    assert "not running" in str(result_problem(None, 7, 100.5, 101.0, None, now=102.0))


def test_a_json_result_with_fields_of_the_wrong_kind_is_refused() -> None:
    good = {
        "type": "result",
        "ticket": 7,
        "status": "failed",
        "output": None,
        "error": "boom",
        "retryable": True,
        "started": 100.5,
        "ended": 101.0,
        "gap": None,
    }
    assert message_problem(good) is None
    for change in (
        {"status": "lost"},
        {"output": ["not", "text"]},
        {"retryable": 1},
        {"ticket": "7"},
        {"ended": "soon"},
        {"started": True},
    ):
        assert message_problem({**good, **change}) is not None, change
    assert "without" in str(message_problem({"type": "result", "ticket": 7}))


def test_a_frame_announcing_more_than_the_bound_is_never_buffered() -> None:
    inbox, seen = Inbox(), []
    inbox.handler = seen.append
    inbox.data_received((MESSAGE_MAX_BYTES + 1).to_bytes(4, "big") + b"{" * 1000)
    inbox.data_received(b"{" * 100_000)
    assert seen == [{"type": "oversized", "bytes": MESSAGE_MAX_BYTES + 1}]
    assert len(inbox._buffer) == 0


def test_a_checkpoint_with_nan_or_beyond_the_bound_fails_its_save_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="checkpoint not saved: Out of range float"):
        checkpoint_frame(1, {"progress": math.nan})
    with pytest.raises(ValueError, match=r"checkpoint not saved: .* more than the"):
        checkpoint_frame(1, "x" * MESSAGE_MAX_BYTES)
    assert checkpoint_frame(1, {"done": 3}).endswith(b'"value":{"done":3}}')


def run_beside(forger: Any, tmp_path: Path) -> tuple[Outcome, Outcome, list[str]]:
    """The forging attempt and an honest one queued behind it in one child's batch."""
    ran = tmp_path / "ran"

    async def go() -> tuple[Outcome, Outcome]:
        executor = PythonExecutor(("tests.",), 1, ignore_checkpoint)
        await executor.start()
        try:
            honest = attempt(2, "sleep_then_append", path=str(ran), line="2")
            first, second = await asyncio.gather(executor.execute(forger), executor.execute(honest))
            return first, second
        finally:
            await executor.close()

    started = time.monotonic()
    first, second = asyncio.run(asyncio.wait_for(go(), 60))
    assert time.monotonic() - started < 20  # stopped, not left to sleep its 30 s
    return first, second, ran.read_text().split() if ran.exists() else []


@pytest.mark.parametrize(
    ("forger", "problem"),
    [
        (attempt(1, "forge_result"), "impossible times"),
        (attempt(1, "forge_result", nan=False, started_before=3600.0), "impossible times"),
        (attempt(1, "forge_result", ticket_offset=1, nan=False), "was not running"),
        (attempt(1, "announce_huge_message"), "bytes (at most"),
    ],
)
def test_a_job_forging_a_frame_fails_alone_and_the_attempt_behind_it_runs_once(
    forger: Any, problem: str, tmp_path: Path
) -> None:
    first, second, lines = run_beside(forger, tmp_path)
    assert first.status is RunStatus.FAILED and problem in str(first.error), first.error
    assert "written to the worker's pipe" in str(first.error)
    assert second.status is RunStatus.SUCCEEDED and lines == ["2"]
