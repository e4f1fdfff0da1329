"""A worker process: make it private, wait for its database, run the worker, exit cleanly.

The entry point of ``pgsched worker``; ``pgsched.engine.worker`` holds the engine itself.
Before the engine starts, one session checks the schema and whether a connection
pooler answers the database URL (``pgsched.db.pooling``), which decides ``--pool-mode
auto`` and so how the worker connects (``pgsched.engine.connections``).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time

import structlog

from pgsched.db import migrations
from pgsched.db.connection import session
from pgsched.db.pooling import PoolMode, answered_by_pooler, resolved, server_pid_query
from pgsched.engine.backoff import Backoff
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.hardening import keep_environment_private
from pgsched.engine.options import WorkerOptions
from pgsched.engine.worker import STOP_SIGNALS, Worker
from pgsched.errors import DatabaseUnavailable
from pgsched.executors.kinds import job_limits

APPLICATION_NAME = "pgsched-worker-start"
# A busy worker makes a few dozen objects per run that live until the run is recorded,
# tens of milliseconds: the collector's youngest generation, scanned every 700
# allocations by default, found the same runs in flight alive again and again, and
# each full collection walked every module's objects (together ~10 % of a busy
# worker's CPU). What exists once the worker is built is frozen out of collections,
# and the youngest generation is scanned a tenth as often.
GC_YOUNGEST_THRESHOLD = 7_000

log = structlog.get_logger("pgsched.engine.worker")


def run_worker(database_url: str, options: WorkerOptions) -> None:
    """Run a worker in this process until it is told to stop.

    While the database cannot be reached it waits and retries, as the worker's loops
    do; a schema that is not current is refused at once.
    """
    keep_environment_private()
    job_limits(options)  # a configuration it cannot honour is refused before any wait
    pooler_answered = _wait_for_current_schema(database_url)
    plan = ConnectionPlan.for_worker(
        database_url, options, _pool_mode(options.pool_mode, pooler_answered)
    )
    plan.log_start()
    worker = Worker(database_url, options, plan)
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])
    # Until the worker's event loop takes the signals over, a stop request is kept
    # for it: a signal in between must not kill the process (exit by signal, with
    # nothing recorded) but stop it cleanly.
    requested: list[int] = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda received, frame: requested.append(received))
    try:
        asyncio.run(worker.run(stop_requested=lambda: bool(requested)))
    finally:
        # The signal handlers go with the event loop. All is recorded by now: a late
        # signal (delivered twice, a supervisor's follow-up) must not turn a clean
        # exit into death by signal.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def _pool_mode(chosen: PoolMode, pooler_answered: bool) -> PoolMode:
    """``--pool-mode`` with ``auto`` decided, and what was detected said once."""
    mode = resolved(chosen, pooler_answered)
    if chosen is PoolMode.AUTO and pooler_answered:
        log.info(
            "pooler_detected",
            pool_mode=mode.value,
            hint="a connection pooler answers the database URL, so the worker assumes "
            "transaction pooling: no prepared statements, no session state, no LISTEN "
            "through it. --pool-mode session if it pools sessions; "
            "--listen-database-url for notifications",
        )
    elif chosen is PoolMode.DIRECT and pooler_answered:
        log.warning(
            "pooler_answers_direct_url",
            hint="--pool-mode direct, but a connection pooler answers the database URL: "
            "under transaction pooling say --pool-mode transaction",
        )
    return mode


def _wait_for_current_schema(url: str) -> bool:
    """Return once the schema is current, with whether a connection pooler answered
    the URL; a stop signal meanwhile exits cleanly."""

    def stop_waiting(signum: int, frame: object) -> None:
        log.info("worker_stopped", reason="stopped while waiting for the database")
        raise SystemExit(0)

    previous = {signum: signal.signal(signum, stop_waiting) for signum in STOP_SIGNALS}
    backoff = Backoff()
    try:
        while True:
            try:
                with session(url, APPLICATION_NAME) as connection:
                    migrations.require_current_on(connection)
                    row = connection.execute(server_pid_query()).fetchone()
                    assert row is not None
                    return answered_by_pooler(connection.info.backend_pid, row["pid"])
            except DatabaseUnavailable as exc:
                delay = backoff.next_delay()
                log.warning("database_unavailable", error=str(exc), retry_in_s=round(delay, 2))
                time.sleep(delay)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
