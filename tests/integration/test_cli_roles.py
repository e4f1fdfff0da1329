"""The commands work for a login holding only pgsched's roles, and refuse cleanly beyond them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import psycopg
import pytest

from tests.commands import invoke


def login_with(db: psycopg.Connection, database_url: str, role: str) -> Iterator[str]:
    """A URL for a new login that holds only ``role``; the login is dropped afterwards."""
    name = f"pgsched_test_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {name} LOGIN")
    db.execute(f"GRANT {role} TO {name}")
    yield psycopg.conninfo.make_conninfo(database_url, user=name)
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


@pytest.fixture
def admin_url(db: psycopg.Connection, database_url: str) -> Iterator[str]:
    yield from login_with(db, database_url, "pgsched_admin")


@pytest.fixture
def reader_url(db: psycopg.Connection, database_url: str) -> Iterator[str]:
    yield from login_with(db, database_url, "pgsched_reader")


def unchecked(url: str) -> list[str]:
    """The doctor checks this login could not make (none of them may fail)."""
    checks = json.loads(invoke(url, "doctor", "--json").output)
    assert all(check["status"] != "FAIL" for check in checks), checks
    return [check["check"] for check in checks if "not checked" in check["detail"]]


def test_an_admin_login_registers_changes_and_reads_jobs(admin_url: str) -> None:
    added = invoke(admin_url, "jobs", "add", "nightly", "@daily", "sql", "SELECT 1")
    assert added.exit_code == 0, added.output
    assert invoke(admin_url, "jobs", "disable", "nightly").exit_code == 0
    listed = invoke(admin_url, "jobs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(job["name"], job["enabled"]) for job in json.loads(listed.output)] == [
        ("nightly", False)
    ]
    for command in (
        ["stats", "--json"],
        ["stats", "nightly", "--json"],
        ["timeline", "nightly", "--json"],
        ["runs", "--job", "nightly", "--json"],
        ["workers", "--all", "--json"],
        ["cleanup", "--older-than-days", "30"],
    ):
        result = invoke(admin_url, *command)
        assert result.exit_code == 0, (command, result.output)
    assert unchecked(admin_url) == []


def test_a_reader_login_reads_but_cannot_change_jobs(reader_url: str, database_url: str) -> None:
    assert (
        invoke(database_url, "jobs", "add", "nightly", "@daily", "sql", "SELECT 1").exit_code == 0
    )
    for command in (
        ["stats", "--json"],
        ["stats", "nightly", "--json"],
        ["timeline", "nightly", "--json"],
        ["workers", "--json"],
    ):
        result = invoke(reader_url, *command)
        assert result.exit_code == 0, (command, result.output)
    unknown = invoke(reader_url, "stats", "nightlyy")
    assert unknown.exit_code == 1 and "no job named 'nightlyy'" in unknown.output
    # What the reader may not see is a warning, not a failure.
    assert unchecked(reader_url) == ["workers", "success rates"]
    refused = invoke(reader_url, "jobs", "disable", "nightly")
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert refused.output.startswith("Error: ") and "permission denied" in refused.output
