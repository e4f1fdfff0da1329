"""Recording a batch of outcomes costs about the batch, whatever the statistics say.

Between two instants of an every-second load no run may be running, and an ANALYZE
taken then says so: the planner, asked for the runs that are still 'running' as a
filter on ``runs`` alone, expected one, scanned every run and compared each running
one with each attempt of the batch (bench/README.md, Round 10 claims and waits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from pgsched.db.queries import query
from pgsched.engine.rows import array_literal

Connection = psycopg.Connection[tuple[Any, ...]]

RUNNING = 500
HISTORY = 30_000


def _runs_running_after_an_analyze_that_saw_none(db: Connection) -> tuple[list[int], list[int]]:
    """HISTORY finished runs, ANALYZE, then RUNNING of them running again: the
    statistics say no run is running. Their ids and fences."""
    job = db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('finish-plan', '* * * * * *', 'python', 'bench.harness.targets:noop')"
        " RETURNING id"
    ).fetchone()
    assert job is not None
    start = datetime(2026, 12, 3, 12, tzinfo=UTC)
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, attempt, trigger)"
        " SELECT %(job)s, 'finish-plan', %(start)s + make_interval(secs => n), 'succeeded',"
        " %(start)s, %(start)s, 1, 'schedule' FROM generate_series(1, %(count)s) AS n",
        {"job": job[0], "start": start, "count": HISTORY},
    )
    db.execute("ANALYZE pgsched.runs")
    rows = db.execute(
        "UPDATE pgsched.runs SET status = 'running', finished_at = NULL, fence = 7"
        " WHERE id IN (SELECT id FROM pgsched.runs ORDER BY id DESC LIMIT %(count)s)"
        " RETURNING id, fence",
        {"count": RUNNING},
    ).fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def _scans_of_runs(node: dict[str, Any]) -> list[str]:
    own = [node["Node Type"]] if node.get("Relation Name") == "runs" else []
    return own + [scan for child in node.get("Plans", []) for scan in _scans_of_runs(child)]


def _join_filter_removed(node: dict[str, Any]) -> int:
    removed = int(node.get("Rows Removed by Join Filter", 0))
    return removed + sum(_join_filter_removed(child) for child in node.get("Plans", []))


@pytest.mark.parametrize("name", ["finish_succeeded_runs", "finish_runs"])
def test_a_batch_is_matched_to_its_runs_by_key_when_statistics_saw_none_running(
    db: Connection, name: str
) -> None:
    run_ids, fences = _runs_running_after_an_analyze_that_saw_none(db)
    started = datetime(2026, 12, 3, 13, tzinfo=UTC) - timedelta(seconds=1)
    parameters = {
        "run_ids": array_literal(run_ids),
        "fences": array_literal(fences),
        "statuses": array_literal(["succeeded"] * RUNNING),
        "errors": array_literal([None] * RUNNING),
        "outputs": array_literal([None] * RUNNING),
        "durations": array_literal([1.0] * RUNNING),
        "retryables": array_literal([False] * RUNNING),
        "started_ats": array_literal([started] * RUNNING, kept=False),
        "breakers": False,
    }
    with db.transaction(force_rollback=True):
        row = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query(name), parameters).fetchone()
        assert row is not None
        plan = row[0][0] if isinstance(row[0], list) else json.loads(row[0])[0]
        recorded = db.execute(
            "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"
            " AND finished_at IS NOT NULL AND id = ANY(%(ids)s)",
            {"ids": run_ids},
        ).fetchone()
    assert recorded == (RUNNING,)
    # Each attempt found by its key (or one hash of the runs): no comparison of every
    # running run with every attempt of the batch (main: 249,500 rows removed).
    assert _join_filter_removed(plan["Plan"]) < RUNNING
    # Nor a scan of every run to hash: runs are read by the batch's ids.
    assert "Seq Scan" not in _scans_of_runs(plan["Plan"])
