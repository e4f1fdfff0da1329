"""A real worker fires the cron syntax people paste: H spreads jobs that share one
expression by their names, and an L schedule fires on the day it names; every slot
the worker ran is a slot the database's preview names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from pgsched.scheduling.schedule import parse_schedule
from tests.acceptance.conftest import Workers, add_job, scalar, wait_for

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
# Seconds first: H/5 in the second field fires every 5 seconds from a start the
# job's name picks (0 to 4).
HASHED = "H/5 * * * * *"


def first_attempts(db: Connection, job: str) -> list[Any]:
    return [
        row[0]
        for row in db.execute(
            "SELECT scheduled_for FROM pgsched.runs WHERE job_name = %s AND attempt = 1"
            " AND status = 'succeeded' ORDER BY scheduled_for",
            [job],
        ).fetchall()
    ]


def sql_slots(db: Connection, job: str, after: Any, count: int) -> list[Any]:
    return [
        row[0]
        for row in db.execute(
            "SELECT scheduled_for FROM pgsched.preview_runs(%s, %s, %s)", [job, count, after]
        ).fetchall()
    ]


def names_with_different_offsets() -> tuple[str, str]:
    """Two job names whose H/5 starts differ (found, not assumed)."""
    first = "hashed-0"
    offset = parse_schedule(HASHED, "UTC", first).cron.seconds[0]  # type: ignore[union-attr]
    for i in range(1, 100):
        name = f"hashed-{i}"
        if parse_schedule(HASHED, "UTC", name).cron.seconds[0] != offset:  # type: ignore[union-attr]
            return first, name
    raise AssertionError("no two names with different offsets")


def test_a_worker_fires_h_and_l_schedules_where_the_preview_says(
    workers: Workers, db: Connection
) -> None:
    hashed = names_with_different_offsets()
    for name in hashed:
        add_job(db, name, "tests.acceptance.jobs:noop", HASHED, timezone="Europe/Berlin")
    # An L schedule that fires every 2 seconds today (and tomorrow, should the test
    # cross midnight): L-n is today when the month has n more days.
    days_left = int(
        scalar(
            db,
            "SELECT extract(day FROM date_trunc('month', now() AT TIME ZONE 'UTC')"
            " + interval '1 month - 1 day') - extract(day FROM now() AT TIME ZONE 'UTC')",
        )
    )
    days = f"L-{days_left},L-{days_left - 1}" if days_left else "L,1"
    last_day_schedule = f"*/2 * * {days} * ?"
    add_job(db, "last-days", "tests.acceptance.jobs:noop", last_day_schedule)

    workers.start()
    jobs = (*hashed, "last-days")
    wait_for(
        lambda: all(len(first_attempts(db, job)) >= 4 for job in jobs),
        timeout=60,
        what="four runs of each job",
    )
    assert workers.stop_all() == [0], workers.logs()[-3000:]

    for job in jobs:
        ran = first_attempts(db, job)
        # Slot for slot, what the database previews from the first slot on.
        assert ran == sql_slots(db, job, ran[0] - timedelta(microseconds=1), len(ran)), job
    offsets = {job: {slot.second % 5 for slot in first_attempts(db, job)} for job in hashed}
    expected = {
        job: {parse_schedule(HASHED, "UTC", job).cron.seconds[0]}  # type: ignore[union-attr]
        for job in hashed
    }
    assert offsets == expected
    assert offsets[hashed[0]] != offsets[hashed[1]]
    resolved = scalar(db, "SELECT resolved_schedule FROM pgsched.preview_runs(%s, 1)", [hashed[0]])
    assert resolved == parse_schedule(HASHED, "UTC", hashed[0]).resolved
