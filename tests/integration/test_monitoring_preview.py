"""Monitoring in SQL: preview_runs, slot for slot the worker's own schedule module."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from psycopg import errors

from pgsched.scheduling.schedule import parse_schedule
from tests.commands import add_job, database_now
from tests.monitoring import (
    Connection,
)

# -- preview_runs ---------------------------------------------------------------------------

PREVIEW_SCHEDULES = (
    "30 2 * * *",
    "30 1 * * *",
    "0 2 * * *",
    "*/15 * * * *",
    "@hourly",
    "0 */2 * * *",
    "*/7 1-3 * * *",
    "0 30 2 * * *",
    "@daily",
    "0 0 13 * 5",
    "0 9-17 * * mon-fri",
    "@every 45m",
    "0 0 29 2 *",
)
PREVIEW_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
)
# Around the 2026 transitions of Berlin (29 March, 25 October) and New York
# (8 March, 1 November), inside New York's repeated hour, and before a leap year.
PREVIEW_AFTER = (
    datetime(2026, 3, 28, 22, tzinfo=UTC),
    datetime(2026, 3, 8, 5, 59, 59, 500000, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 45, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 10, tzinfo=UTC),
    datetime(2027, 12, 31, 12, tzinfo=UTC),
)


@pytest.mark.parametrize("zone", PREVIEW_ZONES)
def test_schedule_slots_match_the_worker_schedule_module(db: Connection, zone: str) -> None:
    for expression, after in itertools.product(PREVIEW_SCHEDULES, PREVIEW_AFTER):
        expected = [
            (fire.at, fire.wall_time, fire.note.value if fire.note else None)
            for fire in parse_schedule(expression, zone).upcoming(after, 12)
        ]
        found = db.execute(
            "SELECT slot_at, wall_time, dst_note FROM pgsched.schedule_slots(%s, %s, %s, 12)",
            [expression, zone, after],
        ).fetchall()
        assert found == expected, (expression, zone, after)


def test_preview_runs_marks_slots_moved_by_dst(db: Connection) -> None:
    add_job(db, "berlin", "30 2 * * *", timezone="Europe/Berlin")
    add_job(db, "new-york", "*/30 1 * * *", timezone="America/New_York")
    spring = db.execute(
        "SELECT slot, scheduled_for, local_time, wall_time, timezone, dst_note, dst_shifted"
        " FROM pgsched.preview_runs('berlin', 3, '2026-03-27T12:00:00Z')"
    ).fetchall()
    assert spring == [
        (1, datetime(2026, 3, 28, 1, 30, tzinfo=UTC), datetime(2026, 3, 28, 2, 30),
         datetime(2026, 3, 28, 2, 30), "Europe/Berlin", None, False),
        (2, datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 3, 0),
         datetime(2026, 3, 29, 2, 30), "Europe/Berlin", "shifted_by_dst_gap", True),
        (3, datetime(2026, 3, 30, 0, 30, tzinfo=UTC), datetime(2026, 3, 30, 2, 30),
         datetime(2026, 3, 30, 2, 30), "Europe/Berlin", None, False),
    ]  # fmt: skip
    # Fixed hours in the repeated hour fire once, in the first pass.
    autumn = db.execute(
        "SELECT scheduled_for, dst_note FROM pgsched.preview_runs('new-york', 3,"
        " '2026-11-01T04:00:00Z')"
    ).fetchall()
    assert autumn == [
        (datetime(2026, 11, 1, 5, 0, tzinfo=UTC), None),
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), None),
        (datetime(2026, 11, 2, 6, 0, tzinfo=UTC), None),
    ]
    now = database_now(db)
    upcoming = db.execute("SELECT scheduled_for FROM pgsched.preview_runs('berlin')").fetchall()
    assert [row[0] for row in upcoming] == [
        fire.at for fire in parse_schedule("30 2 * * *", "Europe/Berlin").upcoming(now, 10)
    ]
    with pytest.raises(errors.NoDataFound, match="no job named 'nope'"):
        db.execute("SELECT * FROM pgsched.preview_runs('nope')")


def test_preview_runs_shows_what_h_picked_for_each_job(db: Connection) -> None:
    expression = "H/15 H(0-5) * * *"
    picked = {}
    for name in ("nightly-report", "billing-sync"):
        add_job(db, name, expression)
        rows = db.execute(
            "SELECT scheduled_for, resolved_schedule"
            " FROM pgsched.preview_runs(%s, 5, '2026-01-01T00:00:00Z')",
            [name],
        ).fetchall()
        schedule = parse_schedule(expression, "UTC", name)
        assert [row[0] for row in rows] == [
            fire.at for fire in schedule.upcoming(datetime(2026, 1, 1, tzinfo=UTC), 5)
        ]
        assert {row[1] for row in rows} == {schedule.resolved}
        picked[name] = schedule.resolved
    # One expression, two names, two different slots: the point of H.
    assert picked == {"nightly-report": "1-59/15 1 * * *", "billing-sync": "0-59/15 5 * * *"}


def test_preview_runs_shows_a_schedule_without_h_as_written(db: Connection) -> None:
    add_job(db, "last-day", "0 0 L * ?")
    add_job(db, "daily", "@daily")
    for name, written in (("last-day", "0 0 L * ?"), ("daily", "@daily")):
        rows = db.execute(
            "SELECT resolved_schedule FROM pgsched.preview_runs(%s, 2)", [name]
        ).fetchall()
        assert rows == [(written,), (written,)]
