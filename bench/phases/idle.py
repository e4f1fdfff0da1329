"""Phase 4, idle CPU: one worker watching 100,000 jobs (quick: 10,000), none due for a year.

The jobs are registered without ``next_run``; the worker computes it for each.
Once none is left unscheduled, the worker's CPU (with its children) is measured
over a window in which it has nothing to do but poll and heartbeat.
"""

from __future__ import annotations

import time

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import connect, register_noop_jobs
from bench.harness.meter import CpuMeter
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database
from bench.phases.million import all_scheduled

PHASE = "idle"
TARGET_CPU_PCT = 2.0
# Scheduling 100,000 new jobs takes about 3 minutes with default options on 2 cores.
SCHEDULE_TIMEOUT_SECONDS = 600.0


def run(context: BenchContext) -> list[Figure]:
    """Measure the time to schedule the jobs, then the idle worker's CPU."""
    window_seconds = 10.0 if context.quick else 20.0
    jobs = context.idle_job_count
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "idle") as workers,
    ):
        register_noop_jobs(connection, jobs, "0 0 1 1 *")
        start_workers(connection, workers, 1)
        started = time.monotonic()
        workers.wait_until(
            all_scheduled(connection),
            SCHEDULE_TIMEOUT_SECONDS,
            f"the worker to schedule {jobs:,} jobs",
        )
        scheduling_seconds = time.monotonic() - started
        meter = CpuMeter(connection, workers.pids)
        meter.start()
        workers.sleep(window_seconds)
        cpu = meter.stop()
    worker_cpu = cpu["workers_cpu_pct"]
    return [
        Figure(
            "idle_schedule_jobs_seconds",
            PHASE,
            f"time to schedule {jobs:,} new jobs",
            scheduling_seconds,
            "s",
        ),
        Figure(
            "idle_worker_cpu_pct",
            PHASE,
            f"idle worker CPU (+children), {jobs:,} jobs",
            worker_cpu,
            "% core",
            f"< {TARGET_CPU_PCT:g}",
            below(worker_cpu, TARGET_CPU_PCT),
        ),
        Figure(
            "idle_postgres_database_cpu_pct",
            PHASE,
            "postgres CPU, bench db backends",
            cpu["postgres_database_cpu_pct"],
            "% core",
        ),
    ]
