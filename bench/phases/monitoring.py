"""Phase 6, monitoring at scale: the monitoring views and functions over 10 million runs.

A scratch database gets 10,000 jobs and 10 million runs (quick: 1 million) spread
over the last 90 days, the default retention of ``cleanup_runs``: 1,000 runs per
job, 90 % succeeded, 5 % failed, 1 % each timed_out, lost and cancelled, 2 % skipped,
and the newest few running or pending. They are inserted with ``generate_series``
in statements of a million rows, then vacuumed and analysed. No worker runs.

Each query is timed from the client as ``COPY (query) TO STDOUT``: the database's
whole answer, sent and received, without the time Python takes to parse it (about
4 µs a value, 40 ms for all of job_success_rates). One warm-up, then the median of
five. The five queries users rely on most (job_stats, job_timeline, job_success_rates,
running_runs, failed_runs) have a target of 100 ms.

The phase also times a worker's batch finish of 100 runs with and without the
trigger that keeps the run totals (what they cost on the hot path), and ends with
``cleanup_runs`` removing the oldest day.
"""

from __future__ import annotations

import statistics
import time

from psycopg import sql

from bench.harness.context import BenchContext
from bench.harness.database import Connection, connect, scalar
from bench.harness.history import FULL_RUNS, JOBS, QUICK_RUNS, fill_runs
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database

PHASE = "monitoring"
TARGET_MS = 100.0
REPEATS = 5
FINISH_BATCH = 100
FINISH_REPEATS = 20

REGISTER_JOBS = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, enabled)
SELECT 'job-' || n, '*/5 * * * *', 'sql', 'SELECT 1', false
  FROM generate_series(1, %(jobs)s) AS n
"""

# (key, name, statement): the first five, the most used, have a 100 ms target.
QUERIES = (
    ("job_stats", "job_stats('job-4242'), 30 days", "SELECT * FROM pgsched.job_stats('job-4242')"),
    (
        "job_timeline",
        "job_timeline('job-4242'), 24 h",
        "SELECT * FROM pgsched.job_timeline('job-4242')",
    ),
    ("job_success_rates", "job_success_rates, all jobs", "SELECT * FROM pgsched.job_success_rates"),
    ("running_runs", "running_runs", "SELECT * FROM pgsched.running_runs"),
    ("failed_runs", "failed_runs", "SELECT * FROM pgsched.failed_runs"),
    (
        "job_stats_90d",
        "job_stats('job-4242', 90)",
        "SELECT * FROM pgsched.job_stats('job-4242', 90)",
    ),
    (
        "job_timeline_30d",
        "job_timeline('job-4242', 720)",
        "SELECT * FROM pgsched.job_timeline('job-4242', 720)",
    ),
    (
        "job_health_one",
        "job_health, one job",
        "SELECT * FROM pgsched.job_health WHERE job_name = 'job-4242'",
    ),
    ("job_health_all", "job_health, all jobs", "SELECT * FROM pgsched.job_health"),
    ("scheduler_lag", "scheduler_lag(60)", "SELECT * FROM pgsched.scheduler_lag(60)"),
    ("missed_runs", "missed_runs", "SELECT * FROM pgsched.missed_runs"),
    (
        "recent_runs",
        "recent_runs, latest 50",
        "SELECT * FROM pgsched.recent_runs ORDER BY id DESC LIMIT 50",
    ),
    ("workers_alive", "workers_alive", "SELECT * FROM pgsched.workers_alive"),
    (
        "preview_runs",
        "preview_runs('job-4242', 10)",
        "SELECT * FROM pgsched.preview_runs('job-4242')",
    ),
)
TARGETED = frozenset(
    ("job_stats", "job_timeline", "job_success_rates", "running_runs", "failed_runs")
)

# A worker's batch finish (finish_runs' UPDATE), on runs set running for it.
START_BATCH = """
UPDATE pgsched.runs SET status = 'running', finished_at = NULL
 WHERE id IN (SELECT id FROM pgsched.runs WHERE status = 'succeeded'
               ORDER BY id DESC LIMIT %(batch)s)
