"""The python executor runs job targets in reusable child processes, and stops them for sure."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.executors.python import PythonExecutor
from pgsched.executors.python_target import is_allowed
from pgsched.models import Attempt, Outcome, RunStatus, Trigger
from tests.attempts import make_attempt

JOBS = "tests.jobs_for_tests"
SCHEDULED_FOR = datetime(2024, 3, 10, 1, 30, tzinfo=ZoneInfo("America/New_York"))

Saver = Callable[[Attempt, Any], Awaitable[None]]


def attempt(function: str, module: str = JOBS, checkpoint: Any = None, **args: Any) -> Attempt:
    return make_attempt(
        "python",
        f"{module}:{function}",
        args,
        run_id=41,
        job_id=7,
        job_name="nightly-sync",
        scheduled_for=SCHEDULED_FOR,
        attempt=2,
        trigger=Trigger.RETRY,
        checkpoint=checkpoint,
    )


async def ignore_checkpoint(attempt: Attempt, value: Any) -> None:
    raise AssertionError(f"unexpected checkpoint {value!r}")


@contextlib.asynccontextmanager
async def running(
    processes: int = 1,
    allowed: tuple[str, ...] = ("tests.",),
    save: Saver = ignore_checkpoint,
    max_processes: int | None = None,
) -> AsyncIterator[PythonExecutor]:
    executor = PythonExecutor(allowed, processes, save, max_processes=max_processes)
    await executor.start()
    try:
        yield executor
    finally:
        await executor.close()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def execute(function: str, module: str = JOBS, **args: Any) -> Outcome:
    """One attempt on a fresh single-child executor."""

    async def once() -> Outcome:
        async with running() as executor:
            return await executor.execute(attempt(function, module=module, **args))

    return asyncio.run(once())


async def pid_of_next_child(executor: PythonExecutor) -> int:
    outcome = await executor.execute(attempt("getpid"))
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert outcome.output is not None
    return int(outcome.output.removeprefix("return: "))


def test_success_records_printed_output_and_the_return_value() -> None:
    outcome = execute("greet", name="ada")

    assert outcome == Outcome.succeeded("hello ada\nreturn: 'greeted ada!'")


def test_args_are_bound_as_keyword_arguments() -> None:
    outcome = execute("greet", punctuation="?", name="bob")

    assert outcome.output == "hello bob\nreturn: 'greeted bob?'"


def test_a_job_asking_for_context_gets_the_run_it_belongs_to() -> None:
    outcome = execute("describe_context")

    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert outcome.output is not None
    seen = json.loads(outcome.output)
    assert datetime.fromisoformat(seen.pop("scheduled_for")) == SCHEDULED_FOR
    assert "BoundLogger" in seen.pop("logger")
    assert seen == {"job_name": "nightly-sync", "run_id": 41, "attempt": 2, "checkpoint": None}


def test_args_may_not_take_the_place_of_the_run_context() -> None:
    outcome = execute("describe_context", context={"job_name": "forged"})
    assert outcome == Outcome.failed(
        f"argument 'context' of {JOBS}:describe_context is reserved for the run context",
        retryable=False,
    )


def test_the_context_logger_writes_to_the_output_with_the_run_bound() -> None:
    outcome = execute("log_through_context")

    assert outcome.output is not None
    assert "rows_copied" in outcome.output
    assert "rows=3" in outcome.output
    assert "job_name=nightly-sync" in outcome.output
    assert "run_id=41" in outcome.output


def test_an_async_function_is_awaited() -> None:
    assert execute("async_add", a=2, b=3) == Outcome.succeeded("return: 5")


def test_an_exception_fails_the_attempt_with_its_traceback() -> None:
    outcome = execute("fail", message="the feed is empty")

    assert outcome.status is RunStatus.FAILED
    assert outcome.retryable
    assert outcome.output == "about to fail\n"
    assert outcome.error is not None
    assert outcome.error.startswith("ValueError: the feed is empty\nTraceback")
    assert "jobs_for_tests.py" in outcome.error
    assert "raise ValueError(message)" in outcome.error
    assert "python_child.py" not in outcome.error, "our own frames are noise"


def test_raising_permanent_fails_without_retry() -> None:
    outcome = execute("fail_permanently", message="account closed")

    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable
    assert outcome.error is not None
    assert outcome.error.startswith("Permanent: account closed")


@pytest.mark.parametrize(
    ("target", "args", "error"),
    [
        (
            "tests.no_such_module:run",
            {},
            "cannot import module 'tests.no_such_module': "
            "ModuleNotFoundError: No module named 'tests.no_such_module'",
        ),
        (f"{JOBS}:no_such_function", {}, f"module '{JOBS}' has no attribute 'no_such_function'"),
        (f"{JOBS}:NOT_CALLABLE", {}, f"'{JOBS}:NOT_CALLABLE' is not callable"),
        (
            f"{JOBS}:greet",
            {"nom": "ada"},
            f"arguments do not fit {JOBS}:greet(name: 'str', punctuation: 'str' = '!') "
            "-> 'str': missing a required argument: 'name'",
        ),
    ],
    ids=["missing module", "missing attribute", "not callable", "arguments do not fit"],
)
def test_a_target_that_cannot_be_called_as_asked_fails_without_retry(
    target: str, args: dict[str, Any], error: str
) -> None:
    module, _, function = target.partition(":")

    outcome = execute(function, module=module, **args)

    assert outcome == Outcome.failed(error, retryable=False)


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("myapp", True),
        ("myapp.jobs", True),
        ("myapp.jobs.nightly", True),
        ("myapplication", False),
        ("other", False),
        (".myapp", False),
    ],
)
@pytest.mark.parametrize("prefix", ["myapp", "myapp."])
def test_prefixes_allow_whole_module_names_only(prefix: str, module: str, allowed: bool) -> None:
    assert is_allowed(module, [prefix]) is allowed
    assert is_allowed(module, ["*"])
    assert not is_allowed(module, [])


def test_a_forbidden_target_is_refused_without_being_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    monkeypatch.setenv("TEST_IMPORT_MARKER", str(marker))
    target = attempt("run", module="tests.jobtargets.marks_import")

    async def test() -> None:
        async with running(allowed=(JOBS, "tests.jobtargetsx")) as executor:
            refused = await executor.execute(target)
        assert refused == Outcome.failed(
            "python target 'tests.jobtargets.marks_import:run' is not allowed on this worker "
            f"(allowed prefixes: {JOBS}, tests.jobtargetsx; "
            "start the worker with --allow-python PREFIX)",
            retryable=False,
        )
        assert not marker.exists()
        # The same target under an allowed prefix is imported, and the marker shows it.
        async with running(allowed=("tests.jobtargets",)) as executor:
            assert await executor.execute(target) == Outcome.succeeded("return: 'ran'")
        assert marker.exists()

    run(test)


def test_with_no_allowed_prefix_every_target_is_refused() -> None:
    async def test() -> None:
        async with running(allowed=()) as executor:
            outcome = await executor.execute(attempt("noop"))
        assert outcome.error is not None
        assert "(allowed prefixes: none; start the worker with --allow-python" in outcome.error
        assert not outcome.retryable

    run(test)


def test_a_timeout_kills_the_job_before_its_side_effect_and_a_fresh_child_takes_over(
    tmp_path: Path,
) -> None:
    pid_file, marker = tmp_path / "pid", tmp_path / "late"
    slow = attempt(
        "write_pid_then_sleep_then_mark", pid_file=str(pid_file), seconds=0.6, marker=str(marker)
    )

    async def test() -> None:
        async with running() as executor:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await executor.execute(slow)
            killed = int(pid_file.read_text())
            with pytest.raises(ProcessLookupError):
                os.kill(killed, 0)  # gone, and reaped, by the time execute gave up
            assert await pid_of_next_child(executor) != killed
            await asyncio.sleep(started + 1.0 - time.monotonic())
        assert not marker.exists()

    run(test)


def test_a_timeout_also_kills_the_processes_the_job_started(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    spawner = attempt("spawn_marker_writer_then_sleep", seconds=0.4, marker=str(marker))

    async def test() -> None:
        async with running() as executor:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await executor.execute(spawner)
            await asyncio.sleep(0.8)
        assert not marker.exists()

    run(test)


def test_sys_exit_fails_the_attempt_and_the_child_is_reused() -> None:
    async def test() -> None:
        async with running() as executor:
            before = await pid_of_next_child(executor)
            outcome = await executor.execute(attempt("call_sys_exit", code=3))
            after = await pid_of_next_child(executor)
        assert outcome == Outcome.failed("job called sys.exit(3)")
        assert after == before

    run(test)


def test_a_child_dying_mid_job_fails_the_attempt_and_is_replaced() -> None:
    async def test() -> None:
        async with running() as executor:
            before = await pid_of_next_child(executor)
            outcome = await executor.execute(attempt("hard_exit", code=7))
            after = await pid_of_next_child(executor)
        assert outcome == Outcome.failed(
            "python worker process died while running the job (exit code 7)", retryable=True
        )
        assert after != before

    run(test)


def test_a_forked_process_holding_the_pipes_does_not_hang_the_attempt() -> None:
    async def test() -> None:
        async with running() as executor, asyncio.timeout(5):
            outcome = await executor.execute(attempt("fork_then_exit"))
        assert outcome.error == "python worker process died while running the job (exit code 3)"

    run(test)


def test_huge_output_is_truncated_without_being_held_in_memory() -> None:
    megabytes = 10
    outcome = execute("print_lots", megabytes=megabytes)

    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert outcome.output is not None
    printed, _, returned = outcome.output.rpartition("\nreturn: ")
    dropped = megabytes * 1024 * 1024 - OUTPUT_LIMIT_CHARS
    assert printed.endswith(f"\n... [{dropped} more characters truncated]")
    assert len(printed) < OUTPUT_LIMIT_CHARS + 100
    assert int(returned) < 5 * 1024, "resident memory grew by more than 5 MB"


def test_checkpoints_go_through_the_callback_before_the_job_continues() -> None:
    saved: list[tuple[int, Any]] = []

    async def save(attempt: Attempt, value: Any) -> None:
        saved.append((attempt.run_id, value))

    async def test() -> None:
        async with running(save=save) as executor:
            outcome = await executor.execute(
                attempt("count_with_checkpoints", checkpoint=5, steps=3)
            )
        assert outcome == Outcome.succeeded("return: 8")
        assert saved == [(41, 6), (41, 7), (41, 8)]

    run(test)


def test_a_checkpoint_the_callback_rejects_raises_in_the_job() -> None:
    async def save(attempt: Attempt, value: Any) -> None:
        raise ConnectionError("database went away")

    async def test() -> None:
        async with running(save=save) as executor:
            outcome = await executor.execute(attempt("save_checkpoint_reporting_errors", value=1))
        assert outcome.output == (
            "return: 'RuntimeError: checkpoint not saved: ConnectionError: database went away'"
        )

    run(test)


def test_a_checkpoint_must_be_json() -> None:
    outcome = execute("save_set_as_checkpoint")

    assert outcome.output is not None
    assert outcome.output.startswith("return: 'TypeError: a checkpoint must be JSON-serialisable")


def test_parallel_attempts_run_in_distinct_children() -> None:
    async def test() -> None:
        async with running(processes=2) as executor:
            first, second = await asyncio.gather(
                executor.execute(attempt("sleep_then_getpid", seconds=0.3)),
                executor.execute(attempt("sleep_then_getpid", seconds=0.3)),
            )
        assert first.status is second.status is RunStatus.SUCCEEDED
        assert first.output != second.output

    run(test)


def test_close_stops_the_children() -> None:
    async def test() -> None:
        async with running() as executor:
            pid = await pid_of_next_child(executor)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

    run(test)


def test_an_elastic_pool_grows_past_slow_jobs_but_not_for_a_queue_of_short_ones() -> None:
    async def go() -> tuple[float, int, int]:
        async with running(processes=1, max_processes=3) as executor:
            await asyncio.gather(*(executor.execute(attempt("noop")) for _ in range(30)))
            after_short = executor.processes
            slow = asyncio.create_task(executor.execute(attempt("sleep_then_getpid", seconds=3)))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await executor.execute(attempt("noop"))
            waited = time.monotonic() - started
            await slow
            return waited, after_short, executor.processes

    waited, after_short, grown = asyncio.run(go())
    assert after_short == 1  # thirty no-ops queued behind one another: no growth
    assert grown == 2 and waited < 2.0  # the no-op did not wait for the slow job


def test_started_is_the_moment_the_child_called_the_job() -> None:
    async def go() -> tuple[float, Outcome, float]:
        async with running() as executor:
            before = time.monotonic()
            outcome = await executor.execute(attempt("noop"))
            return before, outcome, time.monotonic()

    before, outcome, after = asyncio.run(go())
    assert outcome.started_monotonic is not None
    assert before <= outcome.started_monotonic <= after
