"""Phase ``million``: a million registered jobs (quick: 100,000).

1. Bulk INSERT of the jobs with ``next_run`` NULL (and a day-old run for one job in
   ten, so that ``runs`` is planned as a real history), and one worker (default flags)
   scheduling all of them: the time from its start until none is left unscheduled.
2. That worker's CPU (with its children) while none of the jobs is due.
3. Every query a worker runs each round (claim, schedule, pending, next due time,
   recovery), explained at that size with the statements inside its functions
   (``plans.Explainer``): how many of them scan ``jobs`` or ``runs`` sequentially.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import Connection, connect, register_noop_jobs
from bench.harness.meter import CpuMeter
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database
from bench.phases.plans import Explainer
from pgsched.db.queries import query

PHASE = "million jobs"
FULL_JOBS = 1_000_000
QUICK_JOBS = 100_000
TARGET_SCHEDULE_SECONDS = 60.0
TARGET_IDLE_CPU_PCT = 1.0
SCHEDULE_TIMEOUT_SECONDS = 1800.0
WORKER = "million-worker"
SEQ_SCAN = re.compile(r"Seq Scan on (jobs|runs)\b")
# Whether a job still waits for its first next_run: the worker's own next_due_in,
# which reads each priority level's first index entries. A count(*) over every job, run
# every 50 ms, was a parallel sequential scan of a million rows that took most of the
# machine from the worker being timed.
# Looked at no more often than this (the figure is tens of seconds).
SCHEDULED_CHECK_SECONDS = 0.25
# An installation of this size has a history: a run yesterday for one job in ten. An
# empty runs table would be planned with a default size, not as production plans it.
SEED_HISTORY = """
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, trigger, claimed_at,
                          started_at, finished_at, duration_ms)
SELECT j.id, j.name, d.at, 'succeeded', 'schedule', d.at, d.at, d.at, 1
  FROM pgsched.jobs AS j, LATERAL (SELECT now() - interval '1 day' AS at) AS d
 WHERE mod(j.id, 10) = 0
"""
# The queries of a worker's rounds, with a round's parameters.
ROUND_QUERIES: dict[str, dict[str, Any]] = {
    "claim_due_jobs": {
        "worker_id": WORKER,
        "queues": ["default"],
        "limit": 10,
        "ahead_seconds": 0.5,
    },
    "claim_unscheduled_jobs": {"queues": ["default"], "limit": 1000},
    "start_pending_runs": {"worker_id": WORKER, "queues": ["default"], "limit": 10},
    "next_due_in": {"queues": ["default"]},
    "reap_lost_runs": {"worker_id": WORKER},
    "retire_orphan_runs": {},
    "runs_taken_away": {"run_ids": [1], "fences": [1]},
    "release_unstarted_runs": {"worker_id": WORKER, "held_run_ids": [], "older_than_seconds": 10},
    "heartbeat": {"worker_id": WORKER},
}


def all_scheduled(connection: Connection) -> Callable[[], bool]:
    """A ``wait_until`` condition: no enabled job of the default queue lacks a next_run."""
    looked_at = 0.0

    def done() -> bool:
        nonlocal looked_at
        now = time.monotonic()
        if now - looked_at < SCHEDULED_CHECK_SECONDS:
            return False
        looked_at = now
        row = connection.execute(query("next_due_in"), {"queues": ["default"]}).fetchone()
        return row is not None and not row[2]

    return done


def _seq_scans(url: str, context: BenchContext) -> list[str]:
    """The round queries whose plans (or nested plans) scan jobs or runs sequentially."""
    found = []
    with Explainer(url, context.findings) as explainer:
        explainer.connection.execute(
            "INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES (%s, 'h', 1, 10)",
            [WORKER],
        )
        client = psycopg.ClientCursor(explainer.connection)
        for name, parameters in ROUND_QUERIES.items():
            explained = explainer.explain(client.mogrify(query(name), parameters))
            if any(SEQ_SCAN.search(shape) for shape in explained.all_shapes):
                found.append(name)
    return found


def run(context: BenchContext) -> list[Figure]:
    """Schedule the jobs, measure the idle worker, explain the round queries."""
    jobs = QUICK_JOBS if context.quick else FULL_JOBS
    window_seconds = 10.0 if context.quick else 30.0
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "million") as workers,
    ):
        register_noop_jobs(connection, jobs, "0 0 1 1 *")
        connection.execute(SEED_HISTORY)
        connection.execute("VACUUM ANALYZE pgsched.jobs, pgsched.runs")
        start_workers(connection, workers, 1)
        started = time.monotonic()
        workers.wait_until(
            all_scheduled(connection),
            SCHEDULE_TIMEOUT_SECONDS,
            f"the worker to schedule {jobs:,} jobs",
        )
        scheduling_seconds = time.monotonic() - started
        connection.execute("VACUUM ANALYZE pgsched.jobs")
        meter = CpuMeter(connection, workers.pids)
        meter.start()
        workers.sleep(window_seconds)
        cpu = meter.stop()
        scanning = _seq_scans(url, context)
    if scanning:
        print(f"      round queries scanning jobs or runs: {', '.join(scanning)}", flush=True)
    size = f"{jobs:,} jobs"
    return [
        Figure(
            "million_schedule_seconds",
            PHASE,
            f"time to schedule {size} (bulk INSERT, next_run NULL)",
            scheduling_seconds,
            "s",
            f"< {TARGET_SCHEDULE_SECONDS:g}",
            below(scheduling_seconds, TARGET_SCHEDULE_SECONDS),
        ),
        Figure(
            "million_idle_cpu_pct",
            PHASE,
            f"idle worker CPU (+children), {size}, none due",
            cpu["workers_cpu_pct"],
            "% core",
            f"< {TARGET_IDLE_CPU_PCT:g}",
            below(cpu["workers_cpu_pct"], TARGET_IDLE_CPU_PCT),
        ),
        Figure(
            "million_round_queries_seq_scanning",
            PHASE,
            f"round queries scanning jobs or runs sequentially, {size}",
            len(scanning),
            "",
            "0",
            not scanning,
        ),
    ]
