"""Monitoring in SQL at scale: 300,000 runs, and every path reads runs through an index."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import scratch_database
from tests.monitoring import (
    COUNTED,
    SECOND,
    Connection,
    one,
    register_worker,
)

# -- plans at scale -------------------------------------------------------------------------

PLAN_JOBS = 2_000
PLAN_RUNS = 300_000

FILL_RUNS = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, attempt, status, trigger, queue,
                          worker_id, started_at, finished_at, duration_ms, error)
SELECT j.id, j.name, s.slot, 1, s.status, 'schedule', 'default',
       CASE WHEN s.status = 'running' THEN 'w1' END,
       CASE WHEN s.status NOT IN ('pending', 'skipped') THEN s.slot + interval '20 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running')
            THEN s.slot + interval '20 ms' + (n %% 1000) * interval '1 ms' END,
       CASE WHEN s.status NOT IN ('pending', 'running', 'skipped') THEN n %% 1000 END,
       CASE WHEN s.status IN ('failed', 'timed_out', 'lost') THEN 'boom ' || n END
  FROM generate_series(1, %(runs)s) AS n
  JOIN pgsched.jobs AS j ON j.id = (SELECT min(id) FROM pgsched.jobs) + n %% %(jobs)s
 CROSS JOIN LATERAL (
        SELECT now() - interval '90 days'
                     + (n / %(jobs)s) * (interval '90 days' / (%(runs)s / %(jobs)s)) AS slot,
               CASE WHEN n > %(runs)s - 20 THEN 'running'
                    WHEN n > %(runs)s - 40 THEN 'pending'
                    WHEN n %% 100 < 90 THEN 'succeeded'
                    WHEN n %% 100 < 95 THEN 'failed'
                    WHEN n %% 100 < 96 THEN 'timed_out'
                    WHEN n %% 100 < 97 THEN 'lost'
                    WHEN n %% 100 < 99 THEN 'skipped'
                    ELSE 'cancelled' END AS status) AS s
"""


@pytest.fixture(scope="module")
def large_db(server_url: str, template_database: str) -> Iterator[Connection]:
    """300,000 runs of 2,000 jobs over 90 days, analysed: enough for realistic plans."""
    with (
        scratch_database(server_url, template=template_database) as url,
        psycopg.connect(url, autocommit=True) as connection,
    ):
        connection.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
            " SELECT 'job-' || n, '*/5 * * * *', 'sql', 'SELECT 1'"
            "   FROM generate_series(1, %s) AS n",
            [PLAN_JOBS],
        )
        connection.execute(FILL_RUNS, {"runs": PLAN_RUNS, "jobs": PLAN_JOBS})
        register_worker(connection, "w1", silent_for=SECOND)
        connection.execute("VACUUM ANALYZE pgsched.runs")
        connection.execute("ANALYZE pgsched.jobs")
        connection.execute("ANALYZE pgsched.daily_run_totals")
        yield connection


RUNS_SCANS = (
    "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relid = 'pgsched.runs'::regclass"
)


def runs_scans(db: Connection, statement: str) -> tuple[int, int]:
    """(sequential, index) scans of pgsched.runs that ``statement`` made, in full.

    The counters of this backend accumulate until they are flushed, which never
    happens inside a transaction: the difference across the statement is its own.
    """
    with db.transaction():
        before = one(db, RUNS_SCANS)
        db.execute(statement).fetchall()
        after = one(db, RUNS_SCANS)
    return after[0] - before[0], after[1] - before[1]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pgsched.job_stats('job-7')",
        "SELECT * FROM pgsched.job_stats('job-7', 90)",
        "SELECT * FROM pgsched.job_timeline('job-7')",
        "SELECT * FROM pgsched.job_timeline('job-7', 24 * 30)",
        "SELECT * FROM pgsched.running_runs",
        "SELECT * FROM pgsched.failed_runs",
        "SELECT * FROM pgsched.scheduler_lag(60)",
        "SELECT * FROM pgsched.job_health WHERE job_name = 'job-7'",
        "SELECT * FROM pgsched.missed_runs",
        "SELECT * FROM pgsched.workers_alive",
        "SELECT * FROM pgsched.recent_runs ORDER BY id DESC LIMIT 20",
        "SELECT pgsched.cleanup_runs(365)",
    ],
)
def test_monitoring_paths_use_indexes_not_a_scan_of_runs(
    large_db: Connection, statement: str
) -> None:
    sequential, indexed = runs_scans(large_db, statement)
    assert sequential == 0
    assert indexed > 0


