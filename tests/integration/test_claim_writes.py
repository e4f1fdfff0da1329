"""What a claim's insert of planned runs sends back: the runs it started, and no more.

Under a backlog an every-second job is claimed with two slots due: one runs, the other
is recorded skipped. Both rows are written; only the started run comes back to the
worker (it made attempts of no other, and read each skipped row only to drop it).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg

from pgsched.db.queries import query
from pgsched.engine.planner import PlannedRun, SharedPlans
from pgsched.engine.repository import Repository, WorkerIdentity
from pgsched.engine.rows import planned_runs_params
from pgsched.models import RunStatus, Trigger
from tests.commands import add_job, database_now

WORKER = "claim-writes"


def test_the_insert_returns_the_started_runs_and_writes_the_skipped_too(
    db: psycopg.Connection,
) -> None:
    job_id = add_job(db, "backlogged", "* * * * * *")
    now = database_now(db)
    job = {"id": job_id, "name": "backlogged", "queue": "default", "shards": 1}
    runs = [
        PlannedRun(now - timedelta(seconds=1), Trigger.SCHEDULE, RunStatus.RUNNING),
        PlannedRun(now, Trigger.SCHEDULE, RunStatus.SKIPPED, error="overlap=skip"),
    ]
    params = planned_runs_params(WORKER, [(job, run) for run in runs])
    returned = db.execute(query("insert_planned_runs_plain"), params).fetchall()
    assert [row[4] for row in returned] == ["running"]
    written = db.execute(
        "SELECT status FROM pgsched.runs WHERE job_id = %s ORDER BY scheduled_for", (job_id,)
    ).fetchall()
    assert written == [("running",), ("skipped",)]


def test_a_backlogged_claim_starts_one_run_and_records_the_skip(
    database_url: str, db: psycopg.Connection
) -> None:
    job_id = add_job(db, "late", "* * * * * *")
    db.execute(
        "UPDATE pgsched.jobs SET next_run = date_trunc('second', now()) - interval '1 second'"
        " WHERE id = %s",
        (job_id,),
    )

    async def claim() -> Any:
        repository = Repository(database_url, WORKER)
        try:
            identity = WorkerIdentity(WORKER, "test", 0, ("default",), 10, 30)
            await repository.register_worker(identity)
            return await repository.claim_due_jobs(WORKER, ("default",), 10, SharedPlans())
        finally:
            await repository.close()

    result = asyncio.run(claim())
    assert [attempt.job_id for attempt in result.attempts] == [job_id]
    statuses = db.execute(
        "SELECT status FROM pgsched.runs WHERE job_id = %s ORDER BY scheduled_for", (job_id,)
    ).fetchall()
    # Two slots due (three, should the second turn meanwhile): one runs, the rest skip.
    assert statuses[0] == ("running",)
    assert set(statuses[1:]) == {("skipped",)}
