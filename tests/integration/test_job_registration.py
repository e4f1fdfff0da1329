"""Registering jobs with plain SQL: what the database accepts, refuses, and keeps true."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from pgsched.db.queries import query
from pgsched.registration.registry import FIELD_NAMES, Job


def insert_job(db: psycopg.Connection, **columns: object) -> int:
    row = {"name": "job", "schedule": "*/5 * * * *", "kind": "python", "target": "app.jobs:run"}
    row.update(columns)
    names = ", ".join(row)
    placeholders = ", ".join(f"%({name})s" for name in row)
    cursor = db.execute(
        f"INSERT INTO pgsched.jobs ({names}) VALUES ({placeholders}) RETURNING id", row
    )
    result = cursor.fetchone()
    assert result is not None
    return int(result[0])  # type: ignore[call-overload]


def test_spec_example_inserts_are_accepted_with_defaults(db: psycopg.Connection) -> None:
    db.execute(
        """
        INSERT INTO pgsched.jobs (name, schedule, kind, target) VALUES
          ('cleanup-expired-sessions', '0 0 * * *', 'python', 'myapp.cleanup:expired_sessions'),
          ('every-ten-seconds', '*/10 * * * * *', 'sql', 'SELECT 1'),
          ('health-check', '@every 30s', 'http', 'https://example.com/health');
        INSERT INTO pgsched.jobs (name, schedule, timezone, kind, target)
        VALUES ('berlin-report', '@daily', 'Europe/Berlin', 'shell', 'report --daily');
        """
    )
    rows = db.execute(
        """
        SELECT name, timezone, args, enabled, timeout_seconds, max_attempts, retry_delay_seconds,
               overlap, misfire, misfire_threshold_seconds, queue, priority, next_run
          FROM pgsched.jobs ORDER BY name
        """
    ).fetchall()
    assert [row[0] for row in rows] == [
        "berlin-report",
        "cleanup-expired-sessions",
        "every-ten-seconds",
        "health-check",
    ]
    assert rows[0][1] == "Europe/Berlin"
    assert rows[1][1:] == ("UTC", {}, True, 300, 1, 5, "skip", "run_once", 60, "default", 0, None)


# (column, overrides, words the message must contain)
BAD_ROWS = [
    ("kind", {"kind": "pyhton"}, "'pyhton' is not one of python, shell, http, sql"),
    ("schedule", {"schedule": "61 * * * *"}, "minute field: 61 is out of range 0-59"),
    ("schedule", {"schedule": "0 24 * * *"}, "hour field: 24 is out of range 0-23"),
    ("schedule", {"schedule": "0 0 * 13 *"}, "month field: 13 is out of range 1-12"),
    ("schedule", {"schedule": "0 0 0 * *"}, "day-of-month field: 0 is out of range 1-31"),
    ("schedule", {"schedule": "0 0 * * 8"}, "day-of-week field: 8 is out of range 0-7"),
    ("schedule", {"schedule": "* * * *"}, "expected 5 fields"),
    ("schedule", {"schedule": "*/0 * * * *"}, "step '0' must be a positive integer"),
    ("schedule", {"schedule": "0 0 32W * *"}, "day-of-month field: W needs a day 1-31, got '32W'"),
    (
        "schedule",
        {"schedule": "L * * * *"},
        "minute field: L is only allowed in day-of-month and day-of-week, got 'L'",
    ),
    ("schedule", {"schedule": "0 9 ? * MON#6"}, "day-of-week field: # needs a week 1-5"),
    ("schedule", {"schedule": "H(0-9)/11 * * * *"}, "step 11 is larger than H's range 0-9"),
    ("schedule", {"schedule": "0 0 H(29-31) 2 *"}, "never fires for some job names"),
    ("schedule", {"schedule": "@every 0s"}, "must be positive"),
    ("schedule", {"schedule": "@every 5x"}, "must be numbers with units s, m, h or d"),
    ("schedule", {"schedule": "@fortnightly"}, "unknown macro"),
    ("schedule", {"schedule": "0 0 31 2 *"}, "never fires"),
    ("schedule", {"schedule": "0 0 * * *; DROP"}, "characters other than"),
    ("timezone", {"timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
    ("timezone", {"timezone": "PST"}, "unknown time zone 'PST'"),
    ("timeout_seconds", {"timeout_seconds": 0}, "0 must be positive"),
    ("timeout_seconds", {"timeout_seconds": -5}, "-5 must be positive"),
    ("max_attempts", {"max_attempts": 0}, "0 must be positive"),
    ("retry_delay_seconds", {"retry_delay_seconds": -1}, "must be zero or more"),
    ("misfire_threshold_seconds", {"misfire_threshold_seconds": -1}, "must be zero or more"),
    ("target", {"target": "   "}, "must not be empty"),
    ("target", {"target": "app.jobs.run"}, "not of the form package.module:function"),
    ("target", {"kind": "http", "target": "ftp://example.com"}, "not an http:// or https:// URL"),
    ("target", {"target": "x" * 70000}, "longer than 65536"),
    ("args", {"args": psycopg.types.json.Jsonb([1, 2])}, "must be a JSON object, not array"),
    (
        "args",
        {"kind": "shell", "target": "ls", "args": psycopg.types.json.Jsonb({"env": "A=1"})},
        "env must be an object of strings",
    ),
    (
        "args",
        {
            "kind": "http",
            "target": "https://x.test",
            "args": psycopg.types.json.Jsonb({"expect_status": 999}),
        },
        "expect_status",
    ),
    (
        "args",
        {"kind": "sql", "target": "SELECT 1", "args": psycopg.types.json.Jsonb({"a": 1})},
        "takes no args",
    ),
    # jsonb prints 1e5000 in full: 5,001 digits, more than Python reads back.
    ("args", {"args": '{"n": [1e5000]}'}, "holds a number of 5001 characters"),
    ("overlap", {"overlap": "parallel"}, "'parallel' is not one of skip, allow, queue, replace"),
    ("misfire", {"misfire": "ignore"}, "'ignore' is not one of run_once, skip, run_all"),
    ("queue", {"queue": ""}, "must not be empty"),
    ("name", {"name": " "}, "must not be empty"),
    ("name", {"name": "two\nlines"}, "control characters"),
]


@pytest.mark.parametrize(("column", "overrides", "message"), BAD_ROWS)
def test_bad_job_row_is_refused_naming_its_column(
    db: psycopg.Connection, column: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        insert_job(db, **overrides)
    assert f"pgsched.jobs.{column}: " in str(refused.value)
    assert message in str(refused.value)
    assert refused.value.diag.column_name == column
    assert db.execute("SELECT count(*) FROM pgsched.jobs").fetchone() == (0,)


def test_update_to_bad_value_is_refused_and_row_unchanged(db: psycopg.Connection) -> None:
    job_id = insert_job(db)
    with pytest.raises(errors.CheckViolation, match=r"pgsched\.jobs\.schedule: '\* \* \*'"):
        db.execute("UPDATE pgsched.jobs SET schedule = '* * *' WHERE id = %s", [job_id])
    assert db.execute("SELECT schedule FROM pgsched.jobs").fetchone() == ("*/5 * * * *",)


def test_a_checkpoint_holding_a_number_python_cannot_read_is_refused(
    db: psycopg.Connection,
) -> None:
    job_id = insert_job(db)
    with pytest.raises(errors.CheckViolation, match="holds a number of 601 characters") as refused:
        db.execute("UPDATE pgsched.jobs SET checkpoint = '1e600' WHERE id = %s", [job_id])
    assert refused.value.diag.column_name == "checkpoint"
    db.execute("UPDATE pgsched.jobs SET checkpoint = '[1e300, -1.5]' WHERE id = %s", [job_id])


def test_job_names_are_unique(db: psycopg.Connection) -> None:
    insert_job(db, name="nightly")
    with pytest.raises(errors.UniqueViolation, match="jobs_name_key"):
        insert_job(db, name="nightly")


def test_missing_required_column_names_it(db: psycopg.Connection) -> None:
    with pytest.raises(errors.NotNullViolation, match='column "target"'):
        db.execute("INSERT INTO pgsched.jobs (name, schedule, kind) VALUES ('x', '@daily', 'sql')")


def test_names_with_odd_characters_are_accepted(db: psycopg.Connection) -> None:
    for name in ["billing: nightly (EU)", "ñandú/report", 'it\'s "quoted"', "🚀 launch"]:
        insert_job(db, name=name)
    assert db.execute("SELECT count(*) FROM pgsched.jobs").fetchone() == (4,)


def test_changing_the_schedule_resets_next_run_for_workers_to_recompute(
    db: psycopg.Connection,
) -> None:
    job_id = insert_job(db)
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() + interval '1 hour' WHERE id = %s", [job_id]
    )
    db.execute("UPDATE pgsched.jobs SET schedule = '@hourly' WHERE id = %s", [job_id])
    row = db.execute(
        "SELECT next_run, updated_at > created_at FROM pgsched.jobs WHERE id = %s", [job_id]
    ).fetchone()
    assert row == (None, True)


def test_reenabling_a_job_resets_next_run_but_next_run_updates_alone_do_not(
    db: psycopg.Connection,
) -> None:
    job_id = insert_job(db, enabled=False)
    db.execute("UPDATE pgsched.jobs SET next_run = '2030-01-01' WHERE id = %s", [job_id])
    assert db.execute("SELECT next_run IS NOT NULL FROM pgsched.jobs").fetchone() == (True,)
    db.execute("UPDATE pgsched.jobs SET enabled = true WHERE id = %s", [job_id])
    assert db.execute("SELECT next_run FROM pgsched.jobs").fetchone() == (None,)


def test_a_definition_change_clears_the_last_error(db: psycopg.Connection) -> None:
    job_id = insert_job(db)
    db.execute("UPDATE pgsched.jobs SET last_error = 'module not found' WHERE id = %s", [job_id])
    db.execute("UPDATE pgsched.jobs SET target = 'app.other:run' WHERE id = %s", [job_id])
    assert db.execute("SELECT last_error FROM pgsched.jobs").fetchone() == (None,)


def test_one_first_attempt_per_job_and_slot(db: psycopg.Connection) -> None:
    job_id = insert_job(db)
    insert_run = (
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt) "
        "VALUES (%s, 'job', '2026-01-01 00:00+00', %s)"
    )
    db.execute(insert_run, [job_id, 1])
    db.execute(insert_run, [job_id, 2])
    with pytest.raises(errors.UniqueViolation, match="runs_job_id_scheduled_for_shard_attempt_key"):
        db.execute(insert_run, [job_id, 1])


@pytest.mark.parametrize(
    ("column", "value"), [("status", "done"), ("trigger", "cron"), ("attempt", 0)]
)
def test_run_rows_are_limited_to_known_values(
    db: psycopg.Connection, column: str, value: object
) -> None:
    job_id = insert_job(db)
    with pytest.raises(errors.CheckViolation, match=f"runs_{column}_check"):
        db.execute(
            f"INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, {column}) "
            "VALUES (%s, 'job', now(), %s)",
            [job_id, value],
        )


def test_deleting_a_job_keeps_its_runs_by_name(db: psycopg.Connection) -> None:
    job_id = insert_job(db, name="gone")
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status) "
        "VALUES (%s, 'gone', now(), 'succeeded')",
        [job_id],
    )
    db.execute("DELETE FROM pgsched.jobs WHERE id = %s", [job_id])
    assert db.execute("SELECT job_id, job_name FROM pgsched.runs").fetchall() == [(None, "gone")]


def test_claim_query_uses_the_queue_due_index(db: psycopg.Connection) -> None:
    db.execute(
        """
        INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run, enabled)
        SELECT 'job-' || i, '@hourly', 'sql', 'SELECT 1',
               now() + (i || ' seconds')::interval, i % 10 <> 0
          FROM generate_series(1, 20000) AS i
        """
    )
    db.execute("ANALYZE pgsched.jobs")
    statement = psycopg.ClientCursor(db).mogrify(
        query("claim_due_jobs"),
        {"worker_id": "w1", "queues": ["default"], "limit": 100, "ahead_seconds": 0.5},
    )
    plan = "\n".join(row[0] for row in db.execute("EXPLAIN " + statement))
    assert "jobs_queue_priority_due_idx" in plan
    assert "Seq Scan" not in plan


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_claim_by_priority_reads_a_few_index_entries_of_a_large_backlog(
    db: psycopg.Connection,
) -> None:
    """20,000 jobs due at three priorities (and 20,000 not due at a higher one): the
    claim of 100 walks the priorities and reads about 100 due entries, highest
    priority first, and sorts only what it locked, never the whole backlog."""
    db.execute(
        """
        INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run, priority)
        SELECT 'job-' || i, '@hourly', 'sql', 'SELECT 1',
               now() - (i || ' seconds')::interval, (i % 3) * 5 - 5
          FROM generate_series(1, 20000) AS i
        """
    )
    db.execute(
        """
        INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run, priority)
        SELECT 'later-' || i, '@hourly', 'sql', 'SELECT 1', now() + interval '1 hour', 9
          FROM generate_series(1, 20000) AS i
        """
    )
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w1', 'h', 1, 1)")
    db.execute("ANALYZE pgsched.jobs")
    parameters = {"worker_id": "w1", "queues": ["default"], "limit": 100, "ahead_seconds": 0.5}
    statement = psycopg.ClientCursor(db).mogrify(query("claim_due_jobs"), parameters)
    with db.transaction(force_rollback=True):
        explained = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement).fetchone()
        claimed = db.execute(statement).fetchall()
    assert explained is not None
    nodes = list(_plan_nodes(explained[0][0]["Plan"]))
    index_rows = sum(
        n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if n["Node Type"].startswith("Index") and n.get("Relation Name") == "jobs"
    )
    assert index_rows <= 110
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]
    assert all(n["Actual Rows"] <= 100 for n in nodes if n["Node Type"] == "Sort")
    names = [row[1] for row in claimed]
    # Priority 5 first (i % 3 = 2), the longest due first within it.
    assert names[:3] == ["job-20000", "job-19997", "job-19994"]
    assert len(names) == 100


def test_a_job_inserted_with_sql_has_the_defaults_of_the_python_job(
    db: psycopg.Connection,
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('report', '@daily', 'sql', 'SELECT 1')"
    )
    described = Job(name="report", schedule="@daily", kind="sql", target="SELECT 1", enabled=True)
    cursor = db.cursor(row_factory=dict_row)
    row = cursor.execute(f"SELECT {', '.join(FIELD_NAMES)} FROM pgsched.jobs").fetchone()
    assert row is not None
    assert described.changed_fields(row) == []


@pytest.mark.parametrize("shards", [0, -1, 1001])
def test_shards_out_of_range_are_refused_at_insert(db: psycopg.Connection, shards: int) -> None:
    with pytest.raises(errors.CheckViolation, match="jobs_shards_check"):
        insert_job(db, shards=shards)


def test_one_first_attempt_per_slot_and_shard(db: psycopg.Connection) -> None:
    job_id = insert_job(db, shards=2)
    insert = (
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, shard)"
        " VALUES (%s, 'job', '2030-01-01T00:00:00Z', %s)"
    )
    db.execute(insert, [job_id, 0])
    db.execute(insert, [job_id, 1])
    with pytest.raises(errors.UniqueViolation, match="runs_job_id_scheduled_for_shard_attempt_key"):
        db.execute(insert, [job_id, 1])
