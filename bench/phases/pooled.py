"""Phase ``pgbouncer``: workers through a real PgBouncer in transaction mode.

Debian's pgbouncer listens on a free port in front of the benchmark's server, with
``POOL_SIZE`` server connections per database and user. The workers reach the
database only through it and detect it (``--pool-mode auto``). Measured:

- ``run_now`` latency through it, for one worker with a direct
  ``--listen-database-url`` (woken by NOTIFY) and for one without (it polls, every
  second by default);
- 8 workers with listen URLs at 1,000 no-op python jobs a second, then again with 50
  of them sql jobs sleeping half a second (``workers-8``'s mix, which it measures
  without a pooler): the most server connections to the database (sampled every
  100 ms), against the bound ``POOL_SIZE`` + one listener per worker, and the runs/s.
  The sql jobs' statements hold pool connections while they sleep, so the workers'
  own queries queue behind them: why sql jobs deserve a pool of their own.
"""

from __future__ import annotations

import statistics
import time

from psycopg import conninfo

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import (
    SUCCEEDED_IN_WINDOW,
    Connection,
    connect,
    database_now,
    register_noop_jobs,
    scalar,
)
from bench.harness.pgbouncer import PgBouncer, ServerConnections
from bench.harness.report import Figure, at_least, below
from bench.harness.server import scratch_database
from bench.phases import connections, run_now

PHASE = "pgbouncer"
POOL_SIZE = 5
WORKERS = 8
SERVER_BOUND = POOL_SIZE + WORKERS
TOTAL_JOBS = connections.PYTHON_JOBS + connections.SQL_JOBS
# A worker without notifications looks at least once per --poll-interval (1 s).
POLL_SECONDS = 1.0
POLL_BOUND_MS = POLL_SECONDS * 1000 + 100


def run(context: BenchContext) -> list[Figure]:
    """run_now with and without a listener, then 8 workers' server connections."""
    calls = 10 if context.quick else 30
    with (
        PgBouncer(context.server_url, POOL_SIZE) as bouncer,
        scratch_database(context.server_url) as url,
        connect(url) as connection,
    ):
        pooled = bouncer.url(str(conninfo.conninfo_to_dict(url)["dbname"]))
        figures = []
        for label, options in (("listen", ("--listen-database-url", url)), ("poll", ())):
            with context.workers(pooled, f"pgbouncer-run_now-{label}") as workers:
                jitter = 0.0 if options else POLL_SECONDS
                latencies = run_now.measure(connection, workers, calls, options, jitter)
            median, worst = statistics.median(latencies), max(latencies)
            listening = "with a direct listen URL" if options else "without (polls every 1 s)"
            figures += [
                Figure(f"pgbouncer_run_now_{label}_median_ms", PHASE,
                       f"run_now median {listening}", median, "ms"),
                Figure(f"pgbouncer_run_now_{label}_max_ms", PHASE, f"run_now max {listening}",
                       worst, "ms", None if options else f"< {POLL_BOUND_MS}",
                       None if options else below(worst, POLL_BOUND_MS)),
            ]  # fmt: skip
        figures += _fleet(context, connection, url, pooled, sql_jobs=0)
        figures += _fleet(context, connection, url, pooled, sql_jobs=connections.SQL_JOBS)
    return figures


def _fleet(
    context: BenchContext, connection: Connection, url: str, pooled: str, sql_jobs: int
) -> list[Figure]:
    """8 workers through PgBouncer, listening on ``url``, at 1,000 jobs a second of
    which ``sql_jobs`` sleep in sql."""
    window_seconds = 10 if context.quick else 30
    label = f"pgbouncer8_{sql_jobs}sql"
    with context.workers(pooled, label.replace("_", "-")) as workers:
        connection.execute("DELETE FROM pgsched.jobs")
        register_noop_jobs(connection, TOTAL_JOBS - sql_jobs, "* * * * * *")
        connection.execute(
            connections.REGISTER_SQL_JOBS, {"target": connections.SQL_TARGET, "count": sql_jobs}
        )
        options = ("--listen-database-url", url, *connections.WORKER_OPTIONS)
        start_workers(connection, workers, WORKERS, options + connections.sql_options())
        workers.sleep(context.warmup_seconds)
        started_at = database_now(connection)
        with ServerConnections(url, skipped=[connection.info.backend_pid]) as census:
            time.sleep(window_seconds)
        workers.check_running()
        bounds = {"started_at": started_at, "ended_at": database_now(connection)}
        succeeded = scalar(connection, SUCCEEDED_IN_WINDOW, bounds)
    seconds = (bounds["ended_at"] - started_at).total_seconds()
    direct = WORKERS * connections.PER_WORKER_BOUND
    mix = f"{sql_jobs} sql" if sql_jobs else "no sql"
    return [
        Figure(f"{label}_runs_per_s", PHASE, f"runs/s, 8 workers, 1,000 due/s ({mix})",
               succeeded / seconds, "runs/s"),
        Figure(f"{label}_server_connections_max", PHASE,
               f"max server connections, 8 workers ({mix}; direct: up to {direct})",
               census.peak, "", f"<= {SERVER_BOUND} (pool {POOL_SIZE} + 8 listeners)",
               at_least(SERVER_BOUND, census.peak)),
    ]  # fmt: skip
