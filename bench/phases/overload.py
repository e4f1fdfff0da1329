"""Phase ``overload``: five times more every-second jobs than two workers can run.

``5 x throughput_jobs`` no-op jobs fire every second (default ``overlap = 'skip'``)
on two workers with the throughput phase's flags. Measured over a window that opens,
as the throughput phase's, once every job was claimed once and 5 s after: runs
succeeded per second (compared with ``throughput-2w``, the same workers at 1x, as
``overload_to_1x_ratio``), how many skip records were written for how many skipped
slots (consecutive skips of a job are one record), and how long claimed attempts
waited to begin (``started_at - claimed_at``): overload must wait in the database,
not as claimed attempts that have not started. The workers' and the server's CPU per
succeeded run, against the 1x's (``overload_cpu_ratio``), says what the overload costs
each run whatever the machine's speed did between the two windows.
"""

from __future__ import annotations

from bench.harness.context import BenchContext, start_workers, warm_up
from bench.harness.database import SUCCEEDED_IN_WINDOW, connect, register_noop_jobs, scalar
from bench.harness.meter import measure_window
from bench.harness.report import Figure, cpu_ms_per_run
from bench.harness.server import scratch_database

PHASE = "overload 5x"
FACTOR = 5
WORKERS = 2

SKIPS_IN_WINDOW = """
SELECT count(*), coalesce(sum(coalesce(missed_slots, 1)), 0)
  FROM pgsched.runs
 WHERE status = 'skipped' AND finished_at >= %(started_at)s AND finished_at < %(ended_at)s
"""
WAIT_TO_BEGIN_P99_MS = """
SELECT percentile_cont(0.99) WITHIN GROUP (
           ORDER BY extract(epoch FROM started_at - claimed_at) * 1000)
  FROM pgsched.runs
 WHERE status = 'succeeded' AND finished_at >= %(started_at)s AND finished_at < %(ended_at)s
"""


def run(context: BenchContext) -> list[Figure]:
    """Measure succeeded runs/s, skip records and waits under 5x overload."""
    jobs = FACTOR * context.throughput_jobs
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "overload") as workers,
    ):
        register_noop_jobs(connection, jobs, "* * * * * *")
        start_workers(connection, workers, WORKERS, context.loaded_options())
        warm_up(connection, workers, context.warmup_seconds)
        window = measure_window(connection, workers, context.window_seconds)
        bounds = {"started_at": window.started_at, "ended_at": window.ended_at}
        succeeded = scalar(connection, SUCCEEDED_IN_WINDOW, bounds)
        row = connection.execute(SKIPS_IN_WINDOW, bounds).fetchone()
        waited = scalar(connection, WAIT_TO_BEGIN_P99_MS, bounds)
    assert row is not None
    records, slots = row
    runs_per_second = succeeded / window.seconds
    return [
        Figure(
            "overload_runs_per_s",
            PHASE,
            f"succeeded runs/s, {jobs:,} jobs every second",
            runs_per_second,
            "runs/s",
        ),
        Figure("overload_skip_records", PHASE, "skip records written", records, ""),
        Figure("overload_skipped_slots", PHASE, "slots those records cover", slots, ""),
        Figure("overload_wait_p99_ms", PHASE, "claimed to begun, p99", waited, "ms"),
        Figure(
            "overload_workers_cpu_pct",
            PHASE,
            "worker CPU (+children)",
            window.cpu["workers_cpu_pct"],
            "% core",
        ),
        Figure(
            "overload_postgres_server_cpu_pct",
            PHASE,
            "postgres CPU, whole server",
            window.cpu["postgres_server_cpu_pct"],
            "% core",
        ),
        Figure(
            "overload_cpu_ms_per_run",
            PHASE,
            "CPU per run, workers + postgres",
            cpu_ms_per_run(window.cpu, runs_per_second),
            "ms/run",
        ),
    ]
