"""``--read-database-url``: read-only commands read where they are told; writes do not.

Two databases stand in for a primary and its replica: each holds a job of its own,
so every answer shows which one it came from. The replica's lag itself is exercised
on a real streaming standby in tests/acceptance/test_failover.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from pgsched.cli import cli
from tests.commands import UNREACHABLE_URL, add_job, as_json, invoke
from tests.conftest import scratch_database

Connection = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def replica_url(server_url: str, template_database: str) -> Iterator[str]:
    with scratch_database(server_url, template=template_database) as url:
        with psycopg.connect(url, autocommit=True) as replica:
            job_id = add_job(replica, "seen-on-the-replica")
            replica.execute(
                "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, trigger,"
                " started_at, finished_at, duration_ms)"
                " VALUES (%s, 'seen-on-the-replica', now(), 'succeeded', 'manual',"
                "         now(), now(), 1)",
                [job_id],
            )
            replica.execute(
                "INSERT INTO pgsched.workers (id, host, pid, concurrency)"
                " VALUES ('seen-on-the-replica-worker', 'h', 1, 1)"
            )
        yield url


@pytest.fixture
def primary(db: Connection) -> Connection:
    add_job(db, "seen-on-the-primary")
    return db


def job_names(result: Any) -> list[str]:
    return [job["name"] for job in as_json(result)]


@pytest.mark.parametrize(
    ("command", "replica_only"),
    [
        (["jobs", "list"], "seen-on-the-replica"),
        (["runs"], "seen-on-the-replica"),
        (["stats"], "seen-on-the-replica"),
        (["workers"], "seen-on-the-replica-worker"),
        (["jobs", "show", "seen-on-the-replica"], "seen-on-the-replica"),
        # The job is unknown on the primary; its one run is on the replica.
        (["timeline", "seen-on-the-replica"], '"executions": 1'),
    ],
)
def test_read_commands_read_from_the_read_url(
    primary: Connection, database_url: str, replica_url: str, command: list[str], replica_only: str
) -> None:
    result = invoke(database_url, *command, "--json", "--read-database-url", replica_url)
    assert result.exit_code == 0, result.output
    assert replica_only in result.output
    assert "seen-on-the-primary" not in result.output


def test_the_read_url_comes_from_the_environment_and_writes_stay_on_the_primary(
    primary: Connection, database_url: str, replica_url: str
) -> None:
    environment = {"PGSCHED_READ_DATABASE_URL": replica_url}
    runner = CliRunner(env=environment)
    listed = runner.invoke(cli, ["jobs", "list", "--json", "--database-url", database_url])
    assert job_names(listed) == ["seen-on-the-replica"]
    added = runner.invoke(
        cli,
        ["jobs", "add", "written", "@hourly", "sql", "SELECT 1", "--database-url", database_url],
    )
    assert added.exit_code == 0, added.output
    names = [row[0] for row in primary.execute("SELECT name FROM pgsched.jobs ORDER BY name")]
    assert names == ["seen-on-the-primary", "written"]


def test_without_a_read_url_reads_go_to_the_database(
    primary: Connection, database_url: str
) -> None:
    assert job_names(invoke(database_url, "jobs", "list", "--json")) == ["seen-on-the-primary"]


def test_on_a_primary_the_lag_is_zero_and_shown(primary: Connection) -> None:
    primary.execute(
        "INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w', 'h', 1, 1)"
    )
    row = primary.execute(
        "SELECT pgsched.replica_lag(), (SELECT replica_lag_seconds FROM pgsched.workers_alive),"
        "       (SELECT count(*) FROM pgsched.missed_runs WHERE replica_lag_seconds <> 0)"
    ).fetchone()
    assert row is not None
    assert (row[0].total_seconds(), row[1], row[2]) == (0.0, 0.0, 0)


def test_doctor_checks_the_read_url(
    primary: Connection, database_url: str, replica_url: str
) -> None:
    def replica_check(read_url: str) -> dict[str, str]:
        checks = as_json(
            invoke(database_url, "doctor", "--json", "--read-database-url", read_url), 1
        )
        return next(check for check in checks if check["check"] == "replica")

    assert replica_check(replica_url)["detail"] == "the read URL is a primary: reads are current"
    unreachable = replica_check(UNREACHABLE_URL)
    assert unreachable["status"] == "FAIL" and unreachable["detail"].startswith("read URL:")
