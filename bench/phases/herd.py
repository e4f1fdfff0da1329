"""Phases ``herd-10k``, ``herd-50k``, ``herd-100k``: N slots on one instant, 2 workers.

N no-op python jobs share one daily slot (a 6-field cron at an instant chosen a
little ahead, inserted with that ``next_run`` so no worker spends the phase
scheduling them): every report at midnight. Two workers (the benchmark's worker
flags; by default the worker's own defaults) serve their queue; a third serves a separate queue of
every-second jobs, whose lag shows whether the herd slows anyone else down.

Measured from the instant: when the last first attempt started and finished; that
every job has exactly one first attempt for the slot; the side queue's lag p99
while the herd runs; PostgreSQL's CPU over the herd (when the server is local).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.harness.context import REGISTER_TIMEOUT_SECONDS, BenchContext, start_workers
from bench.harness.database import (
    LIVE_WORKERS,
    NOOP_TARGET,
    Connection,
    connect,
    database_now,
    herd_finished,
    scalar,
)
from bench.harness.errors import BenchError
from bench.harness.meter import CpuMeter
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database

PHASE = "herd"
WORKERS = 2
SIDE_JOBS = 50
TARGET_100K_SECONDS = 12.0
# Time to start the workers before the instant, beyond registering the jobs; the
# registration's own time is measured on a tenth of the herd (rolled back) and scaled
# with a margin, since the INSERT trigger's cost per row depends on the server.
LEAD_SECONDS = 15.0
SAMPLE_FRACTION = 10
REGISTER_MARGIN = 1.5
FINISH_TIMEOUT_SECONDS = 900.0
# Beyond the instant, how long the workers may take to reach it (the wait for the
# instant itself follows the lead, however long the registration made it).
INSTANT_SLACK_SECONDS = 60.0

INSTANT = "SELECT date_trunc('second', now()) + make_interval(secs => %(lead)s)"
# A daily slot at the instant's UTC time of day, as 6-field cron (seconds first).
REGISTER_HERD = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, next_run)
SELECT 'herd-' || n,
       format('%%s %%s %%s * * *', extract(second FROM i)::int, extract(minute FROM i)::int,
              extract(hour FROM i)::int),
       'python', %(target)s, %(instant)s
  FROM generate_series(1, %(count)s) AS n,
       LATERAL (SELECT %(instant)s::timestamptz AT TIME ZONE 'UTC' AS i) AS t
"""
REGISTER_SIDE = """
INSERT INTO pgsched.jobs (name, schedule, kind, target, queue)
SELECT 'side-' || n, '* * * * * *', 'python', %(target)s, 'side'
  FROM generate_series(1, %(count)s) AS n
"""
HERD_FINISHED = """
SELECT count(*) FROM pgsched.runs
 WHERE scheduled_for = %(instant)s AND attempt = 1 AND status = 'succeeded' AND queue = 'default'
"""
# Until the herd is over (bench.harness.database.herd_finished, index lookups), the
# count above (which reads the whole of runs) is asked only once it is over.
FINISHED_CHECK_SECONDS = 0.1
HERD_FIGURES = """
SELECT count(*), count(DISTINCT job_id),
       extract(epoch FROM max(started_at) - %(instant)s),
       extract(epoch FROM max(finished_at) - %(instant)s),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_for))
  FROM pgsched.runs
 WHERE scheduled_for = %(instant)s AND attempt = 1 AND queue = 'default'
"""
SIDE_LAG_P99_MS = """
SELECT percentile_cont(0.99) WITHIN GROUP (
           ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)
  FROM pgsched.runs
 WHERE queue = 'side' AND attempt = 1 AND trigger = 'schedule' AND started_at IS NOT NULL
   AND scheduled_for >= %(instant)s AND scheduled_for <= %(ended_at)s
"""


def _instant(connection: Connection, count: int) -> datetime:
    sample = {
        "target": NOOP_TARGET,
        "instant": datetime.now(UTC),
        "count": count // SAMPLE_FRACTION,
    }
    started = time.monotonic()
    with connection.transaction(force_rollback=True):
        connection.execute(REGISTER_HERD, sample)
    registering = (time.monotonic() - started) * SAMPLE_FRACTION * REGISTER_MARGIN
    # Whole seconds: the instant is the slot of a cron with a seconds field.
    lead = math.ceil(LEAD_SECONDS + registering)
    instant: datetime = scalar(connection, INSTANT, {"lead": lead})
    return instant