RETURNING id
"""
FINISH_BATCH_SQL = """
UPDATE pgsched.runs
   SET status = 'succeeded', finished_at = now(), duration_ms = 5
 WHERE id = ANY(%(ids)s) AND status = 'running'
"""
DISABLE_TRIGGER = "ALTER TABLE pgsched.runs DISABLE TRIGGER runs_count_totals_update"


def _fill(connection: Connection, runs: int) -> float:
    """Register the jobs and insert ``runs`` runs; returns the seconds it took."""
    started = time.monotonic()
    connection.execute(REGISTER_JOBS, {"jobs": JOBS})
    fill_runs(connection, runs, JOBS)
    return time.monotonic() - started


def _answer(connection: Connection, statement: str) -> int:
    """Run ``statement`` and receive its whole answer as text; returns its size."""
    received = 0
    copy_statement = sql.SQL("COPY ({}) TO STDOUT").format(sql.SQL(statement))
    with connection.cursor() as cursor, cursor.copy(copy_statement) as copy:
        for chunk in copy:
            received += len(chunk)
    return received


def _median_ms(connection: Connection, statement: str, repeats: int = REPEATS) -> float:
    _answer(connection, statement)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        _answer(connection, statement)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _finish_batch_ms(connection: Connection, with_trigger: bool) -> float:
    """Median time of finishing 100 runs in one statement, each rolled back."""
    timings = []
    for _ in range(FINISH_REPEATS):
        with connection.transaction(force_rollback=True):
            if not with_trigger:
                connection.execute(DISABLE_TRIGGER)
            ids = [row[0] for row in connection.execute(START_BATCH, {"batch": FINISH_BATCH})]
            started = time.perf_counter()
            connection.execute(FINISH_BATCH_SQL, {"ids": ids})
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def run(context: BenchContext) -> list[Figure]:
    """Fill the database, then time every monitoring query."""
    runs = QUICK_RUNS if context.quick else FULL_RUNS
    figures: list[Figure] = []
    with scratch_database(context.server_url) as url, connect(url) as connection:
        fill_seconds = _fill(connection, runs)
        figures.append(
            Figure(
                "monitoring_fill_seconds",
                PHASE,
                f"insert {runs:,} runs of {JOBS:,} jobs, vacuum, analyse",
                fill_seconds,
                "s",
            )
        )
        for key, name, statement in QUERIES:
            elapsed = _median_ms(connection, statement)
            targeted = key in TARGETED
            figures.append(
                Figure(
                    f"monitoring_{key}_ms",
                    PHASE,
                    f"{name} @ {runs // 1_000_000}M runs",
                    elapsed,
                    "ms",
                    f"< {TARGET_MS:g}" if targeted else None,
                    below(elapsed, TARGET_MS) if targeted else None,
                )
            )
        for with_trigger in (True, False):
            label = "with" if with_trigger else "without"
            figures.append(
                Figure(
                    f"monitoring_finish_batch_{label}_totals_ms",
                    PHASE,
                    f"finish {FINISH_BATCH} runs, {label} the totals trigger",
                    _finish_batch_ms(connection, with_trigger),
                    "ms",
                )
            )
        removed_before = scalar(connection, "SELECT count(*) FROM pgsched.runs")
        started = time.perf_counter()
        connection.execute("SELECT pgsched.cleanup_runs(89)")
        cleanup_seconds = time.perf_counter() - started
        removed = removed_before - scalar(connection, "SELECT count(*) FROM pgsched.runs")
        figures.append(
            Figure(
                "monitoring_cleanup_seconds",
                PHASE,
                f"cleanup_runs(89): the oldest day, {removed:,} runs",
                cleanup_seconds,
                "s",
            )
        )
    return figures
