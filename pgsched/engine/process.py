"""A worker process: make it private, wait for its database, run the worker, exit cleanly.

The entry point of ``pgsched worker``; ``pgsched.engine.worker`` holds the engine itself.
"""

from __future__ import annotations

import asyncio
import signal
import time

import structlog

from pgsched.db import migrations
from pgsched.engine.backoff import Backoff
from pgsched.engine.hardening import keep_environment_private
from pgsched.engine.options import WorkerOptions
from pgsched.engine.worker import STOP_SIGNALS, Worker
from pgsched.errors import DatabaseUnavailable

log = structlog.get_logger("pgsched.engine.worker")


def run_worker(database_url: str, options: WorkerOptions) -> None:
    """Run a worker in this process until it is told to stop.

    While the database cannot be reached it waits and retries, as the worker's loops
    do; a schema that is not current is refused at once.
    """
    keep_environment_private()
    # Built first: a configuration it cannot honour is refused before any wait.
    worker = Worker(database_url, options)
    _wait_for_current_schema(database_url)
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


def _wait_for_current_schema(url: str) -> None:
    """Return once the schema is current; a stop signal meanwhile exits cleanly."""

    def stop_waiting(signum: int, frame: object) -> None:
        log.info("worker_stopped", reason="stopped while waiting for the database")
        raise SystemExit(0)

    previous = {signum: signal.signal(signum, stop_waiting) for signum in STOP_SIGNALS}
    backoff = Backoff()
    try:
        while True:
            try:
                migrations.require_current(url)
                return
            except DatabaseUnavailable as exc:
                delay = backoff.next_delay()
                log.warning("database_unavailable", error=str(exc), retry_in_s=round(delay, 2))
                time.sleep(delay)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
