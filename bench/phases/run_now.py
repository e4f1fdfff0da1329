"""Phase 3, run_now latency: from ``pgsched.run_now`` to the attempt's start.

One idle worker, one job that is not due for a year. Each call inserts a pending
run with ``scheduled_for = clock_timestamp()`` and NOTIFYs; the worker wakes and
claims it. Latency is ``started_at - scheduled_for`` (both database clock; the start
is recorded with the outcome), so the benchmark's own polling does not enter it. One
unmeasured call comes first.
"""

from __future__ import annotations

import random
import statistics
import time

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import NOOP_TARGET, Connection, connect, scalar
from bench.harness.errors import BenchError
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database
from bench.harness.workers import Workers

PHASE = "run_now"
JOB_NAME = "x"
CONCURRENCY = 10
SPACING_SECONDS = 0.2
TARGET_MEDIAN_MS = 100
START_TIMEOUT_SECONDS = 10.0

REGISTER_IDLE_JOB = """
INSERT INTO pgsched.jobs (name, schedule, kind, target)
VALUES (%(name)s, '0 0 1 1 *', 'python', %(target)s)
ON CONFLICT (name) DO NOTHING
"""
JOB_SCHEDULED = "SELECT next_run IS NOT NULL FROM pgsched.jobs WHERE name = %(name)s"
RUN_NOW = "SELECT pgsched.run_now(%(name)s)"
RUN_LATENCY = """
SELECT status, extract(epoch FROM started_at - scheduled_for) * 1000
  FROM pgsched.runs WHERE id = %(run_id)s
"""


def _latency_ms(connection: Connection, workers: Workers) -> float:
    run_id = scalar(connection, RUN_NOW, {"name": JOB_NAME})

    def started() -> tuple[str, float] | None:
        # The start is recorded with the outcome: wait for it, or for an end without one.
        row = connection.execute(RUN_LATENCY, {"run_id": run_id}).fetchone()
        if row is None or row[0] == "pending" or (row[0] == "running" and row[1] is None):
            return None
        return row

    status, latency = workers.wait_until(started, START_TIMEOUT_SECONDS, f"run {run_id} to start")
    if latency is None:
        raise BenchError(f"run {run_id} left pending as {status!r} without starting")
    return float(latency)


def measure(
    connection: Connection,
    workers: Workers,
    calls: int,
    options: tuple[str, ...] = (),
    jitter_seconds: float = 0.0,
) -> list[float]:
    """Start one worker (with ``options``) on an idle job; ``calls`` latencies, in ms.

    ``jitter_seconds`` spreads the calls at random over that much more time, so that
    they land anywhere between two polls of a worker that polls.
    """
    connection.execute(REGISTER_IDLE_JOB, {"name": JOB_NAME, "target": NOOP_TARGET})
    start_workers(connection, workers, 1, ("--concurrency", str(CONCURRENCY), *options))
    workers.wait_until(
        lambda: scalar(connection, JOB_SCHEDULED, {"name": JOB_NAME}),
        START_TIMEOUT_SECONDS,
        "the worker to schedule the job",
    )
    _latency_ms(connection, workers)  # warm-up: the first python child starts here
    latencies = []
    for _ in range(calls):
        time.sleep(SPACING_SECONDS + random.uniform(0, jitter_seconds))
        latencies.append(_latency_ms(connection, workers))
    return latencies


def run(context: BenchContext) -> list[Figure]:
    """Measure the median and worst run_now latency."""
    calls = 10 if context.quick else 30
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "run_now") as workers,
    ):
        latencies = measure(connection, workers, calls)
    median = statistics.median(latencies)
    return [
        Figure(
            "run_now_median_ms",
            PHASE,
            f"latency median ({calls} calls)",
            median,
            "ms",
            f"< {TARGET_MEDIAN_MS}",
            below(median, TARGET_MEDIAN_MS),
        ),
        Figure("run_now_max_ms", PHASE, "latency max", max(latencies), "ms"),
    ]
