"""`pgsched jobs ...`: what each command shows and changes, and one clear line on errors."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from pgsched.cli import cli
from tests.commands import UNREACHABLE_URL, invoke, one_error_line


def ok(database_url: str, *args: str, input: str | None = None) -> Result:
    result = invoke(database_url, *args, input=input)
    assert result.exit_code == 0, result.output
    return result


def job_row(db: psycopg.Connection, name: str) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM pgsched.jobs WHERE name = %s", [name])
    row = cursor.fetchone()
    assert row is not None, f"no job {name}"
    return dict(zip([c.name for c in cursor.description or []], row, strict=True))


def job_count(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM pgsched.jobs").fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def insert_run(
    db: psycopg.Connection, job: str, status: str, minutes_ago: int, error: str | None = None
) -> int:
    """A run of ``job`` whose slot and start were ``minutes_ago``, finished unless active."""
    row = db.execute(
        """
        INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,
                                  finished_at, error)
        SELECT id, name, now() - make_interval(mins => %(minutes)s), %(status)s,
               now() - make_interval(mins => %(minutes)s),
               CASE WHEN %(status)s IN ('pending', 'running') THEN NULL ELSE now() END,
               %(error)s
          FROM pgsched.jobs WHERE name = %(job)s
        RETURNING id
        """,
        {"job": job, "status": status, "minutes": minutes_ago, "error": error},
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def test_add_registers_a_job_with_the_spec_defaults(
    database_url: str, db: psycopg.Connection
) -> None:
    result = ok(database_url, "jobs", "add", "hello", "@every 5m", "sql", "SELECT 1")
    assert result.output == "added job 'hello'\n"
    row = job_row(db, "hello")
    assert (row["schedule"], row["kind"], row["target"], row["timezone"], row["args"]) == (
        "@every 5m",
        "sql",
        "SELECT 1",
        "UTC",
        {},
    )
    assert (row["enabled"], row["timeout_seconds"], row["max_attempts"]) == (True, 300, 1)
    assert (row["overlap"], row["misfire"], row["queue"], row["next_run"]) == (
        "skip",
        "run_once",
        "default",
        None,
    )


def test_add_sets_every_column_it_has_an_option_for(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(
        database_url,
        "jobs",
        "add",
        "report",
        "30 2 * * mon-fri",
        "python",
        "myapp.reports:nightly",
        "--timezone",
        "Europe/Berlin",
        "--args",
        '{"recipients": ["ops@example.com"]}',
        "--disabled",
        "--timeout",
        "600",
        "--max-attempts",
        "3",
        "--retry-delay",
        "10",
        "--overlap",
        "queue",
        "--misfire",
        "skip",
        "--misfire-threshold",
        "120",
        "--queue",
        "reports",
        "--priority",
        "5",
        "--shards",
        "4",
        "--category",
        "finance",
        "--description",
        "The nightly report",
        "--warn-after",
        "900",
    )
    row = job_row(db, "report")
    assert {key: row[key] for key in row if key not in {"id", "created_at", "updated_at"}} == {
        "name": "report",
        "schedule": "30 2 * * mon-fri",
        "timezone": "Europe/Berlin",
        "kind": "python",
        "target": "myapp.reports:nightly",
        "args": {"recipients": ["ops@example.com"]},
        "enabled": False,
        "timeout_seconds": 600,
        "max_attempts": 3,
        "retry_delay_seconds": 10,
        "overlap": "queue",
        "misfire": "skip",
        "misfire_threshold_seconds": 120,
        "queue": "reports",
        "priority": 5,
        "category": "finance",
        "description": "The nightly report",
        "warn_after_seconds": 900,
        "next_run": None,
        "last_error": None,
        "checkpoint": None,
        "modified_by": "postgres",
        "shards": 4,
    }


def test_add_refuses_a_taken_name_unless_if_not_exists(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "hello", "@hourly", "sql", "SELECT 1")
    line = one_error_line(invoke(database_url, "jobs", "add", "hello", "@daily", "sql", "SELECT 2"))
    assert line == "Error: a job named 'hello' already exists; change it with `pgsched jobs edit`"
    result = ok(
        database_url, "jobs", "add", "hello", "@daily", "sql", "SELECT 2", "--if-not-exists"
    )
    assert result.output == "job 'hello' exists; left unchanged\n"
    assert job_row(db, "hello")["schedule"] == "@hourly"


BAD_ADDS = [
    (["61 * * * *", "sql", "SELECT 1"], "schedule '61 * * * *': minute field: 61 is out of range"),
    (["0 0 31 2 *", "sql", "SELECT 1"], "schedule '0 0 31 2 *': never fires"),
    (
        ["0 0 32W * *", "sql", "SELECT 1"],
        "schedule '0 0 32W * *': day-of-month field: W needs a day 1-31, got '32W'",
    ),
    (
        ["L * * * *", "sql", "SELECT 1"],
        "minute field: L is only allowed in day-of-month and day-of-week, got 'L'",
    ),
    (["0 9 ? * MON#6", "sql", "SELECT 1"], "day-of-week field: # needs a week 1-5, got 'MON#6'"),
    (["@daily", "sql", "SELECT 1", "--timezone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    (["@daily", "pyhton", "app:run"], "kind 'pyhton' is not one of python, shell, http, sql"),
    (["@daily", "sql", "SELECT 1", "--args", "{oops"], "--args is not valid JSON"),
    (["@daily", "sql", "SELECT 1", "--args", "[1, 2]"], "--args must be a JSON object"),
    (
        ["@daily", "sql", "SELECT 1", "--timeout", "0"],
        "timeout_seconds must be an integer, positive",
    ),
    (["@daily", "sql", "SELECT 1", "--overlap", "parallel"], "overlap 'parallel' is not one of"),
    (["@daily", "sql", "SELECT 1", "--misfire", "never"], "misfire 'never' is not one of"),
    # Refused by the python executor's own rule, before the database's trigger would:
    (["@daily", "python", "app.run"], "python target 'app.run' is not of the form"),
    (["@daily", "python", "app:logging.os.system"], "or package.module:Class.method"),
    (["@daily", "python", "app:__loader__"], "may not start with _"),
    # Refused by the database's trigger, not by Python:
    (["@daily", "shell", "ls", "--args", '{"env": "A=1"}'], "env must be an object of strings"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_ADDS)
def test_a_bad_registration_is_one_error_line_and_writes_nothing(
    database_url: str, db: psycopg.Connection, arguments: list[str], message: str
) -> None:
    line = one_error_line(invoke(database_url, "jobs", "add", "bad", *arguments))
    assert message in line
    assert job_count(db) == 0


def test_list_shows_a_narrow_table_with_the_latest_status(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "b-report", "0 3 * * *", "python", "app.reports:run")
    ok(database_url, "jobs", "add", "a-ping", "@every 30s", "http", "https://example.com/health")
    insert_run(db, "a-ping", "failed", minutes_ago=2)
    insert_run(db, "a-ping", "succeeded", minutes_ago=1)
    lines = ok(database_url, "jobs", "list").output.splitlines()
    assert lines[0].split() == [
        "name",
        "schedule",
        "timezone",
        "kind",
        "target",
        "enabled",
        "queue",
        "next_run",
        "last_status",
    ]
    assert lines[2].split() == [
        "a-ping",
        "@every",
        "30s",
        "UTC",
        "http",
        "https://example.com/health",
        "yes",
        "default",
        "-",
        "succeeded",
    ]
    assert lines[3].split()[0] == "b-report"
    assert lines[3].split()[-1] == "-"


def test_list_json_has_every_column_and_filters_by_queue_and_state(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "one", "@hourly", "sql", "SELECT 1", "--queue", "reports")
    ok(database_url, "jobs", "add", "two", "@hourly", "sql", "SELECT 2", "--disabled")
    ok(database_url, "jobs", "add", "three", "@hourly", "sql", "SELECT 3")
    every = json.loads(ok(database_url, "jobs", "list", "--json").stdout)
    assert [job["name"] for job in every] == ["one", "three", "two"]
    assert set(every[0]) == set(job_row(db, "one")) | {"last_status"}
    reports = json.loads(ok(database_url, "jobs", "list", "--json", "--queue", "reports").stdout)
    assert [job["name"] for job in reports] == ["one"]
    disabled = json.loads(ok(database_url, "jobs", "list", "--json", "--disabled").stdout)
    assert [job["name"] for job in disabled] == ["two"]
    enabled = json.loads(ok(database_url, "jobs", "list", "--json", "--enabled").stdout)
    assert [job["name"] for job in enabled] == ["one", "three"]


def test_list_of_no_jobs_says_so(database_url: str) -> None:
    assert ok(database_url, "jobs", "list").output == "(no jobs)\n"
    assert json.loads(ok(database_url, "jobs", "list", "--json").stdout) == []


def test_show_gives_every_column_and_the_facts_of_its_runs(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    insert_run(db, "report", "failed", minutes_ago=30, error="boom")
    insert_run(db, "report", "succeeded", minutes_ago=20)
    running = insert_run(db, "report", "running", minutes_ago=10)
    [shown] = json.loads(ok(database_url, "jobs", "show", "report", "--json").stdout)
    assert set(job_row(db, "report")) <= set(shown)
    assert shown["last_run_id"] == running
    assert shown["last_run_status"] == "running"
    assert shown["running_now"] == 1
    assert shown["last_success_at"] is not None
    assert shown["last_failure_at"] is not None
    assert shown["last_failure_at"] < shown["last_success_at"]
    assert shown["success_rate_30d"] == 50.0
    text = ok(database_url, "jobs", "show", "report").output
    assert "running_now                1" in text.splitlines()


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["edit", "--timeout", "5"],
        ["enable"],
        ["disable"],
        ["run"],
        ["remove", "--yes"],
    ],
    ids=lambda command: command[0],
)
def test_a_missing_job_is_one_error_line(database_url: str, command: list[str]) -> None:
    result = invoke(database_url, "jobs", command[0], "nope", *command[1:])
    assert one_error_line(result) == "Error: no job named 'nope'"


def test_edit_changes_only_the_given_columns_and_keeps_next_run(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1", "--category", "x")
    db.execute("UPDATE pgsched.jobs SET next_run = now() + interval '1 hour'")
    before = job_row(db, "report")
    result = ok(
        database_url, "jobs", "edit", "report", "--timeout", "60", "--description", "hourly"
    )
    assert result.output == "updated job 'report': timeout_seconds, description\n"
    after = job_row(db, "report")
    assert (after["timeout_seconds"], after["description"]) == (60, "hourly")
    assert after["next_run"] == before["next_run"]
    assert after["updated_at"] > before["updated_at"]
    unchanged = {"timeout_seconds", "description", "updated_at"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }


def test_edit_of_the_schedule_leaves_next_run_to_the_workers(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    db.execute("UPDATE pgsched.jobs SET next_run = now() + interval '1 hour'")
    result = ok(
        database_url,
        "jobs",
        "edit",
        "report",
        "--schedule",
        "0 3 * * *",
        "--timezone",
        "Asia/Tokyo",
    )
    assert result.output.splitlines() == [
        "updated job 'report': schedule, timezone",
        "a worker computes its next_run from the new schedule",
    ]
    row = job_row(db, "report")
    assert (row["schedule"], row["timezone"], row["next_run"]) == ("0 3 * * *", "Asia/Tokyo", None)


def test_edit_without_a_real_change_writes_nothing(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    before = job_row(db, "report")
    result = ok(
        database_url, "jobs", "edit", "report", "--schedule", "@hourly", "--queue", "default"
    )
    assert result.output == "job 'report' unchanged\n"
    assert job_row(db, "report") == before


def test_edit_renames_clears_labels_and_refuses_a_taken_name(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "old", "@hourly", "sql", "SELECT 1", "--category", "x")
    ok(database_url, "jobs", "add", "other", "@hourly", "sql", "SELECT 1")
    job_id = job_row(db, "old")["id"]
    assert ok(database_url, "jobs", "edit", "old", "--name", "new", "--category", "").output == (
        "updated job 'new': name, category\n"
    )
    row = job_row(db, "new")
    assert (row["id"], row["category"]) == (job_id, None)
    line = one_error_line(invoke(database_url, "jobs", "edit", "new", "--name", "other"))
    assert line == "Error: a job named 'other' already exists"


def test_edit_refuses_bad_values_and_changes_nothing(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    before = job_row(db, "report")
    assert "minute field" in one_error_line(
        invoke(database_url, "jobs", "edit", "report", "--schedule", "99 * * * *")
    )
    assert "http target 'ftp://x' is not an http:// or https:// URL" in one_error_line(
        invoke(database_url, "jobs", "edit", "report", "--kind", "http", "--target", "ftp://x")
    )
    assert job_row(db, "report") == before


def test_disable_and_enable_go_through_toggle_job(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    db.execute("UPDATE pgsched.jobs SET modified_by = 'someone else', next_run = now()")
    assert ok(database_url, "jobs", "disable", "report").output == "disabled job 'report'\n"
    row = job_row(db, "report")
    assert (row["enabled"], row["modified_by"]) == (False, "postgres")
    assert ok(database_url, "jobs", "enable", "report").output == "enabled job 'report'\n"
    row = job_row(db, "report")
    # Re-enabled jobs start from their next slot: a worker fills next_run in afresh.
    assert (row["enabled"], row["next_run"]) == (True, None)


def test_run_queues_a_manual_run_and_prints_its_id(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    run_id = int(ok(database_url, "jobs", "run", "report").output)
    row = db.execute(
        "SELECT job_name, status, trigger FROM pgsched.runs WHERE id = %s", [run_id]
    ).fetchone()
    assert row == ("report", "pending", "manual")


def test_run_of_a_job_a_worker_found_invalid_says_why(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    db.execute("UPDATE pgsched.jobs SET last_error = 'target missing'")
    assert "job 'report' is invalid: target missing" in one_error_line(
        invoke(database_url, "jobs", "run", "report")
    )


def test_run_wait_gives_up_after_its_timeout(database_url: str) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    result = invoke(database_url, "jobs", "run", "report", "--wait", "--wait-timeout", "0.5")
    assert result.exit_code == 1
    run_id, error = result.output.strip().splitlines()
    assert error == f"Error: run {run_id} is still pending after 0.5 s"


def test_run_wait_follows_a_real_worker_to_the_outcome(database_url: str) -> None:
    ok(database_url, "jobs", "add", "fine", "0 0 1 1 *", "sql", "SELECT 1")
    ok(database_url, "jobs", "add", "broken", "0 0 1 1 *", "sql", "SELECT 1/0")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgsched",
            "worker",
            "--database-url",
            database_url,
            "--poll-interval",
            "0.2",
            "--stop-after",
            "60",
            "--log-level",
            "warning",
            "--allow-sql",
            "--sql-allow-superuser",  # the test server's login
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait = ["--wait", "--wait-timeout", "30"]
        succeeded = invoke(database_url, "jobs", "run", "fine", *wait)
        assert succeeded.exit_code == 0, succeeded.output
        run_id, summary = succeeded.output.strip().splitlines()
        assert summary.startswith(f"run {run_id} (attempt 1) succeeded in ")
        failed = invoke(database_url, "jobs", "run", "broken", *wait)
        assert failed.exit_code == 1
        run_id, error = failed.output.strip().splitlines()
        assert error.startswith(f"Error: run {run_id} (attempt 1) failed in ")
        assert "division by zero" in error
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_remove_deletes_the_job_and_keeps_its_history(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    finished = insert_run(db, "report", "succeeded", minutes_ago=5)
    insert_run(db, "report", "pending", minutes_ago=1)
    result = ok(database_url, "jobs", "remove", "report", "--yes")
    assert result.output.splitlines() == [
        "removed job 'report'; its runs stay in pgsched.runs",
        "1 pending attempt(s) will be recorded skipped by the workers",
    ]
    assert job_count(db) == 0
    row = db.execute(
        "SELECT job_id, job_name, status FROM pgsched.runs WHERE id = %s", [finished]
    ).fetchone()
    assert row == (None, "report", "succeeded")
    # What the workers' recovery round does with the pending attempt:
    db.execute("SELECT pgsched.retire_orphan_runs()")
    assert db.execute("SELECT count(*) FROM pgsched.runs WHERE status = 'pending'").fetchone() == (
        0,
    )


def test_remove_asks_first_and_keeps_the_job_when_told_no(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    result = invoke(database_url, "jobs", "remove", "report", input="n\n")
    assert result.exit_code == 1
    assert "Remove job 'report'? Its runs stay in history." in result.output
    assert job_count(db) == 1
    ok(database_url, "jobs", "remove", "report", input="y\n")
    assert job_count(db) == 0


def test_remove_refuses_a_running_job_unless_forced(
    database_url: str, db: psycopg.Connection
) -> None:
    ok(database_url, "jobs", "add", "report", "@hourly", "sql", "SELECT 1")
    running = insert_run(db, "report", "running", minutes_ago=1)
    line = one_error_line(invoke(database_url, "jobs", "remove", "report", "--yes"))
    assert line.startswith(f"Error: job 'report' is running now (run {running}); ")
    assert "--force" in line
    assert job_count(db) == 1
    result = ok(database_url, "jobs", "remove", "report", "--yes", "--force")
    assert result.output.splitlines()[1] == (
        f"still running, to be recorded when they end: run {running}"
    )
    assert job_count(db) == 0


def test_an_unreachable_database_is_one_error_line() -> None:
    for command in (["jobs", "list"], ["jobs", "add", "x", "@daily", "sql", "SELECT 1"]):
        line = one_error_line(invoke(UNREACHABLE_URL, *command))
        assert line.startswith("Error: cannot connect to ")


@pytest.mark.parametrize(
    "command", ["list", "show", "add", "edit", "enable", "disable", "run", "remove"]
)
def test_every_jobs_command_help_shows_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, ["jobs", command, "--help"])
    assert result.exit_code == 0
    assert "Example:\n    pgsched jobs " + command in result.output


@pytest.mark.parametrize("shards", ["0", "1001"])
def test_add_refuses_shards_out_of_range_with_a_clear_error(
    database_url: str, db: psycopg.Connection, shards: str
) -> None:
    result = invoke(
        database_url, "jobs", "add", "fan", "@daily", "sql", "SELECT 1", "--shards", shards
    )
    assert result.exit_code != 0
    assert f"shards must be an integer from 1 to 1000, not {shards}" in result.output
    assert job_count(db) == 0


@pytest.mark.parametrize(
    "schedule", ["0 0 L * ?", "0 9 ? * MON#1", "H/15 * * * *", "0 22-2 * * FRI-MON", "0 0 LW * *"]
)
def test_add_accepts_the_cron_syntax_people_paste(
    database_url: str, db: psycopg.Connection, schedule: str
) -> None:
    ok(database_url, "jobs", "add", "pasted", schedule, "sql", "SELECT 1")
    assert job_row(db, "pasted")["schedule"] == schedule
