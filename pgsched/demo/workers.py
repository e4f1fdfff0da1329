"""The demo's two ``pgsched worker`` subprocesses: started, watched and stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pgsched.config import ENV_DATABASE_URL, ENV_SQL_DATABASE_URL
from pgsched.demo.catalog import PYTHON_PREFIX, QUEUE, WORKER_NAME_PREFIX
from pgsched.demo.endpoint import ENDPOINT_HOST

WORKER_COUNT = 2
GRACE_SECONDS = 5.0
# After the grace period a worker records what it interrupted; this is how long
# it gets for that before the demo kills it.
RECORD_SECONDS = 10.0
# Workers stop by themselves this long after the demo meant to stop them, should
# the demo itself be killed before it can.
BACKSTOP_SECONDS = 60.0
# A hung worker drops out of "workers alive" well within a demo.
LEASE_SECONDS = 10


@dataclass(frozen=True)
class WorkerExit:
    """How one worker ended."""

    name: str
    pid: int
    returncode: int | None
    killed: bool
    log_path: Path


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


class DemoWorkers:
    """Starts ``WORKER_COUNT`` workers on the demo's queue, logging to ``log_dir``."""

    def __init__(
        self, database_url: str, log_dir: Path, run_seconds: float, sql_url: str | None
    ) -> None:
        self._database_url = database_url
        self._log_dir = log_dir
        self._run_seconds = run_seconds
        # Where the sql job runs (a login of its own); None: sql jobs stay disabled.
        self._sql_url = sql_url
        self._workers: list[_Worker] = []

    def start(self) -> None:
        """Start the workers, each in a session of its own.

        Their own session keeps a terminal's Ctrl-C from reaching them: the demo
        decides when and how they stop.
        """
        for number in range(1, WORKER_COUNT + 1):
            name = f"{WORKER_NAME_PREFIX}-{number}"
            log_path = self._log_dir / f"{name}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    self._command(name),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # URLs go by environment, not argv, where `ps` would show a password.
                    env={**os.environ, **self._environment()},
                    start_new_session=True,
                )
            self._workers.append(_Worker(name, process, log_path))

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers started."""
        return [worker.process.pid for worker in self._workers]

    def exited(self) -> list[WorkerExit]:
        """The workers that have exited already."""
        return [
            _exit(worker, killed=False)
            for worker in self._workers
            if worker.process.poll() is not None
        ]

    def stop(self) -> list[WorkerExit]:
        """SIGTERM to every worker; SIGKILL to those still running after grace and recording."""
        for worker in self._workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS + RECORD_SECONDS
        exits = []
        for worker in self._workers:
            killed = False
            try:
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Its process group; its python job children die with it (PR_SET_PDEATHSIG).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait()
                killed = True
            exits.append(_exit(worker, killed=killed))
        return exits

    def _environment(self) -> dict[str, str]:
        environment = {ENV_DATABASE_URL: self._database_url}
        if self._sql_url is not None:
            environment[ENV_SQL_DATABASE_URL] = self._sql_url
        return environment

    def _command(self, name: str) -> list[str]:
        # The demo's own jobs may run as root: they are its, not a job author's.
        root = ["--allow-root"] if os.geteuid() == 0 else []
        sql = ["--allow-sql"] if self._sql_url is not None else []
        return [
            sys.executable,
            "-m",
            "pgsched",
            "worker",
            "--name",
            name,
            "--queues",
            QUEUE,
            "--allow-python",
            PYTHON_PREFIX,
            "--allow-shell",
            *root,
            *sql,
            # The demo's HTTP endpoint listens on loopback, which http jobs reach only
            # when the worker allows it.
            "--http-allow",
            ENDPOINT_HOST,
            "--concurrency",
            "4",
            "--python-processes",
            "2",
            "--poll-interval",
            "0.5",
            "--grace-period",
            str(GRACE_SECONDS),
            "--lease-seconds",
            str(LEASE_SECONDS),
            "--stop-after",
            str(self._run_seconds + BACKSTOP_SECONDS),
            "--log-level",
            "warning",
        ]


def _exit(worker: _Worker, killed: bool) -> WorkerExit:
    return WorkerExit(
        worker.name, worker.process.pid, worker.process.returncode, killed, worker.log_path
    )
