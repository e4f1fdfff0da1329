"""Phase ``workers-8``: the database connections of 8 workers sharing one database.

1,000 jobs fire every second: 950 no-op python jobs and 50 ``sql`` jobs that sleep
half a second, about 25 statements at a time, enough to fill most workers' SQL
pools. Every second the phase reads ``pg_stat_activity`` for the scratch database
and attributes each connection to the worker process holding its socket (the
client port the server sees is the worker's local port, found in /proc), then
counts them per worker and ``application_name``.

The bound per worker comes from the code: one connection per application name in
``WORKER_SESSIONS`` (claims, side work, heartbeat, finisher, listener) plus the SQL
executor's pool, ``WorkerOptions.sql_pool_size``. A connection under another name is
reported, as the bound would then be out of date.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from bench.harness.context import BenchContext, start_workers
from bench.harness.cpu import PROC
from bench.harness.database import (
    SUCCEEDED_IN_WINDOW,
    Connection,
    connect,
    database_now,
    register_noop_jobs,
    scalar,
)
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database
from bench.harness.workers import Workers, worker_flags
from pgsched.engine.options import WorkerOptions
from pgsched.executors.sql import APPLICATION_NAME as SQL_SESSION

PHASE = "workers-8"
WORKERS = 8
PYTHON_JOBS = 950
SQL_JOBS = 50
SQL_TARGET = "SELECT pg_sleep(0.5)"
# Eight workers share two cores: fewer slots and python processes than the loaded
# phases, still more slots than the SQL pool, so SQL jobs queue for it.
WORKER_OPTIONS = ("--concurrency", "25", "--python-processes", "2")
# One connection each: the Repository objects of pgsched/engine/worker.py and the listener.
WORKER_SESSIONS = (
    "pgsched-worker",
    "pgsched-worker-side",
    "pgsched-worker-heartbeat",
    "pgsched-worker-finish",
    "pgsched-worker-listen",
)
SQL_POOL_SIZE = WorkerOptions().sql_pool_size
PER_WORKER_BOUND = len(WORKER_SESSIONS) + SQL_POOL_SIZE

REGISTER_SQL_JOBS = """
INSERT INTO pgsched.jobs (name, schedule, kind, target)
SELECT 'bench-sql-' || n, '* * * * * *', 'sql', %(target)s FROM generate_series(1, %(count)s) AS n
"""
BACKENDS = """
SELECT application_name, client_port FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
"""
SQL_RUNS_IN_WINDOW = """
SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
  FROM pgsched.runs
 WHERE job_name LIKE 'bench-sql-%%' AND finished_at >= %(started_at)s AND finished_at < %(ended_at)s
