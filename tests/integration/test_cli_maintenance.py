"""``pgsched cleanup``, ``reap``, ``validate`` and ``doctor`` against a real database."""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from pgsched.catalog import health as doctor
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


def add_run(db: Connection, job: str, status: str, slot: datetime, **columns: Any) -> int:
    row = {"attempt": 1, "trigger": "schedule", "worker_id": None, "finished_at": None}
    row.update(columns)
    found = db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, attempt, trigger, worker_id)"
        " VALUES ((SELECT id FROM pgsched.jobs WHERE name = %(job)s), %(job)s, %(slot)s,"
        " %(status)s, CASE WHEN %(status)s IN ('pending', 'skipped') THEN NULL"
        " ELSE %(slot)s END, %(finished_at)s, %(attempt)s, %(trigger)s, %(worker_id)s)"
        " RETURNING id",
        {"job": job, "slot": slot, "status": status, **row},
    ).fetchone()
    assert found is not None
    return int(found[0])


def status_of(db: Connection, run_id: int) -> str:
    found = db.execute("SELECT status FROM pgsched.runs WHERE id = %s", [run_id]).fetchone()
    assert found is not None
    return str(found[0])


# -- cleanup ---------------------------------------------------------------------------


def test_cleanup_removes_runs_finished_before_the_cutoff_and_keeps_unfinished_ones(
    database_url: str, db: Connection
) -> None:
    now = database_now(db)
    add_job(db, "report")
    old = add_run(db, "report", "succeeded", now - 100 * DAY, finished_at=now - 100 * DAY)
    recent = add_run(db, "report", "failed", now - 5 * DAY, finished_at=now - 5 * DAY)
    stuck = add_run(db, "report", "pending", now - 200 * DAY)
    result = invoke(database_url, "cleanup", "--older-than-days", "90")
    assert result.exit_code == 0, result.output
    assert result.output == "removed 1 run finished and 0 workers stopped more than 90 days ago\n"
    remaining = {row[0] for row in db.execute("SELECT id FROM pgsched.runs")}
    assert remaining == {recent, stuck}
    assert old not in remaining
    [again] = as_json(invoke(database_url, "cleanup", "--older-than-days", "90", "--json"))
    assert again == {"older_than_days": 90, "removed_runs": 0, "removed_workers": 0}


def test_cleanup_removes_long_stopped_workers_and_keeps_live_and_unreaped_ones(
    database_url: str, db: Connection
) -> None:
    db.execute(
        """
        INSERT INTO pgsched.workers (id, host, pid, queues, concurrency, lease_seconds,
                                     last_heartbeat_at, stopped_at)
        VALUES ('gone', 'h', 1, '{default}', 1, 30, now() - interval '40 days',
                now() - interval '40 days'),
               ('recent', 'h', 2, '{default}', 1, 30, now() - interval '2 days',
                now() - interval '2 days'),
               ('silent', 'h', 3, '{default}', 1, 30, now() - interval '40 days', NULL),
               ('alive', 'h', 4, '{default}', 1, 30, now(), NULL)
        """
    )
    [result] = as_json(invoke(database_url, "cleanup", "--older-than-days", "30", "--json"))
    assert result == {"older_than_days": 30, "removed_runs": 0, "removed_workers": 1}
    remaining = {row[0] for row in db.execute("SELECT id FROM pgsched.workers")}
    assert remaining == {"recent", "silent", "alive"}


def test_cleanup_needs_older_than_days(database_url: str) -> None:
    missing = invoke(database_url, "cleanup")
    assert missing.exit_code == 2
    assert "Missing option '--older-than-days'" in missing.output
    negative = invoke(database_url, "cleanup", "--older-than-days", "-1")
    assert negative.exit_code == 2


# -- reap ------------------------------------------------------------------------------


def test_reap_records_the_runs_of_dead_workers_as_lost_and_queues_retries(
    database_url: str, db: Connection
) -> None:
    now = database_now(db)
    add_job(db, "report", max_attempts=2)
    add_job(db, "once")
    add_job(db, "paused", enabled=False)
    add_worker(db, "dead-worker", timedelta(minutes=5))
    add_worker(db, "live-worker", timedelta(seconds=1))
    retried = add_run(db, "report", "running", now - HOUR, worker_id="dead-worker")
    final = add_run(db, "once", "running", now - HOUR, worker_id="dead-worker")
    healthy = add_run(db, "report", "running", now - 2 * HOUR, worker_id="live-worker")
    orphan = add_run(db, "paused", "pending", now - HOUR)

    [report] = as_json(invoke(database_url, "reap", "--json"))

    lost = {row["run_id"]: row for row in report["lost_runs"]}
    assert set(lost) == {retried, final}
    assert lost[final]["retry_run_id"] is None
    assert lost[retried]["job_name"] == "report"
    assert lost[retried]["worker_id"] == "dead-worker"
    retry = db.execute(
        "SELECT attempt, status, trigger FROM pgsched.runs WHERE id = %s",
        [lost[retried]["retry_run_id"]],
    ).fetchone()
    assert retry == (2, "pending", "retry")
    assert report["retries_queued"] == 1
    assert report["orphan_runs_retired"] == 1
    assert (status_of(db, retried), status_of(db, final)) == ("lost", "lost")
    assert status_of(db, healthy) == "running"
    assert status_of(db, orphan) == "skipped"
    stopped = db.execute("SELECT id FROM pgsched.workers WHERE stopped_at IS NOT NULL").fetchall()
    assert stopped == [("dead-worker",)]


