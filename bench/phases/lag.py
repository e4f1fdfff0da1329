"""Phase 2, scheduling lag at a steady 1,000 runs/s.

1,000 jobs fire every second (default ``overlap = 'skip'``), all on the whole second,
on two workers; with
``jobs_not_due``, that many more are registered but not due (``lag-100k``: 99,000),
to show the claim does not slow down with the number of jobs. Lag is
``started_at - scheduled_for`` of the first attempts of slots inside the window.
Once the window closes, the phase waits until every job has moved past it, so
slots claimed late are counted too.

``lag-1w`` runs one worker alone; ``lag-stalled-peer`` stops the second worker (its
process group, SIGSTOP) once warmed up and measures the other, which believes it has
a live peer for the window (shorter than the lease) and leaves it a share of each
instant until one claim latency before it (``ClaimPacer.share_taken``): the cost of
that wait when the peer takes nothing. The stalled worker's slots (those it held when
stopped) are left out, and counted.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime

from bench.harness.context import BenchContext, start_workers
from bench.harness.database import (
    SUCCEEDED_IN_WINDOW,
    Connection,
    connect,
    register_noop_jobs,
    scalar,
)
from bench.harness.meter import measure_window
from bench.harness.registered import register_jobs_not_due
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database

PHASE = "lag @1k/s"
JOBS = 1000
WORKERS = 2
# Issue 13's targets. A worker holds as many slots of one instant as its python
# processes can begin within 20 ms of it (at most 1,000), and hands them to those
# processes before the instant: with default flags 2 workers hold all 1,000.
TARGET_P50_MS = 5
TARGET_P99_MS = 20
# The stalled peer's window: with the worker's heartbeat every third of its lease
# (30 s), its row stays alive throughout, as the other worker sees it.
STALLED_WINDOW_SECONDS = 15.0
# How long slots of the window may take to be claimed once it has closed.
CATCH_UP_TIMEOUT_SECONDS = 60.0

JOBS_NOT_PAST = "SELECT count(*) FROM pgsched.jobs WHERE next_run <= %(ended_at)s"

# A skip record may stand for consecutive slots (scheduled_for..missed_until, the
# jobs here fire every second): each slot of the window it covers is counted.
LAG_OF_SLOTS = """
SELECT percentile_cont(0.50) WITHIN GROUP (ORDER BY lag_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms),
       max(lag_ms),
       count(*) FILTER (WHERE status = 'skipped'),
       count(*)
  FROM (SELECT r.status, extract(epoch FROM r.started_at - r.scheduled_for) * 1000 AS lag_ms
          FROM pgsched.runs AS r
         CROSS JOIN LATERAL generate_series(r.scheduled_for,
                                            coalesce(r.missed_until, r.scheduled_for),
                                            interval '1 second') AS s(slot)
         WHERE r.attempt = 1 AND r.trigger = 'schedule'
           AND r.scheduled_for < %(ended_at)s
           AND coalesce(r.missed_until, r.scheduled_for) >= %(started_at)s
           AND s.slot >= %(started_at)s AND s.slot < %(ended_at)s
           AND r.worker_id IS DISTINCT FROM %(left_out)s) AS slots
"""
LEFT_OUT = """
SELECT count(*) FROM pgsched.runs
 WHERE attempt = 1 AND worker_id = %(left_out)s
   AND scheduled_for >= %(started_at)s AND scheduled_for < %(ended_at)s
"""
WORKER_OF_PID = "SELECT id FROM pgsched.workers WHERE pid = %(pid)s AND stopped_at IS NULL"

# Whole seconds in [started_at, ended_at): the slots each job has in the window.
SECONDS_IN_WINDOW = """
SELECT ceil(extract(epoch FROM %(ended_at)s::timestamptz))
       - ceil(extract(epoch FROM %(started_at)s::timestamptz))
"""


def _slot_figures(
    connection: Connection, started_at: datetime, ended_at: datetime, left_out: str | None
) -> tuple[list[float | None], int, int, int]:
    bounds = {"started_at": started_at, "ended_at": ended_at, "left_out": left_out}
    row = connection.execute(LAG_OF_SLOTS, bounds).fetchone()
    assert row is not None
    *lags, skipped, recorded = row
    expected = JOBS * int(scalar(connection, SECONDS_IN_WINDOW, bounds))
    if left_out is not None:
        expected -= scalar(connection, LEFT_OUT, bounds)
    return [None if lag is None else float(lag) for lag in lags], skipped, recorded, expected


def _stall(connection: Connection, pid: int, signum: int) -> str:
    """Send ``signum`` to the worker ``pid``'s process group; returns its worker id."""
    worker_id = str(scalar(connection, WORKER_OF_PID, {"pid": pid}))
    os.killpg(pid, signum)
    return worker_id


def run(
    context: BenchContext, jobs_not_due: int = 0, workers_count: int = WORKERS, stall: bool = False
) -> list[Figure]:
    """Measure lag percentiles, achieved rate and skipped slots (with ``stall``: of the
    worker whose peer is stopped)."""
    registered = JOBS + jobs_not_due
    key = f"lag_{registered // 1000}k" if jobs_not_due else "lag"
    phase = f"{PHASE}, {registered:,} jobs" if jobs_not_due else PHASE
    if workers_count != WORKERS:
        key, phase = f"{key}_{workers_count}w", f"{phase}, {workers_count} worker(s)"
    if stall:
        key, phase = f"{key}_stalled_peer", f"{phase}, one stalled"
    left_out: str | None = None
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "lag") as workers,
    ):
        register_noop_jobs(connection, JOBS, "* * * * * *")
        register_jobs_not_due(connection, jobs_not_due)
        start_workers(connection, workers, workers_count, context.loaded_options())
        workers.sleep(context.warmup_seconds)
        if stall:
            left_out = _stall(connection, workers.pids[-1], signal.SIGSTOP)
        seconds = context.window_seconds
        window = measure_window(
            connection, workers, min(seconds, STALLED_WINDOW_SECONDS) if stall else seconds
        )
        if stall:
            _stall(connection, workers.pids[-1], signal.SIGCONT)
        bounds = {"started_at": window.started_at, "ended_at": window.ended_at}
        workers.wait_until(
            lambda: scalar(connection, JOBS_NOT_PAST, bounds) == 0,
            CATCH_UP_TIMEOUT_SECONDS,
            "every job to be claimed past the window",
        )
        succeeded = scalar(connection, SUCCEEDED_IN_WINDOW, bounds)
        (p50, p95, p99, worst), skipped, recorded, expected = _slot_figures(
            connection, window.started_at, window.ended_at, left_out
        )
    return [
        Figure(
            f"{key}_p50_ms",
            phase,
            "lag p50",
            p50,
            "ms",
            f"< {TARGET_P50_MS}",
            below(p50, TARGET_P50_MS),
        ),
        Figure(f"{key}_p95_ms", phase, "lag p95", p95, "ms"),
        Figure(
            f"{key}_p99_ms",
            phase,
            "lag p99",
            p99,
            "ms",
            f"< {TARGET_P99_MS}",
            below(p99, TARGET_P99_MS),
        ),
        Figure(f"{key}_max_ms", phase, "lag max", worst, "ms"),
        Figure(f"{key}_runs_per_s", phase, "achieved runs/s", succeeded / window.seconds, "runs/s"),
        Figure(f"{key}_skipped_slots", phase, "slots recorded skipped", skipped, ""),
        Figure(f"{key}_missing_slots", phase, "slots never recorded", expected - recorded, ""),
    ]
