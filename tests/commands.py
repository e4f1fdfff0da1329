"""Helpers for tests of the ``pgsched`` commands: invoke one, read its JSON, add rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import psycopg
from click.testing import CliRunner, Result

from pgsched.cli import cli

Connection = psycopg.Connection[tuple[Any, ...]]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
UNREACHABLE_URL = "postgresql://postgres@127.0.0.1:1/x"


def invoke(url: str, *args: str, input: str | None = None) -> Result:
    """``pgsched ARGS --database-url URL`` through click's runner."""
    return CliRunner().invoke(cli, [*args, "--database-url", url], input=input)


def one_error_line(result: Result) -> str:
    """The command failed with one ``Error:`` line and no traceback; that line."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def as_json(result: Result, exit_code: int = 0) -> Any:
    """The command's JSON output, once its exit status is as expected."""
    assert result.exit_code == exit_code, result.output
    return json.loads(result.output)


def add_job(db: Connection, name: str, schedule: str = "*/5 * * * *", **columns: Any) -> int:
    """Insert a python job (columns override the defaults); returns its id."""
    row = {"name": name, "schedule": schedule, "kind": "python", "target": "app.jobs:run"}
    row.update(columns)
    if "args" in row:
        row["args"] = json.dumps(row["args"])
    found = db.execute(
        f"INSERT INTO pgsched.jobs ({', '.join(row)})"  # test data only
        f" VALUES ({', '.join(f'%({column})s' for column in row)}) RETURNING id",
        row,
    ).fetchone()
    assert found is not None
    return int(found[0])


def database_now(db: Connection) -> datetime:
    """The database clock, which the rows' times are relative to."""
    found = db.execute("SELECT now()").fetchone()
    assert found is not None
    value: datetime = found[0]
    return value


def add_worker(
    db: Connection,
    worker_id: str,
    heartbeat_age: timedelta,
    stopped_at: datetime | None = None,
) -> None:
    """Insert a worker (lease 30 s) whose last heartbeat was ``heartbeat_age`` ago."""
    db.execute(
        "INSERT INTO pgsched.workers (id, host, pid, concurrency, last_heartbeat_at, stopped_at)"
        " VALUES (%s, 'host-a', 4242, 4, now() - %s, %s)",
        [worker_id, heartbeat_age, stopped_at],
    )
