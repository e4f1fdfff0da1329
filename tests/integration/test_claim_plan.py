"""The worker's prepared claim ends up on one generic plan, and the right one.

A claim planned at every call cost 0.4 ms of planning (bench/README.md, "Round 5:
claim plan"). PostgreSQL (plan_cache_mode auto) keeps a prepared statement's generic
plan after five custom ones only if it is costed no higher than they were; and that
generic plan must still read each priority level of the queue as a bounded range of
jobs_queue_priority_due_idx.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from pgsched.db.queries import query

Connection = psycopg.Connection[tuple[Any, ...]]

PARAMS = {"worker_id": "w", "queues": ["default"], "limit": 50, "ahead_seconds": 0.5}
LITERALS = {"worker_id": "'w'", "queues": "'{default}'", "limit": "50", "ahead_seconds": "0.5"}


def seed(db: Connection) -> None:
    """3,000 jobs due, over three priorities, and as many more due in an hour."""
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run, priority)"
        " SELECT 'job-' || n, '* * * * * *', 'sql', 'SELECT 1',"
        "        now() + CASE WHEN n % 2 = 0 THEN interval '-1 s' ELSE interval '1 h' END,"
        "        n % 3"
        "   FROM generate_series(1, 6000) AS n"
    )
    db.execute("INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('w', 'h', 1, 1)")
    db.execute("VACUUM ANALYZE pgsched.jobs")


def explain_execute(connection: psycopg.Connection[Any], name: str) -> str:
    """EXPLAIN of prepared statement ``name`` with a round's parameters, rolled back;
    sent below psycopg, which would forget its prepared statements on a rollback."""
    order: list[str] = []
    for match in re.finditer(r"%\((\w+)\)s", query("claim_due_jobs")):
        if match.group(1) not in order:
            order.append(match.group(1))
    arguments = ", ".join(LITERALS[parameter] for parameter in order)
    pgconn = connection.pgconn
    pgconn.exec_(b"BEGIN")
    try:
        result = pgconn.exec_(f"EXPLAIN (COSTS OFF) EXECUTE {name}({arguments})".encode())
        assert result.ntuples, result.error_message.decode()
        return "\n".join(result.get_value(row, 0).decode() for row in range(result.ntuples))
    finally:
        pgconn.exec_(b"ROLLBACK")


def test_the_prepared_claim_keeps_a_generic_plan_on_the_priority_index(
    db: Connection, database_url: str
) -> None:
    seed(db)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET plan_cache_mode = auto")
        # As the worker sends it (pgsched.engine.claims): prepared, after its settings.
        for _ in range(8):
            with connection.transaction():
                connection.execute(query("claim_settings"), prepare=True)
                claimed = connection.execute(
                    query("claim_due_jobs"), PARAMS, prepare=True
                ).fetchall()
            assert len(claimed) == 50
        name, generic, custom = connection.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%WITH candidates AS MATERIALIZED%'"
        ).fetchone() or (None, 0, 0)
        assert name is not None
        assert (generic, custom) == (3, 5)
        plan = explain_execute(connection, name)
    assert "Seq Scan on jobs" not in plan, plan
    assert "jobs_queue_due_idx" not in plan, plan
    # Each level's due jobs: a range of the priority index, not a filter.
    lines = plan.splitlines()
    ranges = [
        lines[at + 1]
        for at, line in enumerate(lines)
        if "Index Scan using jobs_queue_priority_due_idx on jobs" in line
    ]
    assert len(ranges) == 1, plan
    assert "(queue = " in ranges[0] and "ROW(priority, COALESCE(next_run" in ranges[0], plan
