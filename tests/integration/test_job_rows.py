"""The worker's job rows as named tuples: each class reads its query's columns by name,
and a query whose columns differ from its class fails rather than read one as another."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from pgsched.db.json_values import read_json_safely
from pgsched.db.queries import query
from pgsched.engine.job_rows import ClaimedJob, JobRow, UnscheduledJob, named_rows
from pgsched.engine.repository import Repository, WorkerIdentity
from tests.commands import add_job

Connection = psycopg.Connection[tuple[Any, ...]]


def _jobs(db: Connection, database_url: str) -> int:
    """A due job with args, a checkpoint and a breaker, and a job not yet scheduled; a
    worker to claim them. Returns the due job's id."""
    due = add_job(db, "due", "* * * * * *", args={"n": 1}, breaker_failures=3, warn_after_seconds=5)
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - interval '1 second',"
        " checkpoint = '{\"at\": 2}' WHERE id = %s",
        [due],
    )
    add_job(db, "new", "* * * * * *")

    async def register() -> None:
        repository = Repository(database_url, "test")
        try:
            await repository.register_worker(WorkerIdentity("w1", "h", 1, ("default",), 10, 30))
        finally:
            await repository.close()

    asyncio.run(register())
    return due


@pytest.mark.parametrize(
    ("name", "kind", "params"),
    [
        (
            "claim_due_jobs",
            ClaimedJob,
            {"worker_id": "w1", "queues": ["default"], "limit": 10, "ahead_seconds": 0.0},
        ),
        ("load_jobs", JobRow, {"job_ids": None}),
        ("claim_unscheduled_jobs", UnscheduledJob, {"queues": ["default"], "limit": 10}),
    ],
)
def test_each_row_class_reads_its_query_column_by_column(
    db: Connection,
    database_url: str,
    name: str,
    kind: type[ClaimedJob | JobRow | UnscheduledJob],
    params: dict[str, Any],
) -> None:
    due = _jobs(db, database_url)
    if "job_ids" in params:
        params = {"job_ids": [due]}
    with psycopg.connect(database_url) as connection:
        read_json_safely(connection)
        # One transaction: the same now(), and the rows it locked are its own again.
        with connection.transaction(force_rollback=True):
            as_dicts = connection.cursor(row_factory=dict_row).execute(query(name), params)
            expected = as_dicts.fetchall()
            named = connection.cursor(row_factory=named_rows(kind))  # type: ignore[arg-type]
            rows = named.execute(query(name), params).fetchall()
    assert rows
    assert all(type(row) is kind for row in rows)
    assert [row._asdict() for row in rows] == expected


def test_a_query_whose_columns_differ_from_its_class_fails(
    db: Connection, database_url: str
) -> None:
    due = _jobs(db, database_url)
    # load_jobs' columns with two of them swapped: read as JobRow, the name would be
    # taken for the schedule.
    swapped = query("load_jobs").replace("id, name, schedule", "id, schedule, name", 1)
    assert swapped != query("load_jobs")
    with psycopg.connect(database_url) as connection:
        cursor = connection.cursor(row_factory=named_rows(JobRow))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="JobRow expects columns"):
            cursor.execute(swapped, {"job_ids": [due]}).fetchall()
