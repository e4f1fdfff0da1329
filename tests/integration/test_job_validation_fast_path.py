"""Bulk job INSERTs: the row checks' fast path refuses what the checks refuse, and the
audit trail records each inserted or deleted job once, with who did it."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors
from psycopg.types.json import Jsonb

from pgsched.db.resources import sql_dir
from pgsched.executors.python_target import PYTHON_TARGET

TRIGGERS_FILE = sql_dir() / "functions" / "jobs_before_write.v3.sql"
AUDITED = {
    "name", "schedule", "timezone", "kind", "target", "args", "enabled", "timeout_seconds",
    "max_attempts", "retry_delay_seconds", "overlap", "misfire", "misfire_threshold_seconds",
    "queue", "priority", "category", "description", "warn_after_seconds", "breaker_failures",
    "breaker_cooldown_seconds", "shards",
}  # fmt: skip


def scalar(db: psycopg.Connection, statement: str, params: object = None) -> object:
    row = db.execute(statement, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def inserted(db: psycopg.Connection, schedule: str) -> bool:
    """Whether a job on ``schedule`` is accepted (the attempt is rolled back)."""
    try:
        with db.transaction(force_rollback=True):
            db.execute(
                "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
                " VALUES ('probe', %s, 'python', 'app.jobs:run')",
                [schedule],
            )
    except errors.CheckViolation:
        return False
    return True


def test_the_fast_path_holds_the_python_executors_target_pattern() -> None:
    patterns = [
        pattern
        for pattern in (
            line.split("NEW.target ~ '", 1)[1].rsplit("'", 1)[0]
            for line in TRIGGERS_FILE.read_text().splitlines()
            if "WHEN 'python' THEN NEW.target ~ '" in line
        )
    ]
    assert patterns == [PYTHON_TARGET.pattern]


FIELDS = [
    "*", "0", "00", "5", "07", "9", "12", "13", "23", "24", "29", "30", "31", "32", "59", "60",
    "7", "8", "*/0", "*/1", "*/05", "*/7", "*/8", "*/11", "*/12", "*/23", "*/24", "*/30",
    "*/31", "*/59", "*/60", "?", "1-5", "L", "H", "MON", "*/", "-1",
]  # fmt: skip
SPACES = st.sampled_from([" ", "  ", "\t", " \t"])
cron = st.builds(
    lambda fields, spaces, lead, tail: (
        lead + "".join(f + s for f, s in zip(fields, spaces, strict=False))[:-1] + tail
    ),
    st.lists(st.sampled_from(FIELDS), min_size=4, max_size=7),
    st.lists(SPACES, min_size=7, max_size=7),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["", " ", "\t", "\n"]),
)
macros = st.sampled_from(
    ["@hourly", "@daily", "@Daily", " @weekly ", "@monthly", "@yearly", "@annually",
     "@midnight", "@every 5m", "@every 0s", "@fortnightly", "@hourly x", "@"]
)  # fmt: skip


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedule=st.one_of(cron, macros))
def test_a_schedule_is_accepted_exactly_when_schedule_error_finds_nothing(
    db: psycopg.Connection, schedule: str
) -> None:
    valid = scalar(db, "SELECT pgsched.schedule_error(%s) IS NULL", [schedule])
    assert inserted(db, schedule) == valid, schedule


def test_each_field_value_in_each_position_is_judged_as_schedule_error_judges_it(
    db: psycopg.Connection,
) -> None:
    for width in (5, 6):
        for position in range(width):
            for value in FIELDS:
                fields = ["*"] * width
                fields[position] = value
                schedule = " ".join(fields)
                valid = scalar(db, "SELECT pgsched.schedule_error(%s) IS NULL", [schedule])
                assert inserted(db, schedule) == valid, schedule


@pytest.mark.parametrize(
    "schedule",
    ["0 0 31 * *", "0 0 30 2 *", "0 0 31 4 *", "*/60 * * * *", "0 0 1 1 */12", "1-5 * * * *"],
)
def test_schedules_beyond_the_fast_path_get_the_full_checks(
    db: psycopg.Connection, schedule: str
) -> None:
    valid = scalar(db, "SELECT pgsched.schedule_error(%s) IS NULL", [schedule])
    assert inserted(db, schedule) == valid


def test_plain_rows_skip_the_row_checks_and_others_get_them(db: psycopg.Connection) -> None:
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL track_functions = 'all'")
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
            " SELECT 'plain-' || n, '*/5 * * * *', 'python', 'app.jobs:run'"
            "   FROM generate_series(1, 50) AS n"
        )
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, timezone, kind, target, args)"
            " SELECT 'other-' || n, '0 9 * * MON-FRI', 'Europe/Berlin', 'python',"
            "        'app.jobs:run', '{\"n\": 1}'"
            "   FROM generate_series(1, 3) AS n"
        )
        calls = scalar(
            db,
            "SELECT calls FROM pg_stat_xact_user_functions"
            " WHERE schemaname = 'pgsched' AND funcname = 'jobs_before_write'",
        )
    assert calls == 3


def test_python_keyword_arguments_pass_when_small_and_are_refused_when_too_deep(
    db: psycopg.Connection,
) -> None:
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL track_functions = 'all'")
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target, args)"
            " SELECT 'kwargs-' || n, '@daily', 'python', 'app.jobs:run',"
            "        jsonb_build_object('user_id', n, 'tags', jsonb_build_array('a', 'b'))"
            "   FROM generate_series(1, 20) AS n"
        )
        calls = scalar(
            db,
            "SELECT count(*) FROM pg_stat_xact_user_functions"
            " WHERE schemaname = 'pgsched' AND funcname = 'jobs_before_write'",
        )
    assert calls == 0
    deep: object = 1
    for _ in range(33):
        deep = [deep]
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target, args)"
            " VALUES ('deep', '@daily', 'python', 'app.jobs:run', %s)",
            [Jsonb({"a": deep})],
        )
    assert "pgsched.jobs.args: nests deeper than 32 levels" in str(refused.value)


def test_a_bulk_insert_records_each_job_once_with_its_definition_and_actor(
    db: psycopg.Connection,
) -> None:
    with db.transaction():
        db.execute("SET LOCAL pgsched.actor = 'loader'")
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target, args, category)"
            " SELECT 'bulk-' || n, '0 0 1 1 *', 'python', 'app.jobs:run',"
            "        jsonb_build_object('n', n), 'reports'"
            "   FROM generate_series(1, 20) AS n"
        )
    rows = db.execute(
        "SELECT c.job_id, c.job_name, c.changed_by, c.actor, c.old_values, c.new_values, j.id"
        "  FROM pgsched.job_changes AS c JOIN pgsched.jobs AS j ON j.name = c.job_name"
        " WHERE c.change = 'insert' ORDER BY c.id"
    ).fetchall()
    assert [row[1] for row in rows] == [f"bulk-{n}" for n in range(1, 21)]
    assert all(row[0] == row[6] for row in rows)
    assert {(row[2], row[3], row[4]) for row in rows} == {("postgres", "loader", None)}
    definition = rows[4][5]
    assert set(definition) == AUDITED
    assert (definition["name"], definition["args"], definition["category"]) == (
        "bulk-5",
        {"n": 5},
        "reports",
    )
    assert definition["shards"] == 1 and definition["breaker_failures"] is None


def test_a_bulk_delete_records_each_job_once_with_what_it_was(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " SELECT 'gone-' || n, '@daily', 'shell', 'true' FROM generate_series(1, 5) AS n"
    )
    db.execute("DELETE FROM pgsched.jobs WHERE name LIKE 'gone-%'")
    rows = db.execute(
        "SELECT job_name, old_values, new_values FROM pgsched.job_changes"
        " WHERE change = 'delete' ORDER BY id"
    ).fetchall()
    assert [row[0] for row in rows] == [f"gone-{n}" for n in range(1, 6)]
    assert all(set(row[1]) == AUDITED and row[1]["kind"] == "shell" for row in rows)
    assert {row[2] for row in rows} == {None}


def test_an_upsert_records_an_insert_for_new_jobs_and_an_update_for_changed_ones(
    db: psycopg.Connection,
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('kept', '@daily', 'shell', 'true')"
    )
    db.execute(
        "INSERT INTO pgsched.jobs AS j (name, schedule, kind, target)"
        " VALUES ('kept', '@hourly', 'shell', 'true'), ('new', '@hourly', 'shell', 'true')"
        " ON CONFLICT (name) DO UPDATE SET schedule = EXCLUDED.schedule"
    )
    changes = db.execute(
        "SELECT job_name, change, old_values, new_values->>'schedule' FROM pgsched.job_changes"
        " ORDER BY id"
    ).fetchall()
    assert changes == [
        ("kept", "insert", None, "@daily"),
        ("kept", "update", {"schedule": "@daily"}, "@hourly"),
        ("new", "insert", None, "@hourly"),
    ]


@pytest.mark.parametrize(
    ("breaker_failures", "cooldown", "column"),
    [(0, 300, "breaker_failures"), (3, 0, "breaker_cooldown_seconds")],
)
def test_a_bad_breaker_setting_is_still_refused_by_name(
    db: psycopg.Connection, breaker_failures: int, cooldown: int, column: str
) -> None:
    with pytest.raises(errors.CheckViolation) as refused:
        db.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target, breaker_failures,"
            " breaker_cooldown_seconds) VALUES ('b', '@daily', 'shell', 'true', %s, %s)",
            [breaker_failures, cooldown],
        )
    assert refused.value.diag.column_name == column
    assert f"pgsched.jobs.{column}: " in str(refused.value)


def test_small_json_values_are_let_through_and_large_ones_still_walked(
    db: psycopg.Connection,
) -> None:
    def problem(value: object) -> object:
        return scalar(db, "SELECT pgsched.json_value_error(%s, 32, 65536)", [Jsonb(value)])

    deep: object = 1
    for _ in range(33):
        deep = [deep]
    assert problem({"a": [1, {"b": "{[{["}]}) is None
    assert problem(deep) == "nests deeper than 32 levels"
    assert problem({"s": "[" * 40, "n": 1}) is None
    assert "holds a number of 600 characters" in str(problem({"n": int("9" * 600)}))
