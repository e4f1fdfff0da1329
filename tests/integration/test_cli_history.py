"""``pgsched runs``, ``stats``, ``timeline`` and ``workers`` against a real database.

Runs are inserted with slots at fixed offsets from the database clock, as in
test_monitoring.py, so every row and figure can be asserted exactly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from pgsched.cli import cli
from tests.commands import (
    DAY,
    HOUR,
    UNREACHABLE_URL,
    add_job,
    add_worker,
    as_json,
    database_now,
    invoke,
)

Connection = psycopg.Connection[tuple[Any, ...]]


def add_run(
    db: Connection, job: str, status: str, slot: datetime, duration_ms: float = 10.0, **columns: Any
) -> int:
    """A run of ``job`` at ``slot``, started at its slot unless pending or skipped."""
    started = None if status in ("pending", "skipped") else slot
    finished = None if status in ("pending", "running") else slot
    row = {
        "job_name": job,
        "scheduled_for": slot,
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration_ms if finished else None,
        **columns,
    }
    found = db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, duration_ms, attempt, trigger, worker_id, error)"
        " VALUES ((SELECT id FROM pgsched.jobs WHERE name = %(job_name)s), %(job_name)s,"
        " %(scheduled_for)s, %(status)s, %(started_at)s, %(finished_at)s, %(duration_ms)s,"
        " %(attempt)s, %(trigger)s, %(worker_id)s, %(error)s) RETURNING id",
        {"attempt": 1, "trigger": "schedule", "worker_id": None, "error": None, **row},
    ).fetchone()
    assert found is not None
    return int(found[0])


# -- runs ------------------------------------------------------------------------------


@pytest.fixture
def history(db: Connection) -> dict[str, int]:
    """Two jobs with runs of several statuses; returns run ids by label."""
    now = database_now(db)
    add_job(db, "report")
    add_job(db, "backup")
    return {
        "old_success": add_run(db, "report", "succeeded", now - 3 * DAY),
        "failure": add_run(
            db, "report", "failed", now - 2 * HOUR, error="ValueError: bad input\nTraceback ..."
        ),
        "backup": add_run(db, "backup", "succeeded", now - HOUR),
        "running": add_run(db, "report", "running", now - 10 * timedelta(minutes=1)),
    }


def test_runs_lists_the_latest_runs_first_with_the_first_line_of_their_error(
    database_url: str, history: dict[str, int]
) -> None:
    rows = as_json(invoke(database_url, "runs", "--json"))
    assert [row["id"] for row in rows] == [
        history["running"],
        history["backup"],
        history["failure"],
        history["old_success"],
    ]
    failure = rows[2]
    assert failure["status"] == "failed"
    assert failure["error"] == "ValueError: bad input"
    assert set(failure) == {
        "id",
        "job_name",
        "scheduled_for",
        "shard",
        "attempt",
        "status",
        "trigger",
        "worker_id",
        "started_at",
        "duration_ms",
        "error",
    }


def test_runs_prints_a_table_for_people(database_url: str, history: dict[str, int]) -> None:
    result = invoke(database_url, "runs")
    assert result.exit_code == 0, result.output
    header, rule, *lines = result.output.splitlines()
    assert header.split() == [
        "id",
        "job_name",
        "scheduled_for",
        "shard",
        "attempt",
        "status",
        "trigger",
        "worker_id",
        "started_at",
        "duration_ms",
        "error",
    ]
    assert set(rule) <= {"-", " "}
    assert len(lines) == 4
    assert "ValueError: bad input" in result.output
    assert "Traceback" not in result.output


def test_runs_filters_by_job_status_limit_and_since(
    database_url: str, history: dict[str, int]
) -> None:
    def ids(*args: str) -> list[int]:
        return [row["id"] for row in as_json(invoke(database_url, "runs", "--json", *args))]

    assert ids("--job", "backup") == [history["backup"]]
    assert ids("--status", "failed") == [history["failure"]]
    assert ids("--job", "report", "--status", "succeeded") == [history["old_success"]]
    assert ids("--limit", "2") == [history["running"], history["backup"]]
    assert ids("--since", "1d") == [history["running"], history["backup"], history["failure"]]
    assert ids("--job", "report", "--since", "90m") == [history["running"]]
    assert ids("--since", "2000-01-01") == ids()
    assert ids("--since", "2999-01-01T00:00:00+02:00") == []


def test_runs_of_a_deleted_job_stay_listed_under_its_name(
    database_url: str, db: Connection, history: dict[str, int]
) -> None:
    db.execute("DELETE FROM pgsched.jobs WHERE name = 'backup'")
    rows = as_json(invoke(database_url, "runs", "--json", "--job", "backup"))
    assert [row["id"] for row in rows] == [history["backup"]]


def test_runs_of_an_unknown_job_is_one_error_line(database_url: str) -> None:
    result = invoke(database_url, "runs", "--job", "ghost")
    assert result.exit_code == 1
    assert result.output == "Error: no job named 'ghost'\n"


def test_runs_refuses_an_unknown_status_and_a_bad_since(database_url: str) -> None:
    status = invoke(database_url, "runs", "--status", "exploded")
    assert status.exit_code == 2
    assert "Invalid value for '--status': 'exploded' is not one of" in status.output
    since = invoke(database_url, "runs", "--since", "last tuesday")
    assert since.exit_code == 2
    assert "Invalid value for '--since'" in since.output


def test_runs_says_so_when_there_are_none(database_url: str) -> None:
    result = invoke(database_url, "runs")
    assert result.exit_code == 0
    assert result.output == "(no runs)\n"
    assert as_json(invoke(database_url, "runs", "--json")) == []


# -- stats -----------------------------------------------------------------------------


def test_stats_without_a_job_lists_the_success_rates_of_every_job(
    database_url: str, db: Connection
) -> None:
    now = database_now(db)
    add_job(db, "report")
    add_job(db, "backup")
    add_run(db, "report", "succeeded", now - HOUR, duration_ms=100.0)
    add_run(db, "report", "failed", now - 2 * HOUR, duration_ms=300.0)
    add_run(db, "backup", "succeeded", now - HOUR, duration_ms=50.0)
    rows = as_json(invoke(database_url, "stats", "--json"))
    assert [
        (row["job_name"], row["successful_runs"], row["failed_runs"], row["total_runs"])
        for row in rows
    ] == [("backup", 1, 0, 1), ("report", 1, 1, 2)]
    assert rows[1]["success_rate_percentage"] == 50.0
    assert rows[1]["avg_duration_ms"] == 200.0
    table = invoke(database_url, "stats")
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split()[:2] == ["job_name", "successful_runs"]


def test_stats_of_one_job_gives_its_job_stats_over_the_chosen_days(
    database_url: str, db: Connection
) -> None:
    now = database_now(db)
    add_job(db, "report")
    add_run(db, "report", "succeeded", now - HOUR, duration_ms=100.0)
    add_run(db, "report", "timed_out", now - 3 * DAY, duration_ms=900.0)
    [week] = as_json(invoke(database_url, "stats", "report", "--json"))
    assert week["job_name"] == "report"
    assert (week["total_runs"], week["successful_runs"], week["failed_runs"]) == (2, 1, 1)
    assert week["success_rate"] == 50.0
    assert week["max_duration_ms"] == 900.0
    [day] = as_json(invoke(database_url, "stats", "report", "--days", "1", "--json"))
    assert (day["total_runs"], day["failed_runs"], day["last_failure_at"]) == (1, 0, None)
    record = invoke(database_url, "stats", "report")
    assert record.exit_code == 0
    assert "success_rate" in record.output
    assert "p95_duration_ms" in record.output


def test_stats_errors_are_one_line(database_url: str) -> None:
    unknown = invoke(database_url, "stats", "ghost")
    assert unknown.exit_code == 1
    assert unknown.output == "Error: no job named 'ghost'\n"
    days_alone = invoke(database_url, "stats", "--days", "7")
    assert days_alone.exit_code == 2
    assert "--days needs a JOB" in days_alone.output
    zero_days = invoke(database_url, "stats", "report", "--days", "0")
    assert zero_days.exit_code == 2


# -- timeline --------------------------------------------------------------------------


def test_timeline_counts_each_hour_and_draws_a_bar(database_url: str, db: Connection) -> None:
    add_job(db, "report")
    # Slots at fixed points of the current and the previous hour, whatever now() is.
    with db.transaction():
        this_hour = db.execute("SELECT date_trunc('hour', now())").fetchone()
        assert this_hour is not None
        start: datetime = this_hour[0]
        add_run(db, "report", "succeeded", start - HOUR, duration_ms=100.0)
        add_run(db, "report", "succeeded", start - HOUR + timedelta(minutes=5), duration_ms=300.0)
        add_run(db, "report", "failed", start - HOUR + timedelta(minutes=10), duration_ms=50.0)
        add_run(db, "report", "running", start)
    rows = as_json(invoke(database_url, "timeline", "report", "--hours", "3", "--json"))
    assert [
        (row["executions"], row["successes"], row["failures"], row["avg_duration_ms"])
        for row in rows
    ] == [(0, 0, 0, None), (3, 2, 1, 150.0), (1, 0, 0, None)]
    assert "bar" not in rows[0]
    table = invoke(database_url, "timeline", "report", "--hours", "3")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[-1] == "bar"
    assert lines[3].endswith("##x")
    assert lines[4].endswith(".")


def test_timeline_of_an_unknown_job_is_one_error_line(database_url: str) -> None:
    result = invoke(database_url, "timeline", "ghost")
    assert result.exit_code == 1
    assert result.output == "Error: no job named 'ghost'\n"


# -- workers ---------------------------------------------------------------------------


def test_workers_lists_live_workers_with_their_running_attempts(
    database_url: str, db: Connection
) -> None:
    now = database_now(db)
    add_job(db, "report")
    add_worker(db, "live", timedelta(seconds=2))
    add_worker(db, "silent", timedelta(minutes=5))
    add_worker(db, "gone", timedelta(hours=2), stopped_at=now - HOUR)
    add_run(db, "report", "running", now - HOUR, worker_id="live")
    add_run(db, "report", "running", now - 2 * HOUR, worker_id="silent")

    alive = as_json(invoke(database_url, "workers", "--json"))
    assert [(row["id"], row["state"], row["running_runs"]) for row in alive] == [
        ("live", "alive", 1)
    ]
    assert 0 <= alive[0]["heartbeat_age_seconds"] < 60
    assert alive[0]["queues"] == ["default"]

    every = as_json(invoke(database_url, "workers", "--all", "--json"))
    assert [(row["id"], row["state"], row["running_runs"]) for row in every] == [
        ("live", "alive", 1),
        ("silent", "dead", 1),
        ("gone", "stopped", 0),
    ]
    assert every[1]["heartbeat_age_seconds"] >= 300

    table = invoke(database_url, "workers", "--all")
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split()[:3] == ["id", "state", "host"]


def test_workers_says_so_when_none_is_alive(database_url: str) -> None:
    result = invoke(database_url, "workers")
    assert result.exit_code == 0
    assert result.output == "(no live worker)\n"


# -- every command ---------------------------------------------------------------------

COMMAND_LINES = [
    ["runs"],
    ["stats"],
    ["stats", "report"],
    ["timeline", "report"],
    ["workers"],
]


@pytest.mark.parametrize("command", COMMAND_LINES, ids=" ".join)
def test_an_unreachable_database_is_one_error_line(command: list[str]) -> None:
    result = invoke(UNREACHABLE_URL, *command)
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", COMMAND_LINES, ids=" ".join)
def test_a_database_without_the_schema_says_to_migrate(
    empty_database_url: str, command: list[str]
) -> None:
    result = invoke(empty_database_url, *command)
    assert result.exit_code == 1
    assert result.output.strip().endswith("run `pgsched migrate`")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["runs", "stats", "timeline", "workers"])
def test_help_shows_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert f"pgsched {command}" in result.output.split("Example", 1)[1]