"""


def sql_options() -> tuple[str, ...]:
    """SQL jobs are opt-in, and the scratch database's owner is often a superuser, on
    whose login SQL jobs run only when the worker is told so (older workers have
    neither flag and run them anyway)."""
    return worker_flags("--allow-sql", "--sql-allow-superuser")


def _socket_ports() -> dict[str, int]:
    """Local TCP port of every socket on this host, by socket inode."""
    ports = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            ports[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return ports


def _port_owners(pids: list[int]) -> dict[int, int]:
    """Which of ``pids`` (by index) holds the socket with each local port."""
    ports = _socket_ports()
    owners = {}
    for index, pid in enumerate(pids):
        try:
            descriptors = list((PROC / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            inode = target.removeprefix("socket:[").removesuffix("]")
            if inode != target and inode in ports:
                owners[ports[inode]] = index
    return owners


class Census:
    """The most connections seen: in all, per worker, per worker and application name."""

    def __init__(self) -> None:
        self.total = 0
        self.one_worker = 0
        self.per_session: Counter[str] = Counter()
        self.untraced = 0
        self.exited = 0

    def take(self, connection: Connection, workers: Workers) -> None:
        """Count the connections now, and the workers that have exited."""
        backends = connection.execute(BACKENDS).fetchall()
        owners = _port_owners(workers.pids)
        per_worker: Counter[int] = Counter()
        per_session: Counter[tuple[int, str]] = Counter()
        untraced = 0
        for name, port in backends:
            index = owners.get(port)
            if index is None:
                untraced += 1
                continue
            per_worker[index] += 1
            per_session[index, name] += 1
        self.total = max(self.total, len(backends))
        self.one_worker = max(self.one_worker, *per_worker.values(), 0)
        for (_, name), count in per_session.items():
            self.per_session[name] = max(self.per_session[name], count)
        self.untraced = max(self.untraced, untraced)
        self.exited = max(self.exited, sum(p.poll() is not None for p in workers.processes))


def _session_figures(census: Census) -> list[Figure]:
    bounds = {name: 1 for name in WORKER_SESSIONS} | {SQL_SESSION: SQL_POOL_SIZE}
    names = list(bounds) + sorted(set(census.per_session) - set(bounds))
    return [
        Figure(
            f"workers8_{name.replace('-', '_')}_max",
            PHASE,
            f"max {name or '(no name)'} connections of one worker",
            census.per_session[name],
            "",
            f"<= {bounds[name]}" if name in bounds else "not in the bound",
            census.per_session[name] <= bounds[name] if name in bounds else False,
        )
        for name in names
    ]


def run(context: BenchContext) -> list[Figure]:
    """Count connections while 8 workers run 1,000 jobs a second."""
    window_seconds = 10 if context.quick else 30
    census = Census()
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "workers-8") as workers,
    ):
        register_noop_jobs(connection, PYTHON_JOBS, "* * * * * *")
        connection.execute(REGISTER_SQL_JOBS, {"target": SQL_TARGET, "count": SQL_JOBS})
        start_workers(connection, workers, WORKERS, WORKER_OPTIONS + sql_options())
        workers.sleep(context.warmup_seconds)
        started_at = database_now(connection)
        for _ in range(window_seconds):
            census.take(connection, workers)
            # Not workers.sleep: a worker that exits is counted, and the others measured.
            time.sleep(1.0)
        bounds = {"started_at": started_at, "ended_at": database_now(connection)}
        seconds = (bounds["ended_at"] - started_at).total_seconds()
        succeeded = scalar(connection, SUCCEEDED_IN_WINDOW, bounds)
        sql_row = connection.execute(SQL_RUNS_IN_WINDOW, bounds).fetchone()
    assert sql_row is not None
    sql_succeeded, sql_failed = sql_row
    if sql_failed or not sql_succeeded:
        context.findings.warnings.append(
            f"workers-8: {sql_succeeded} sql runs succeeded and {sql_failed} failed in the window"
        )
    total_bound = WORKERS * PER_WORKER_BOUND
    return [
        Figure(
            "workers8_runs_per_s",
            PHASE,
            f"runs/s achieved ({PYTHON_JOBS + SQL_JOBS:,} due/s)",
            succeeded / seconds,
            "runs/s",
        ),
        Figure("workers8_sql_runs", PHASE, "sql runs succeeded in the window", sql_succeeded, ""),
        Figure(
            "workers8_connections_max",
            PHASE,
            f"max connections, {WORKERS} workers",
            census.total,
            "",
            f"<= {total_bound}",
            census.total <= total_bound,
        ),
        Figure(
            "workers8_worker_connections_max",
            PHASE,
            "max connections of one worker",
            census.one_worker,
            "",
            f"<= {PER_WORKER_BOUND} ({len(WORKER_SESSIONS)} + sql pool {SQL_POOL_SIZE})",
            census.one_worker <= PER_WORKER_BOUND,
        ),
        *_session_figures(census),
        Figure(
            "workers8_untraced_max",
            PHASE,
            "max connections not traced to a worker",
            census.untraced,
            "",
        ),
        Figure(
            "workers8_exited",
            PHASE,
            "workers exited during the window",
            census.exited,
            "",
            "0",
            below(census.exited, 1),
        ),
    ]