def test_reap_prints_what_it_recovered(database_url: str, db: Connection) -> None:
    add_job(db, "report", max_attempts=3)
    add_worker(db, "dead-worker", timedelta(minutes=5))
    run_id = add_run(db, "report", "running", database_now(db) - HOUR, worker_id="dead-worker")
    result = invoke(database_url, "reap")
    assert result.exit_code == 0, result.output
    header, _, line, *summary = result.output.splitlines()
    assert header.split() == ["run_id", "job_name", "worker_id", "retry_run_id"]
    assert line.split()[:3] == [str(run_id), "report", "dead-worker"]
    assert summary == [
        "runs of dead workers recorded as lost: 1 (1 retried)",
        "pending runs of deleted or disabled jobs recorded as skipped: 0",
    ]


def test_reap_with_nothing_to_recover(database_url: str) -> None:
    result = invoke(database_url, "reap")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("runs of dead workers recorded as lost: 0 (0 retried)")


# -- validate --------------------------------------------------------------------------


@pytest.fixture
def target_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package of job modules, importable from a fresh name (so nothing is cached)."""
    name = f"validate_targets_{uuid.uuid4().hex[:8]}"
    package = tmp_path / name
    package.mkdir()
    modules = {
        "__init__": "",
        "good": """
            def run(limit, context=None):
                return limit
            NOT_CALLABLE = 3
        """,
        "raises": """
            raise RuntimeError("configuration missing at import")
        """,
        "prints": """
            print("chatty import")
            def run():
                pass
        """,
        "hangs": """
            import time
            time.sleep(60)
        """,
        "exits": """
            import os
            os._exit(7)
        """,
    }
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def problems_by_job(result: Result) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in as_json(result, exit_code=1):
        assert set(item) == {"job", "problem"}
        found.setdefault(item["job"], []).append(item["problem"])
    return found


def test_validate_finds_each_kind_of_broken_job(
    database_url: str, db: Connection, target_package: str
) -> None:
    pkg = target_package
    add_job(db, "good", target=f"{pkg}.good:run", args={"limit": 5})
    add_job(db, "chatty", target=f"{pkg}.prints:run")
    add_job(db, "no-module", target=f"{pkg}.missing:run")
    add_job(db, "raises", target=f"{pkg}.raises:run")
    add_job(db, "no-function", target=f"{pkg}.good:absent")
    add_job(db, "not-callable", target=f"{pkg}.good:NOT_CALLABLE")
    add_job(db, "bad-args", target=f"{pkg}.good:run", args={"limit": 1, "extra": 2})
    add_job(db, "good-shell", kind="shell", target="echo 'all fine'")
    add_job(db, "bad-shell", kind="shell", target="echo 'unclosed")
    add_job(db, "good-url", kind="http", target="https://example.com/health")
    add_job(db, "bad-url", kind="http", target="https://example.com:99999/health")
    add_job(db, "spaced-url", kind="http", target="http://example.com/a b")
    add_job(db, "sql", kind="sql", target="SELECT 1")
    add_job(db, "marked", kind="sql", target="SELECT 1")
    db.execute("UPDATE pgsched.jobs SET last_error = 'boom' WHERE name = 'marked'")

    problems = problems_by_job(invoke(database_url, "validate", "--allow-python", "*", "--json"))

    assert set(problems) == {
        "no-module",
        "raises",
        "no-function",
        "not-callable",
        "bad-args",
        "bad-shell",
        "bad-url",
        "spaced-url",
        "marked",
    }
    assert problems["no-module"] == [
        f"python target '{pkg}.missing:run': cannot import module '{pkg}.missing':"
        f" ModuleNotFoundError: No module named '{pkg}.missing'"
    ]
    assert problems["raises"] == [
        f"python target '{pkg}.raises:run': cannot import module '{pkg}.raises':"
        " RuntimeError: configuration missing at import"
    ]
    assert problems["no-function"] == [
        f"python target '{pkg}.good:absent': module '{pkg}.good' has no attribute 'absent'"
    ]
    assert problems["not-callable"] == [
        f"python target '{pkg}.good:NOT_CALLABLE': '{pkg}.good:NOT_CALLABLE' is not callable"
    ]
    [bad_args] = problems["bad-args"]
    assert bad_args.startswith(f"args: arguments do not fit {pkg}.good:run(limit, context=None)")
    assert "extra" in bad_args
    [bad_shell] = problems["bad-shell"]
    assert "cannot be split into a command line: No closing quotation" in bad_shell
    assert problems["bad-url"] == [
        "http target 'https://example.com:99999/health' has an invalid port"
    ]
    assert "spaces, control or non-ASCII characters" in problems["spaced-url"][0]
    assert problems["marked"] == ["a worker marked it invalid: boom"]


def test_validate_survives_targets_that_hang_or_exit_while_imported(
    database_url: str, db: Connection, target_package: str
) -> None:
    add_job(db, "hangs", target=f"{target_package}.hangs:run")
    add_job(db, "exits", target=f"{target_package}.exits:run")
    result = invoke(
        database_url, "validate", "--allow-python", "*", "--import-timeout", "1", "--json"
    )
    problems = problems_by_job(result)
    assert problems == {
        "hangs": [
            f"python target '{target_package}.hangs:run': importing it did not finish"
            " within 1 s (stopped)"
        ],
        "exits": [
            f"python target '{target_package}.exits:run': importing it ended the process"
            " (exit status 7)"
        ],
    }


def test_validate_reports_targets_outside_the_allowed_prefixes_without_importing_them(
    database_url: str,
    db: Connection,
    target_package: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "imported"
    monkeypatch.setenv("TEST_IMPORT_MARKER", str(marker))
    add_job(db, "outsider", target="tests.jobtargets.marks_import:run")
    add_job(db, "insider", target=f"{target_package}.good:run", args={"limit": 1})
    result = invoke(database_url, "validate", "--allow-python", f"{target_package}.", "--json")
    assert problems_by_job(result) == {
        "outsider": [
            "python target 'tests.jobtargets.marks_import:run' is outside --allow-python"
            f" {target_package}.: a worker with these prefixes refuses it (not imported)"
        ]
    }
    assert not marker.exists()


def test_validate_prints_problems_per_job_and_exits_non_zero(
    database_url: str, db: Connection
) -> None:
    add_job(db, "bad-shell", kind="shell", target='echo "unclosed')
    add_job(db, "fine", kind="sql", target="SELECT 1")
    result = invoke(database_url, "validate")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "bad-shell",
        "  shell target 'echo \"unclosed' cannot be split into a command line:"
        " No closing quotation",
        "1 problem in 1 of 2 jobs",
    ]


def test_validate_passes_when_every_job_is_valid(
    database_url: str, db: Connection, target_package: str
) -> None:
    add_job(db, "good", target=f"{target_package}.good:run", args={"limit": 5})
    add_job(db, "chatty", target=f"{target_package}.prints:run")
    add_job(db, "url", kind="http", target="http://localhost:8080/ping")
    result = invoke(database_url, "validate", "--allow-python", target_package)
    assert result.exit_code == 0, result.output
    assert result.output == "all 3 jobs look valid\n"
    assert as_json(invoke(database_url, "validate", "--allow-python", "*", "--json")) == []


def test_validate_imports_nothing_unless_python_is_allowed(
    database_url: str, db: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    monkeypatch.setenv("TEST_IMPORT_MARKER", str(marker))
    add_job(db, "marks", target="tests.jobtargets.marks_import:run")
    result = invoke(database_url, "validate")
    assert result.exit_code == 0, result.output
    assert "python targets were not imported; pass --allow-python" in result.output
    assert not marker.exists()
    allowed = invoke(database_url, "validate", "--allow-python", "tests.jobtargets.")
    assert allowed.exit_code == 0, allowed.output
    assert marker.exists()


# -- doctor ----------------------------------------------------------------------------


def checks_of(result: Result, exit_code: int) -> dict[str, tuple[str, str]]:
    return {
        item["check"]: (item["status"], item["detail"])
        for item in as_json(result, exit_code=exit_code)
    }


def test_doctor_reports_each_check_of_a_quiet_database(database_url: str) -> None:
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=0)
    assert list(checks) == [
        "database",
        "schema",
        "clock",
        "workers",
        "running attempts",
        "jobs",
        "success rates",
        "scheduler lag",
    ]
    assert checks["database"][0] == "OK"
    assert checks["database"][1].startswith("reachable, PostgreSQL ")
    assert checks["schema"][0] == "OK"
    assert checks["clock"][0] == "OK"
    assert "database clock alone" in checks["clock"][1]
    assert checks["workers"] == ("WARN", "none alive (no enabled job needs one yet)")
    assert {checks[name][0] for name in list(checks)[4:]} == {"OK"}
    human = invoke(database_url, "doctor")
    assert human.exit_code == 0
    assert human.output.splitlines()[0].split()[:2] == ["OK", "database"]


def test_doctor_fails_when_enabled_jobs_have_no_worker_or_stopped_firing(
    database_url: str, db: Connection
) -> None:
    add_job(db, "stalled")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - interval '1 hour', "
        "updated_at = now() - interval '2 hours'"
    )
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=1)
    assert checks["workers"] == ("FAIL", "none alive: 1 enabled job cannot run")
    status, detail = checks["jobs"]
    assert status == "FAIL"
    assert detail.startswith("1 job not firing: stalled (overdue)")


def test_doctor_warns_about_dead_workers_and_runs_past_their_timeout(
    database_url: str, db: Connection
) -> None:
    add_job(db, "report", timeout_seconds=60)
    add_worker(db, "dead-worker", timedelta(minutes=5))
    add_worker(db, "live-worker", timedelta(seconds=1))
    run_id = add_run(db, "report", "running", database_now(db) - HOUR, worker_id="live-worker")
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=0)
    assert checks["workers"][0] == "WARN"
    assert "1 worker silent past the lease" in checks["workers"][1]
    assert checks["running attempts"] == (
        "WARN",
        f"1 attempt over a minute past the timeout: run {run_id} (report)",
    )


def test_doctor_checks_the_running_attempts_of_a_job_with_the_longest_timeout(
    database_url: str, db: Connection
) -> None:
    # A job author may give a job the largest timeout an int holds: adding the grace
    # to it must not fail the check.
    add_job(db, "forever", timeout_seconds=2**31 - 1)
    add_worker(db, "live-worker", timedelta(seconds=1))
    add_run(db, "forever", "running", database_now(db) - HOUR, worker_id="live-worker")
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=0)
    assert checks["running attempts"][0] == "OK", checks["running attempts"]


def test_doctor_warns_about_failing_jobs(database_url: str, db: Connection) -> None:
    add_job(db, "flaky")
    add_worker(db, "live-worker", timedelta(seconds=1))
    now = database_now(db)
    for hours, status in enumerate(["failed", "failed", "succeeded"], start=1):
        add_run(db, "flaky", status, now - hours * HOUR, finished_at=now - hours * HOUR)
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=0)
    assert checks["success rates"] == ("WARN", "1 job under 80 % over 30 days: flaky (33.33 %)")


def test_doctor_warns_when_the_clocks_disagree(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = doctor.local_time
    monkeypatch.setattr(doctor, "local_time", lambda: real() + timedelta(seconds=30))
    checks = checks_of(invoke(database_url, "doctor", "--json"), exit_code=0)
    status, detail = checks["clock"]
    assert status == "WARN"
    # The host and the database share a clock here: what remains is the 30 s added,
    # give or take the round trip's asymmetry.
    reported = float(detail.removeprefix("the database clock is ").split(" s ")[0])
    assert abs(reported - 30.0) < 0.5
    assert "behind this host's" in detail


def test_doctor_reports_a_schema_that_is_not_current(empty_database_url: str) -> None:
    result = invoke(empty_database_url, "doctor")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["OK", "database"],
        ["FAIL", "schema"],
        ["OK", "clock"],
    ]
    assert lines[1].endswith("run `pgsched migrate`")


def test_doctor_reports_an_unreachable_database_as_a_failed_check() -> None:
    result = invoke(UNREACHABLE_URL, "doctor")
    assert result.exit_code == 1
    assert result.output.startswith("FAIL  database  cannot connect to")
    assert len(result.output.strip().splitlines()) == 1
    checks = checks_of(invoke(UNREACHABLE_URL, "doctor", "--json"), exit_code=1)
    assert list(checks) == ["database"]


# -- every command ---------------------------------------------------------------------

COMMAND_LINES = [["cleanup", "--older-than-days", "30"], ["reap"], ["validate"]]


@pytest.mark.parametrize("command", COMMAND_LINES, ids=lambda command: command[0])
def test_an_unreachable_database_is_one_error_line(command: list[str]) -> None:
    result = invoke(UNREACHABLE_URL, *command)
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot connect to")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["cleanup", "reap", "validate", "doctor"])
def test_help_shows_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert f"pgsched {command}" in result.output.split("Example", 1)[1]


def test_validate_accepts_the_cron_syntax_people_paste(database_url: str, db: Connection) -> None:
    for name, schedule in [
        ("last-day", "0 0 L * ?"),
        ("first-monday", "0 9 ? * MON#1"),
        ("hashed", "H(0-29)/10 H * * *"),
        ("night", "0 22-2 * * FRI-MON"),
        ("nearest", "0 0 15W,LW * *"),
    ]:
        add_job(db, name, schedule, kind="sql", target="SELECT 1")
    assert as_json(invoke(database_url, "validate", "--json")) == []
