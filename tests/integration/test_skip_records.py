"""What a skip record costs the claim beside the attempt it comes with."""

from __future__ import annotations

from typing import Any

import psycopg

from pgsched.db.queries import query
from tests.commands import add_job

Connection = psycopg.Connection[tuple[Any, ...]]


def test_the_plain_insert_returns_only_the_attempts_it_starts(db: Connection) -> None:
    # Under overload each started slot comes with a skip record of its job's other due
    # slots; the worker reads only the attempts back, so only they are sent.
    job_id = add_job(db, "every-second", "* * * * * *")
    params = {
        "worker_id": "w1",
        "job_ids": [job_id, job_id],
        "job_names": ["every-second", "every-second"],
        "scheduled_fors": ["2026-12-03 20:00:00+00", "2026-12-03 20:00:01+00"],
        "statuses": ["running", "skipped"],
        "triggers": ["schedule", "schedule"],
        "queues": ["default", "default"],
        "errors": [None, "overlap=skip: the slot 2026-12-03T20:00:00Z started in the same claim"],
        "missed_untils": [None, "2026-12-03 20:00:05+00"],
        "missed_slots": [None, 5],
    }
    returned = db.execute(query("insert_planned_runs_plain"), params).fetchall()
    assert [row[4] for row in returned] == ["running"]
    recorded = db.execute(
        "SELECT status, missed_until, missed_slots FROM pgsched.runs WHERE job_id = %s"
        " ORDER BY scheduled_for",
        [job_id],
    ).fetchall()
    assert [(status, slots) for status, _, slots in recorded] == [("running", None), ("skipped", 5)]
