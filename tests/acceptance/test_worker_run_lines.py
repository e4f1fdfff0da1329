"""A worker at its default log level writes one well-formed ``run_started`` and one
``run_finished`` line per run, in either format, none lost when it stops on SIGTERM
(the per-run lines are written a loop turn at a time, not line by line)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered

pytestmark = pytest.mark.slow

RUNS = 40
CONSOLE = re.compile(
    r"(?P<timestamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z) \[(?P<level>[a-z]+) *\]"
    r" (?P<event>\S+) *(?P<rest>.*)"
)
# key=value, the value as structlog's console renderer writes it (repr when quoted).
PAIR = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S*)(?: |$)")


def parsed(line: str, log_format: str) -> dict[str, Any]:
    """One log line's keys (console values as text); AssertionError if it is not one."""
    if log_format == "json":
        return dict(json.loads(line))
    found = CONSOLE.fullmatch(line)
    assert found, line
    rest, fields = found["rest"], {}
    while rest:
        pair = PAIR.match(rest)
        assert pair, line
        fields[pair[1]] = pair[2]
        rest = rest[pair.end() :]
    return {**fields, "event": found["event"], "level": found["level"]}


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_one_line_each_for_every_run_at_the_default_level(
    workers: Workers, db: psycopg.Connection[Any], log_format: str
) -> None:
    for index in range(8):
        add_job(db, f"tick-{index}", "tests.acceptance.jobs:noop")
    workers.start("--log-format", log_format)  # and no --log-level: the default
    wait_until_registered(db)
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'") >= RUNS,
        what=f"{RUNS} runs",
    )
    assert workers.stop_all() == [0], workers.logs()[-3000:]

    runs = {
        str(run_id): (job_name, status)
        for run_id, job_name, status in db.execute(
            "SELECT id, job_name, status FROM pgsched.runs WHERE started_at IS NOT NULL"
        ).fetchall()
    }
    assert all(status == "succeeded" for _, status in runs.values()), runs
    events = [parsed(line, log_format) for line in workers.logs().splitlines() if line]
    for name in ("run_started", "run_finished"):
        lines = [event for event in events if event["event"] == name]
        assert Counter(str(event["run_id"]) for event in lines) == Counter(runs.keys()), name
        for event in lines:
            assert event["level"] == "info"
            assert event["job_name"] == runs[str(event["run_id"])][0]
            assert {"attempt", "scheduled_for", "worker_id", "lag_ms"} <= event.keys()
    assert {event["status"] for event in events if event["event"] == "run_finished"} == {
        "succeeded"
    }
