"""The worker's prepared claim ends up on one generic plan, and the right one.

A claim planned at every call cost 0.4 ms of planning (bench/README.md, "Round 5:
claim plan"). The claim is costed without its parameters' values, so its generic
plan is the plan its custom plans are, and worker claims ask for it
(``claim_settings``); it must read each priority level of the queue as a bounded
range of jobs_queue_priority_due_idx.
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


def claim_rounds(connection: psycopg.Connection[Any], settings: bool) -> tuple[str, int, int]:
    """Eight claims on ``connection``, prepared as the worker prepares them, with the
    worker's settings around each (pgsched.engine.claims) or without; the prepared
    statement's name and its generic and custom plan counts."""
    for _ in range(8):
        with connection.transaction():
            if settings:
                connection.execute(query("claim_settings"), prepare=True)
            claimed = connection.execute(query("claim_due_jobs"), PARAMS, prepare=True).fetchall()
            assert len(claimed) == 50
            if settings:
                connection.execute(query("claim_settings_end"), prepare=True)
                modes = connection.execute("SELECT current_setting('plan_cache_mode')").fetchone()
                assert modes == ("auto",)
    row = connection.execute(
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE '%WITH candidates AS MATERIALIZED%'"
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def assert_levels_read_as_ranges(plan: str) -> None:
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
    assert "(queue = " in ranges[0] and "(priority = l" in ranges[0], plan
    assert "(COALESCE(next_run, '-infinity'::timestamp with time zone) <= " in ranges[0], plan
    assert "ROW(" not in ranges[0], plan


def test_the_claim_is_planned_alike_with_or_without_its_parameters(
    db: Connection, database_url: str
) -> None:
    # plan_cache_mode auto, on still statistics: the generic plan, costed as the
    # custom ones, is kept after five of them (main's claim: 0 generic, 8 custom).
    seed(db)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET plan_cache_mode = auto")
        connection.execute("SET jit = off")
        name, generic, custom = claim_rounds(connection, settings=False)
        assert (generic, custom) == (3, 5)
        assert_levels_read_as_ranges(explain_execute(connection, name))


def test_worker_claims_use_one_generic_plan_then_restore_the_mode(
    db: Connection, database_url: str
) -> None:
    seed(db)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET plan_cache_mode = auto")
        connection.execute("SET jit = on")
        name, generic, custom = claim_rounds(connection, settings=True)
        assert (generic, custom) == (8, 0)
        # Nothing outlives the claim's transaction.
        assert connection.execute("SELECT current_setting('jit')").fetchone() == ("on",)
        connection.execute("SET plan_cache_mode = force_generic_plan")
        assert_levels_read_as_ranges(explain_execute(connection, name))
