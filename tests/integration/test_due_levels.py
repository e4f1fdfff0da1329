"""The worker's round queries read jobs by priority level, through
jobs_queue_priority_due_idx alone.

The claim bounds each level by ``priority = level AND due <= bound`` (the row
comparison before it read the rest of every level); ``next_due_in`` and
``claim_unscheduled_jobs`` walk the levels rather than read jobs_queue_due_idx, which
this release keeps only for the previous release's workers and the next one drops:
so each is tried with that index and without it (dropped in a rolled-back transaction).
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from pgsched.db.queries import PARAMETER, query

Connection = psycopg.Connection[tuple[Any, ...]]

ROUND = {
    "claim_due_jobs": {"worker_id": "w", "queues": ["default"], "limit": 50, "ahead_seconds": 0.5},
    "claim_unscheduled_jobs": {"queues": ["default"], "limit": 1000},
    "next_due_in": {"queues": ["default"]},
}


def add(db: Connection, name: str, *, queue: str, priority: int, due: str | None) -> None:
    """A job of ``queue`` at ``priority``, due at the SQL expression ``due`` (None: new)."""
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, queue, priority)"
        " VALUES (%s, '* * * * *', 'sql', 'SELECT 1', %s, %s)",
        [name, queue, priority],
    )
    if due is not None:
        # Set apart from the insert: a job's definition written clears its next_run.
        db.execute(f"UPDATE pgsched.jobs SET next_run = {due} WHERE name = %s", [name])


def next_due(db: Connection, queues: list[str]) -> tuple[float | None, bool]:
    row = db.execute(query("next_due_in"), {"queues": queues}).fetchone()
    assert row is not None
    return row[0], row[2]


def test_next_due_in_is_the_earliest_job_of_any_priority_and_queue(db: Connection) -> None:
    add(db, "a-high-late", queue="a", priority=5, due="now() + interval '1 hour'")
    add(db, "a-low-soon", queue="a", priority=1, due="now() + interval '10 minutes'")
    add(db, "b-soon", queue="b", priority=0, due="now() + interval '5 minutes'")
    add(db, "a-off-now", queue="a", priority=9, due="now()")
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE name = 'a-off-now'")
    due_in, unscheduled = next_due(db, ["a"])
    assert due_in == pytest.approx(600, abs=5) and not unscheduled
    due_in, unscheduled = next_due(db, ["a", "b"])
    assert due_in == pytest.approx(300, abs=5) and not unscheduled
    assert next_due(db, ["c"]) == (None, False)
    # A new job of the lowest priority makes its queue due at once (bounded to an hour
    # back), and only its queue.
    add(db, "b-new", queue="b", priority=-3, due=None)
    due_in, unscheduled = next_due(db, ["b"])
    assert due_in == pytest.approx(-3600, abs=5) and unscheduled
    due_in, unscheduled = next_due(db, ["a"])
    assert due_in == pytest.approx(600, abs=5) and not unscheduled


def test_new_jobs_of_every_priority_and_queue_are_scheduled_up_to_the_limit(
    db: Connection,
) -> None:
    for priority in (3, 2, 1):
        add(db, f"a-new-{priority}", queue="a", priority=priority, due=None)
        add(db, f"a-old-{priority}", queue="a", priority=priority, due="now()")
    add(db, "b-new", queue="b", priority=0, due=None)
    add(db, "c-new", queue="c", priority=0, due=None)

    def unscheduled(limit: int) -> list[str]:
        rows = db.execute(query("claim_unscheduled_jobs"), {"queues": ["a", "b"], "limit": limit})
        return sorted(row[1] for row in rows)

    assert unscheduled(100) == ["a-new-1", "a-new-2", "a-new-3", "b-new"]
    assert len(unscheduled(3)) == 3


def seed_many(db: Connection) -> None:
    """150,000 jobs over three priorities: 6 due, 3 new, the rest due in a year."""
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, priority)"
        " SELECT 'job-' || n, '0 0 1 1 *', 'sql', 'SELECT 1', n % 3"
        "   FROM generate_series(1, 150000) AS n"
    )
    db.execute(
        "UPDATE pgsched.jobs SET next_run = CASE WHEN id <= 9 THEN now() - interval '1 s'"
        " ELSE now() + interval '300 days' + id * interval '1 s' END WHERE id > 3"
    )
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w', 'h', 1, 1)")
    db.execute("VACUUM ANALYZE pgsched.jobs")


def explained(db: Connection, name: str, drop_due_index: bool) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of ``name``'s generic plan, as the worker prepares it,
    in a transaction rolled back (the claim's row locks, the dropped index)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    body = PARAMETER.sub(number, query(name)).replace("%%", "%")
    client = psycopg.ClientCursor(db)
    arguments = ", ".join(client.mogrify("%s", [ROUND[name][key]]) for key in order)
    db.execute("BEGIN")
    try:
        if drop_due_index:
            db.execute("DROP INDEX pgsched.jobs_queue_due_idx")
        db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        db.execute("SET LOCAL jit = off")
        db.execute(f"PREPARE round_query AS {body}")
        # The second execution: the first may read pages a hint bit sets.
        explain = f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE round_query({arguments})"
        for _ in range(2):
            plan = "\n".join(row[0] for row in db.execute(explain))
        return plan
    finally:
        db.execute("ROLLBACK")
        db.execute("DEALLOCATE ALL")


@pytest.mark.parametrize("drop_due_index", [False, True], ids=["due index", "no due index"])
def test_round_queries_read_the_first_entries_of_each_level_only(
    db: Connection, drop_due_index: bool
) -> None:
    # The row comparison read the rest of each level: 1,201 buffers here, 7,585 at a
    # million jobs.
    seed_many(db)
    for name in ROUND:
        plan = explained(db, name, drop_due_index)
        assert "Seq Scan on jobs" not in plan, plan
        top = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
        assert top is not None, plan
        buffers = int(top.group(1)) + int(top.group(2) or 0)
        assert buffers < 150, f"{name}: {buffers} buffers\n{plan}"