def _finished(connection: Connection, instant: datetime, count: int) -> Callable[[], bool]:
    """A ``wait_until`` condition: every first attempt of the herd succeeded. The
    count is asked only once nothing of the herd is due or unfinished."""
    looked_at = 0.0

    def done() -> bool:
        nonlocal looked_at
        now = time.monotonic()
        if now - looked_at < FINISHED_CHECK_SECONDS:
            return False
        looked_at = now
        if not herd_finished(connection, instant, "default"):
            return False
        return bool(scalar(connection, HERD_FINISHED, {"instant": instant}) >= count)

    return done


def run(context: BenchContext, count: int) -> list[Figure]:
    """Measure how long ``count`` slots on one instant take, and the side queue's lag."""
    key = f"herd_{count // 1000}k"
    phase = f"{PHASE}, {count:,} slots"
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, key) as workers,
    ):
        instant = _instant(connection, count)
        connection.execute(
            REGISTER_HERD, {"target": NOOP_TARGET, "instant": instant, "count": count}
        )
        connection.execute(REGISTER_SIDE, {"target": NOOP_TARGET, "count": SIDE_JOBS})
        connection.execute("VACUUM ANALYZE pgsched.jobs")
        start_workers(connection, workers, WORKERS, context.loaded_options())
        # One more worker, for the side queue alone.
        workers.start(1, "--queues", "side")
        workers.wait_until(
            lambda: scalar(connection, LIVE_WORKERS) >= WORKERS + 1,
            REGISTER_TIMEOUT_SECONDS,
            "the side queue's worker to register",
        )
        ahead = (instant - database_now(connection)).total_seconds()
        if ahead <= 1.0:
            raise BenchError(f"{key}: the instant passed before the workers were ready")
        meter = CpuMeter(connection, workers.pids)
        workers.wait_until(
            lambda: database_now(connection) >= instant,
            ahead + INSTANT_SLACK_SECONDS,
            "the herd's instant",
        )
        meter.start()
        workers.wait_until(
            _finished(connection, instant, count),
            FINISH_TIMEOUT_SECONDS,
            f"{count:,} herd runs to succeed",
        )
        cpu = meter.stop()
        ended_at = database_now(connection)
        # The side queue's slots up to the herd's end need their outcomes written.
        workers.sleep(2.0)
        row = connection.execute(HERD_FIGURES, {"instant": instant}).fetchone()
        side_p99 = scalar(connection, SIDE_LAG_P99_MS, {"instant": instant, "ended_at": ended_at})
    assert row is not None
    recorded, distinct, last_started, last_finished, p99 = row
    target = TARGET_100K_SECONDS if count >= 100_000 else None
    return [
        Figure(
            f"{key}_last_started_s",
            phase,
            "instant to the last first attempt's start",
            float(last_started),
            "s",
            f"< {target:g}" if target else None,
            below(float(last_started), target) if target else None,
        ),
        Figure(f"{key}_last_finished_s", phase, "instant to the last finish", last_finished, "s"),
        Figure(f"{key}_lag_p99_s", phase, "herd start lag p99", p99, "s"),
        Figure(
            f"{key}_duplicates",
            phase,
            "first attempts recorded more than once or missing",
            abs(recorded - count) + (recorded - distinct),
            "",
            "0",
            recorded == distinct == count,
        ),
        Figure(f"{key}_runs_per_s", phase, "runs/s over the herd", count / last_finished, "runs/s"),
        Figure(
            f"{key}_side_lag_p99_ms", phase, "side queue lag p99 during the herd", side_p99, "ms"
        ),
        Figure(
            f"{key}_postgres_cpu_s",
            phase,
            "postgres CPU over the herd, whole server",
            None
            if cpu["postgres_server_cpu_pct"] is None
            else cpu["postgres_server_cpu_pct"] * float(last_finished) / 100,
            "s",
        ),
    ]
