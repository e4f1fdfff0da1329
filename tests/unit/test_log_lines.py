"""The lean per-run lines read exactly as structlog writes the same events, in both
formats, and reach the log in order, by the end of the loop turn that wrote them."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from pgsched import log_lines
from pgsched.engine.events import RunEvents
from pgsched.engine.repository import FinishedRun
from pgsched.line_output import LineOutput
from pgsched.log_lines import RunLines
from pgsched.logging import configure_logging
from pgsched.models import Attempt, EndedAttempt, Outcome, Trigger

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
SLOT = datetime(2026, 12, 3, 12, 0, 1, tzinfo=UTC)


def attempt(job_name: str = "nightly", **changes: object) -> Attempt:
    fields: dict[str, object] = {
        "run_id": 41,
        "fence": 1,
        "job_id": 7,
        "job_name": job_name,
        "kind": "python",
        "target": "tests.x:y",
        "args": {},
        "scheduled_for": SLOT,
        "attempt": 1,
        "max_attempts": 3,
        "timeout_seconds": 60,
        "trigger": Trigger.SCHEDULE,
    }
    return Attempt(**{**fields, **changes})  # type: ignore[arg-type]


ATTEMPTS = [
    attempt(),
    attempt("a name with spaces"),
    attempt('quote\'d="x"\ttab'),
    attempt("esc\x1b[2J\u202e-ünï"),
    attempt(attempt=3, trigger=Trigger.MANUAL, run_id=10**12),
    attempt(shard=2, shards=4, scheduled_for=datetime(2026, 1, 1, tzinfo=UTC)),
    attempt(scheduled_for=datetime(2026, 1, 1, 0, 0, 0, 120, tzinfo=UTC)),
]


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    structlog.reset_defaults()
    log_lines.RUN_LINES.use(None)


def both_ways(
    monkeypatch: pytest.MonkeyPatch, buffer: io.StringIO, log_format: str, call: str, **kw: object
) -> tuple[str, str]:
    """The line ``RUN_LINES`` writes, and the line structlog writes for the same call."""
    configure_logging("info", log_format, file=buffer)
    # A fresh logger: the module's may be cached under an earlier test's configuration.
    monkeypatch.setattr(log_lines, "log", structlog.get_logger("pgsched.runs"))
    getattr(log_lines.RUN_LINES, call)(**kw)
    getattr(RunLines(), call)(**kw)  # never given an output: through structlog
    lean, reference = buffer.getvalue().splitlines()[-2:]
    return TIMESTAMP.sub("T", lean), TIMESTAMP.sub("T", reference)


@pytest.mark.parametrize("log_format", ["console", "json"])
@pytest.mark.parametrize("run", ATTEMPTS, ids=range(len(ATTEMPTS)))
def test_lean_lines_are_structlogs_lines(
    monkeypatch: pytest.MonkeyPatch, written: io.StringIO, log_format: str, run: Attempt
) -> None:
    for lag_ms in (2.5, None, 1234567.1):
        lean, reference = both_ways(
            monkeypatch,
            written,
            log_format,
            "started",
            runs=[(run, lag_ms)],
            worker_id="w-1 x",
        )
        assert lean == reference
        lean, reference = both_ways(
            monkeypatch,
            written,
            log_format,
            "succeeded",
            runs=[(run, 3.04999, lag_ms)],
            worker_id="host:42",
        )
        assert lean == reference
    if log_format == "json":
        assert json.loads(lean)["job_name"] == run.job_name
    else:
        assert "\x1b" not in lean and "\u202e" not in lean


@pytest.mark.parametrize("nanoseconds", [1_764_763_200_000_000_000, 1_764_763_201_123_456_789])
def test_the_timestamp_is_timestampers(monkeypatch: pytest.MonkeyPatch, nanoseconds: int) -> None:
    monkeypatch.setattr(log_lines.time, "time_ns", lambda: nanoseconds)
    seconds, rest = divmod(nanoseconds, 10**9)
    expected = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    assert RunLines()._now() == expected.isoformat().replace("+00:00", "Z")


def test_a_bound_contextvar_sends_the_line_through_structlog(
    monkeypatch: pytest.MonkeyPatch, written: io.StringIO
) -> None:
    configure_logging("info", "json", file=written)
    monkeypatch.setattr(log_lines, "log", structlog.get_logger("pgsched.runs"))
    with structlog.contextvars.bound_contextvars(request_id="r-9"):
        log_lines.RUN_LINES.started([(attempt(), 1.0)], "w")
    line = json.loads(written.getvalue())
    assert line["request_id"] == "r-9" and line["event"] == "run_started"


def test_lines_keep_their_order_and_are_written_by_the_turns_end() -> None:
    buffer = io.StringIO()
    output = LineOutput(buffer)

    async def turn() -> str:
        output.add(["one"])
        output.add(["two"])
        assert buffer.getvalue() == ""  # written once, at the end of the turn
        output.msg("three")  # structlog's line: at once, after those waiting
        assert buffer.getvalue() == "one\ntwo\nthree\n"
        output.add(["four"])
        await asyncio.sleep(0)
        return buffer.getvalue()

    assert asyncio.run(turn()) == "one\ntwo\nthree\nfour\n"
    output.add(["five"])  # no loop: at once
    assert buffer.getvalue().endswith("four\nfive\n")


def test_lines_of_a_turn_the_loop_never_finished_are_written_at_exit() -> None:
    program = (
        "import asyncio\n"
        "from pgsched.logging import configure_logging\n"
        "from pgsched.log_lines import RUN_LINES\n"
        "configure_logging()\n"
        "loop = asyncio.new_event_loop()\n"
        "def last_turn():\n"
        "    RUN_LINES.output.add(['the last line'])\n"
        "    loop.stop()  # the flush it scheduled never runs in the loop\n"
        "loop.call_soon(last_turn)\n"
        "loop.run_forever()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "the last line\n"


def test_a_context_unbound_again_gives_the_lean_line_back(
    monkeypatch: pytest.MonkeyPatch, written: io.StringIO
) -> None:
    configure_logging("info", "json", file=written)
    monkeypatch.setattr(log_lines, "log", structlog.get_logger("pgsched.runs"))
    assert log_lines.RUN_LINES._usable() is not None
    with structlog.contextvars.bound_contextvars(request_id="r-9"):
        assert log_lines.RUN_LINES._usable() is None
    assert log_lines.RUN_LINES._usable() is not None


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_the_level_is_configure_loggings_without_asking_structlog_per_run(
    monkeypatch: pytest.MonkeyPatch, written: io.StringIO, level: str
) -> None:
    configure_logging(level, "json", file=written)

    class Unasked:
        def is_enabled_for(self, level: int) -> bool:
            raise AssertionError("structlog's lazy logger binds a new logger for each question")

    monkeypatch.setattr(log_lines, "log", Unasked())
    assert log_lines.RUN_LINES.enabled() is (level in ("debug", "info"))
    structlog.reset_defaults()  # configured no more by configure_logging: structlog is asked
    monkeypatch.setattr(log_lines, "log", structlog.get_logger("pgsched.runs"))
    assert log_lines.RUN_LINES.enabled() is True


class CountedWrites(io.StringIO):
    """A file that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_batchs_lines_are_one_write_with_one_timestamp(
    monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    buffer = CountedWrites()
    configure_logging("info", log_format, file=buffer)
    try:
        runs = [attempt(run_id=n) for n in (1, 2, 3)]
        log_lines.RUN_LINES.started([(run, 1.5) for run in runs], "w")  # no loop: at once
        assert buffer.writes == 1
        log_lines.RUN_LINES.succeeded([(run, 2.0, 1.5) for run in runs], "w")
        assert buffer.writes == 2
        written = buffer.getvalue().splitlines()
        assert len(written) == 6
        assert len({TIMESTAMP.search(line).group() for line in written[:3]}) == 1  # type: ignore[union-attr]
    finally:
        structlog.reset_defaults()
        log_lines.RUN_LINES.use(None)


def test_a_runs_keys_are_kept_until_its_outcome_and_no_more(
    monkeypatch: pytest.MonkeyPatch, written: io.StringIO
) -> None:
    configure_logging("info", "json", file=written)
    lines = log_lines.RUN_LINES
    succeeds, fails, never = attempt(run_id=1), attempt(run_id=2), attempt(run_id=3)
    events = RunEvents(lambda: "w")
    events.started_all([succeeds, fails, never], None)
    assert set(lines._runs) == {1, 2, 3}
    finished = {n: FinishedRun(n, None, None) for n in (1, 2)}
    ok, failed = Outcome.succeeded(), Outcome.failed("boom")
    events.recorded(
        [EndedAttempt(succeeds, ok, 1.0, None), EndedAttempt(fails, failed, 1.0, None)], finished
    )
    events.abandoned(never, 1.0)
    assert lines._runs == {}
    monkeypatch.setattr(log_lines, "MAX_CACHED_RUNS", 10)
    for first in range(0, 100, 5):  # batches of 5 runs that never finish here
        lines.started([(attempt(run_id=n), None) for n in range(first, first + 5)], "w")
        assert len(lines._runs) <= 10 + 5  # the bound, and one batch


def test_only_short_names_and_their_runs_keys_are_kept(written: io.StringIO) -> None:
    configure_logging("info", "json", file=written)
    lines = log_lines.RUN_LINES
    # 200 characters (the longest name the jobs trigger lets in), rendered 2,400 long.
    astral = "\U0001f600" * 200
    lines.started([(attempt(astral, run_id=1), None), (attempt("short", run_id=2), None)], "w")
    assert "short" in lines._names
    assert astral not in lines._names
    assert set(lines._runs) == {2}
    lines.succeeded([(attempt(astral, run_id=1), 1.0, None)], "w")
    assert json.loads(written.getvalue().splitlines()[-1])["job_name"] == astral
