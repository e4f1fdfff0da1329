"""Declaring jobs in jobs.toml or Python and applying them with `pgsched sync` / sync_jobs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from pgsched.cli import cli
from pgsched.db.connection import session
from pgsched.errors import InvalidJob
from pgsched.registration import registry
from pgsched.registration.registry import Job, SyncReport, declared_jobs, sync_jobs
from tests.commands import one_error_line

JOBS_TOML = """
[defaults]
timezone = "Europe/Berlin"

[jobs.nightly-report]
schedule = "0 3 * * *"
kind = "python"
target = "myapp.reports:nightly"
args = { recipients = ["ops@example.com"] }
max_attempts = 3

[jobs.health-check]
schedule = "@every 30s"
kind = "http"
target = "https://example.com/health"
timezone = "UTC"
timeout_seconds = 10
args.expect_status = [200, 204]
"""


def sync(database_url: str, path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["sync", str(path), *args, "--database-url", database_url])


def synced(database_url: str, path: Path, *args: str) -> dict[str, Any]:
    result = sync(database_url, path, "--json", *args)
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)  # a list of one object, as every --json
    return report


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


def jobs_table(db: psycopg.Connection) -> dict[str, dict[str, Any]]:
    cursor = db.execute("SELECT * FROM pgsched.jobs ORDER BY name")
    names = [column.name for column in cursor.description or []]
    return {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}  # type: ignore[misc]


def test_sync_creates_the_jobs_a_file_declares(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    report = synced(database_url, write(tmp_path, JOBS_TOML))
    assert report == {
        "created": ["nightly-report", "health-check"],
        "updated": {},
        "unchanged": [],
        "removed": [],
        "dry_run": False,
    }
    jobs = jobs_table(db)
    nightly, health = jobs["nightly-report"], jobs["health-check"]
    assert (nightly["timezone"], nightly["max_attempts"], nightly["enabled"]) == (
        "Europe/Berlin",
        3,
        True,
    )
    assert nightly["args"] == {"recipients": ["ops@example.com"]}
    assert (health["timezone"], health["timeout_seconds"], health["args"]) == (
        "UTC",
        10,
        {"expect_status": [200, 204]},
    )


def test_a_second_sync_of_the_same_file_writes_nothing(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, JOBS_TOML)
    synced(database_url, path)
    db.execute("UPDATE pgsched.jobs SET next_run = now() + interval '1 hour'")
    before = jobs_table(db)
    report = synced(database_url, path)
    assert report["unchanged"] == ["nightly-report", "health-check"]
    assert report["created"] == report["removed"] == []
    assert report["updated"] == {}
    assert jobs_table(db) == before


def test_sync_reports_changed_fields_and_replans_only_changed_schedules(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, JOBS_TOML)
    synced(database_url, path)
    db.execute("UPDATE pgsched.jobs SET next_run = now() + interval '1 hour'")
    before = jobs_table(db)
    changed = JOBS_TOML.replace('"0 3 * * *"', '"0 4 * * *"').replace(
        "timeout_seconds = 10", "timeout_seconds = 20"
    )
    report = synced(database_url, write(tmp_path, changed))
    assert report["updated"] == {
        "nightly-report": ["schedule"],
        "health-check": ["timeout_seconds"],
    }
    after = jobs_table(db)
    assert after["nightly-report"]["next_run"] is None  # a worker plans the new schedule
    assert after["health-check"]["next_run"] == before["health-check"]["next_run"]
    assert after["health-check"]["timeout_seconds"] == 20


def test_the_text_report_names_each_change(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, JOBS_TOML)
    first = sync(database_url, path)
    assert first.output.splitlines() == [
        "created    nightly-report",
        "created    health-check",
        "unchanged  0 job(s)",
    ]
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('by-hand', '@daily', 'sql', 'SELECT 1')"
    )
    db.execute("UPDATE pgsched.jobs SET max_attempts = 1 WHERE name = 'nightly-report'")
    second = sync(database_url, path, "--prune")
    assert second.exit_code == 0, second.output
    assert second.output.splitlines() == [
        "updated    nightly-report (max_attempts)",
        "removed    by-hand",
        "unchanged  1 job(s)",
    ]


def test_a_job_disabled_by_hand_stays_disabled_unless_the_file_says_enabled(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, JOBS_TOML)
    synced(database_url, path)
    db.execute("SELECT pgsched.toggle_job('nightly-report', false)")
    assert synced(database_url, path)["updated"] == {}
    assert jobs_table(db)["nightly-report"]["enabled"] is False
    pinned = JOBS_TOML.replace("max_attempts = 3", "max_attempts = 3\nenabled = true")
    assert synced(database_url, write(tmp_path, pinned))["updated"] == {
        "nightly-report": ["enabled"]
    }
    assert jobs_table(db)["nightly-report"]["enabled"] is True


def test_prune_removes_undeclared_jobs_only_when_asked(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('by-hand', '@daily', 'sql', 'SELECT 1')"
    )
    path = write(tmp_path, JOBS_TOML)
    assert synced(database_url, path)["removed"] == []
    assert "by-hand" in jobs_table(db)
    assert synced(database_url, path, "--prune")["removed"] == ["by-hand"]
    assert set(jobs_table(db)) == {"nightly-report", "health-check"}


def test_dry_run_reports_and_writes_nothing(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('by-hand', '@daily', 'sql', 'SELECT 1')"
    )
    before = jobs_table(db)
    report = synced(database_url, write(tmp_path, JOBS_TOML), "--prune", "--dry-run")
    assert report["created"] == ["nightly-report", "health-check"]
    assert report["removed"] == ["by-hand"]
    assert report["dry_run"] is True
    assert jobs_table(db) == before
    text = sync(database_url, write(tmp_path, JOBS_TOML), "--dry-run").output
    assert text.splitlines()[-1] == "dry run: nothing was written"


def test_what_only_the_database_refuses_is_caught_and_nothing_is_written(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    # Python checks targets as the workers would; args per kind are the database's.
    bad_args = JOBS_TOML.replace("args.expect_status = [200, 204]", "args.expect_status = [99]")
    assert bad_args != JOBS_TOML
    path = write(tmp_path, bad_args)
    for extra in ([], ["--dry-run"]):
        line = one_error_line(sync(database_url, path, *extra))
        assert line.startswith("Error: pgsched.jobs.args: expect_status must be an HTTP status")
    assert jobs_table(db) == {}


# A valid job first, so each case also shows that one bad job stops the whole file.
GOOD = "[jobs.good]\nschedule = '@daily'\nkind = 'sql'\ntarget = 'SELECT 1'\n"
X = "[jobs.x]\nschedule = '@daily'\nkind = 'sql'\ntarget = 'SELECT 1'\n"
BAD_FILES = [
    (GOOD + "[jobs.x\n", "not valid TOML"),
    ("title = 'mine'\n" + GOOD, "the file: unknown key 'title'"),
    ("[defaults]\nqueue = 'x'\n", "declares no jobs"),
    ("[jobs]\nx = 1\n", "jobs.x must be a table"),
    (GOOD + X + "timout_seconds = 5\n", "job 'x': unknown key 'timout_seconds' (known: args,"),
    (GOOD + "[jobs.x]\nschedule = '@daily'\nkind = 'sql'\n", "job 'x': missing target"),
    (
        GOOD + X + "timeout_seconds = '5'\n",
        "job 'x': timeout_seconds must be an integer, positive, not '5'",
    ),
    (
        GOOD + X.replace("@daily", "61 * * * *"),
        "job 'x': schedule '61 * * * *': minute field: 61 is out of range 0-59",
    ),
    (
        GOOD + X.replace("'sql'", "'cobol'"),
        "job 'x': kind 'cobol' is not one of python, shell, http, sql",
    ),
    (GOOD + X + "timezone = 'Moon'\n", "job 'x': unknown time zone 'Moon'"),
    (GOOD + X + "args = [1]\n", "job 'x': args must be a JSON object"),
    ("[defaults]\nschedule = '@daily'\n" + GOOD, "[defaults]: unknown key 'schedule'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_is_one_error_line_naming_file_job_and_key(
    database_url: str, db: psycopg.Connection, tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    line = one_error_line(sync(database_url, path))
    assert line.startswith(f"Error: {path}: ")
    assert message in line
    assert jobs_table(db) == {}


def test_a_missing_file_is_one_error_line(database_url: str, tmp_path: Path) -> None:
    line = one_error_line(sync(database_url, tmp_path / "nope.toml"))
    assert line.startswith(f"Error: {tmp_path / 'nope.toml'}: cannot read it")


def test_an_unreachable_database_is_one_error_line(tmp_path: Path) -> None:
    line = one_error_line(sync("postgresql://postgres@127.0.0.1:1/x", write(tmp_path, JOBS_TOML)))
    assert line.startswith("Error: cannot connect to ")


def test_concurrent_syncs_create_each_job_once(database_url: str, db: psycopg.Connection) -> None:
    jobs = [
        Job(name=f"job-{n}", schedule="@hourly", kind="sql", target="SELECT 1") for n in range(50)
    ]
    reports: list[SyncReport] = []
    errors: list[BaseException] = []

    def apply() -> None:
        try:
            with session(database_url, "test-sync") as connection:
                reports.append(sync_jobs(connection, jobs))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=apply) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(name for report in reports for name in report.created) == sorted(
        job.name for job in jobs
    )
    assert sum(len(report.unchanged) for report in reports) == 3 * len(jobs)
    assert db.execute("SELECT count(*) FROM pgsched.jobs").fetchone() == (50,)


def test_job_defaults_are_the_tables_defaults(database_url: str, db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('by-sql', '@daily', 'sql', 'SELECT 1')"
    )
    job = Job(name="by-sql", schedule="@daily", kind="sql", target="SELECT 1", enabled=True)
    assert job.changed_fields(jobs_table(db)["by-sql"]) == []


def test_a_job_lists_every_problem_it_has() -> None:
    with pytest.raises(InvalidJob) as refused:
        Job(
            name="x", schedule="@daily", kind="sql", target="SELECT 1", max_attempts=0, overlap="no"
        )
    assert str(refused.value) == (
        "job 'x': max_attempts must be an integer, positive, not 0; "
        "overlap 'no' is not one of skip, allow, queue, replace"
    )


def test_sync_jobs_refuses_two_jobs_of_one_name(database_url: str) -> None:
    job = Job(name="x", schedule="@daily", kind="sql", target="SELECT 1")
    with session(database_url, "test-sync") as connection, pytest.raises(InvalidJob):
        sync_jobs(connection, [job, job])


def nightly_report() -> None:
    """A job target for the decorator test."""


def test_decorated_functions_are_declared_and_synced(
    database_url: str, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_declared", {})
    registry.job("0 3 * * *", timezone="Europe/Berlin", max_attempts=3)(nightly_report)
    registry.job("@hourly", name="hourly-report")(nightly_report)
    assert [job.name for job in declared_jobs()] == [
        f"{__name__}.nightly_report",
        "hourly-report",
    ]
    report = sync_jobs(database_url, declared_jobs())
    assert report.created == (f"{__name__}.nightly_report", "hourly-report")
    assert report.changed
    assert not sync_jobs(database_url, declared_jobs()).changed
    row = jobs_table(db)[f"{__name__}.nightly_report"]
    assert (row["kind"], row["target"], row["timezone"], row["max_attempts"]) == (
        "python",
        f"{__name__}:nightly_report",
        "Europe/Berlin",
        3,
    )


def test_the_decorator_refuses_what_a_worker_could_not_import() -> None:
    def local() -> None:
        pass

    with pytest.raises(InvalidJob, match="top level of an importable module"):
        registry.job("@daily")(local)


def test_sync_help_shows_an_example() -> None:
    result = CliRunner().invoke(cli, ["sync", "--help"])
    assert result.exit_code == 0
    assert "Example:\n    pgsched sync jobs.toml --dry-run" in result.output
