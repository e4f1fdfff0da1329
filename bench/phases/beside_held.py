"""Phase ``beside-held``: work due now while the workers hold a large instant's slots.

2,000 no-op jobs fire every other second (``*/2``) on two workers with the loaded
flags: each worker claims its share of the next even second ahead and holds it (in
the worker, then queued in its python processes from 50 ms before the instant), and
for up to 25 ms after the instant its claim loop leaves the cores to the processes
(``python_held.Quiet``). Meanwhile ``pgsched.run_now`` calls on a job of the same
queue land at ``OFFSETS`` from a big instant (from 300 ms before to 100 ms after):
each one's ``started_at - scheduled_for`` is its start lag (``run_now`` phase: 7 ms on
an idle worker). Reported: median, p99 and max over all calls, and the median and max
of those made in the last 100 ms before an instant to 30 ms after it, where held
slots are in the processes' queues or the claim loop is quiet.
"""

from __future__ import annotations

import statistics
import time

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import NOOP_TARGET, Connection, connect, register_noop_jobs, scalar
from bench.harness.errors import BenchError
from bench.harness.report import Figure
from bench.harness.server import scratch_database
from bench.harness.workers import Workers

PHASE = "beside held slots"
WORKERS = 2
HELD_JOBS = 2000
CYCLE_SECONDS = 2
# Where calls land, in seconds from the nearest big instant (one call a cycle, in
# turn): the late part of the fire-ahead window, the hand-over, the quiet window.
OFFSETS = (-0.3, -0.2, -0.1, -0.06, -0.04, -0.02, -0.01, 0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
ROUNDS = 2
QUICK_ROUNDS = 1
# Calls made this close before an instant, or this long after it.
NEAR_BEFORE_SECONDS = 0.1
NEAR_AFTER_SECONDS = 0.03
START_TIMEOUT_SECONDS = 10.0
JOB_NAME = "due-now"

REGISTER_IDLE_JOB = """
INSERT INTO pgsched.jobs (name, schedule, kind, target)
VALUES (%(name)s, '0 0 1 1 *', 'python', %(target)s)
"""
RUN_NOW = "SELECT pgsched.run_now(%(name)s)"
# The call's position from its nearest even second, and its start lag.
RUN_LAG = """
SELECT status, extract(epoch FROM started_at - scheduled_for) * 1000,
       extract(epoch FROM scheduled_for)
  FROM pgsched.runs WHERE id = %(run_id)s
"""


def _call_at(offset: float) -> None:
    """Sleep until ``offset`` seconds from the next big instant at least a second away."""
    now = time.time()
    instant = (int(now) // CYCLE_SECONDS + 1) * CYCLE_SECONDS
    if instant + offset - now < 1.0:
        instant += CYCLE_SECONDS
    time.sleep(instant + offset - now)


def _lag(connection: Connection, workers: Workers) -> tuple[float, float]:
    """A ``run_now`` now: its start lag (ms) and its offset from the nearest instant (s)."""
    run_id = scalar(connection, RUN_NOW, {"name": JOB_NAME})

    def started() -> tuple[str, float | None, float] | None:
        row = connection.execute(RUN_LAG, {"run_id": run_id}).fetchone()
        if row is None or row[0] == "pending" or (row[0] == "running" and row[1] is None):
            return None
        return row

    status, lag, at = workers.wait_until(started, START_TIMEOUT_SECONDS, f"run {run_id}")
    if lag is None:
        raise BenchError(f"run {run_id} ended as {status!r} without starting")
    offset = float(at) % CYCLE_SECONDS
    return float(lag), offset - CYCLE_SECONDS if offset > CYCLE_SECONDS / 2 else offset


def run(context: BenchContext) -> list[Figure]:
    """Measure the start lag of manual runs made around a held instant."""
    rounds = QUICK_ROUNDS if context.quick else ROUNDS
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "beside-held") as workers,
    ):
        connection.execute(REGISTER_IDLE_JOB, {"name": JOB_NAME, "target": NOOP_TARGET})
        register_noop_jobs(connection, HELD_JOBS, f"*/{CYCLE_SECONDS} * * * * *")
        start_workers(connection, workers, WORKERS, context.loaded_options())
        workers.sleep(context.warmup_seconds)
        _lag(connection, workers)  # the first of a job: its plan, a process's import
        calls = []
        for _ in range(rounds):
            for offset in OFFSETS:
                _call_at(offset)
                calls.append(_lag(connection, workers))
    lags = sorted(lag for lag, _ in calls)
    near = [lag for lag, at in calls if -NEAR_BEFORE_SECONDS <= at <= NEAR_AFTER_SECONDS]
    return [
        Figure(
            "beside_held_median_ms",
            PHASE,
            f"run_now to start, median ({len(lags)})",
            statistics.median(lags),
            "ms",
        ),
        Figure(
            "beside_held_p99_ms",
            PHASE,
            "run_now to start, p99",
            lags[min(len(lags) - 1, int(0.99 * len(lags)))],
            "ms",
        ),
        Figure("beside_held_max_ms", PHASE, "run_now to start, max", lags[-1], "ms"),
        Figure(
            "beside_held_near_median_ms",
            PHASE,
            f"made 100 ms before to 30 ms after an instant, median ({len(near)})",
            statistics.median(near) if near else None,
            "ms",
        ),
        Figure(
            "beside_held_near_max_ms", PHASE, "the same, max", max(near) if near else None, "ms"
        ),
    ]
