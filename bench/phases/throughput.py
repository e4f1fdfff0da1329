"""Phase 1, throughput: no-op python jobs recorded per second, by 1 and by 2 workers.

``throughput_jobs`` jobs fire every second, more than the workers can run, so they
never wait for work. Once the workers have claimed every job once, and a warm-up
after that (``warm_up``), the window counts runs that succeeded with ``finished_at``
inside it (database clock).

The jobs keep the default ``overlap = 'skip'``: a slot that comes due while the job's
previous run is still waiting in a worker is recorded ``skipped``, as in production,
instead of piling up as pending runs (``allow``), whose growing backlog would measure
the backlog rather than the workers. Pending runs at the window's end are reported.
"""

from __future__ import annotations

from bench.harness.context import BenchContext, start_workers, warm_up
from bench.harness.database import SUCCEEDED_IN_WINDOW, connect, register_noop_jobs, scalar
from bench.harness.meter import measure_window
from bench.harness.report import Figure, at_least, cpu_ms_per_run
from bench.harness.server import scratch_database

PHASE = "throughput"
# Issue 13's target for 2 workers with default flags on a 2-core machine.
TARGET_RUNS_PER_SECOND = 10_000

PENDING_RUNS = "SELECT count(*) FROM pgsched.runs WHERE status = 'pending'"


def _measure(context: BenchContext, worker_count: int) -> list[Figure]:
    label = f"throughput-{worker_count}w"
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, label) as workers,
    ):
        register_noop_jobs(connection, context.throughput_jobs, "* * * * * *")
        start_workers(connection, workers, worker_count, context.loaded_options())
        warm_up(connection, workers, context.warmup_seconds)
        window = measure_window(connection, workers, context.window_seconds)
        backlog = scalar(connection, PENDING_RUNS)
        succeeded = scalar(
            connection,
            SUCCEEDED_IN_WINDOW,
            {"started_at": window.started_at, "ended_at": window.ended_at},
        )
    runs_per_second = succeeded / window.seconds
    plural = "s" if worker_count > 1 else ""
    suffix = f"{worker_count} worker{plural}"
    meets = at_least(runs_per_second, TARGET_RUNS_PER_SECOND) if worker_count == 2 else None
    return [
        Figure(
            f"throughput_{worker_count}w_runs_per_s",
            PHASE,
            f"no-op runs/s, {suffix}",
            runs_per_second,
            "runs/s",
            f">= {TARGET_RUNS_PER_SECOND:,}" if worker_count == 2 else None,
            meets,
        ),
        Figure(
            f"throughput_{worker_count}w_pending_backlog",
            PHASE,
            f"pending runs at window end, {suffix}",
            backlog,
            "",
        ),
        Figure(
            f"throughput_{worker_count}w_workers_cpu_pct",
            PHASE,
            f"worker CPU (+children), {suffix}",
            window.cpu["workers_cpu_pct"],
            "% core",
        ),
        Figure(
            f"throughput_{worker_count}w_postgres_database_cpu_pct",
            PHASE,
            f"postgres CPU, bench db backends, {suffix}",
            window.cpu["postgres_database_cpu_pct"],
            "% core",
        ),
        Figure(
            f"throughput_{worker_count}w_postgres_server_cpu_pct",
            PHASE,
            f"postgres CPU, whole server, {suffix}",
            window.cpu["postgres_server_cpu_pct"],
            "% core",
        ),
        Figure(
            f"throughput_{worker_count}w_cpu_ms_per_run",
            PHASE,
            f"CPU per run, workers + postgres, {suffix}",
            cpu_ms_per_run(window.cpu, runs_per_second),
            "ms/run",
        ),
    ]


def run(context: BenchContext, worker_count: int) -> list[Figure]:
    """Measure throughput with ``worker_count`` workers."""
    return _measure(context, worker_count)