def test_job_success_rates_does_not_read_runs_at_all(large_db: Connection) -> None:
    assert runs_scans(large_db, "SELECT * FROM pgsched.job_success_rates") == (0, 0)
    rows = one(large_db, "SELECT count(*), sum(total_runs) FROM pgsched.job_success_rates")
    expected = one(
        large_db,
        f"SELECT count(DISTINCT job_name), count(*) FROM pgsched.runs WHERE status IN {COUNTED}"
        " AND scheduled_for >= (now() AT TIME ZONE 'UTC')::date - 29",
    )
    assert rows == expected


DAILY_SCANS = (
    "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables"
    " WHERE relid = 'pgsched.daily_run_totals'::regclass"
)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pgsched.job_success_rates",
        "SELECT * FROM pgsched.job_success_rates WHERE job_name = 'job-7'",
        "SELECT * FROM pgsched.job_health WHERE job_name = 'job-7'",
    ],
)
def test_success_rates_read_todays_daily_totals_by_key_not_every_day(
    large_db: Connection, statement: str
) -> None:
    # 90 days of daily totals: the view adds the days from next_day on (today's).
    with large_db.transaction():
        before = one(large_db, DAILY_SCANS)
        large_db.execute(statement).fetchall()
        after = one(large_db, DAILY_SCANS)
    assert after[0] - before[0] == 0
    assert after[1] - before[1] > 0


def executed_plan(db: Connection, statement: str) -> list[str]:
    """The lines of ``statement``'s plan, as run, whose nodes returned rows."""
    plan = [row[0] for row in db.execute(f"EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) {statement}")]
    return [line for line in plan if "rows=" in line and " rows=0 " not in line]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM pgsched.job_success_rates",
        "SELECT * FROM pgsched.job_success_rates WHERE job_name = 'job-7'",
    ],
)
def test_success_rates_join_the_days_totals_without_grouping_them(
    large_db: Connection, statement: str
) -> None:
    # Once the day's roll has run, each job's figures are its recent row and its row of
    # next_day, joined (v2 grouped both sets of rows: twice the cost of reading them).
    assert one(
        large_db,
        "SELECT first_day = (now() AT TIME ZONE 'UTC')::date - 29,"
        " next_day >= (SELECT max(day) FROM pgsched.daily_run_totals)"
        " FROM pgsched.recent_run_totals_starts",
    ) == (True, True)
    executed = executed_plan(large_db, statement)
    assert any("Full Join" in line for line in executed), executed
    assert not any("Aggregate" in line for line in executed), executed


@pytest.mark.parametrize("view", ["failed_runs", "running_runs", "workers_alive"])
def test_view_plans_read_runs_through_an_index(large_db: Connection, view: str) -> None:
    plan = "\n".join(
        row[0] for row in large_db.execute(f"EXPLAIN SELECT * FROM pgsched.{view}")
    )  # test data only
    assert "Seq Scan on runs" not in plan
    assert "Index" in plan


def test_the_claim_path_indexes_are_unchanged(large_db: Connection) -> None:
    indexes = large_db.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'pgsched' AND tablename = 'runs'"
        " ORDER BY 1"
    ).fetchall()
    assert [row[0] for row in indexes] == [
        "runs_available_at_idx",
        "runs_job_id_active_idx",
        "runs_job_id_scheduled_for_shard_attempt_key",
        "runs_pkey",
        "runs_status_finished_at_idx",
        "runs_worker_id_running_idx",
    ]
