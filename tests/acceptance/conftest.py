"""Real ``pgsched worker`` subprocesses against a test database."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import commands
from tests.processes import process_stopped

REPOSITORY = Path(__file__).resolve().parents[2]


class Workers:
    """Starts workers for one test and stops whatever is left at the end."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        *extra: str,
        concurrency: int = 10,
        lease_seconds: int = 5,
        environment: dict[str, str] | None = None,
        allow_root: bool = True,
        module: str = "pgsched",
    ) -> subprocess.Popen[bytes]:
        """Start a worker, with ``environment`` over this process's own (``module``: what
        ``python -m`` runs, a test's own variant of ``pgsched``).

        The tests run as root in CI: a worker there runs the tests' own python and
        shell jobs as root only when told, which ``allow_root`` does (unless
        ``--run-as`` names another user).
        """
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("wb")
        if allow_root and os.geteuid() == 0 and "--run-as" not in extra:
            extra = ("--allow-root", *extra)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "worker",
                "--database-url",
                self.database_url,
                "--concurrency",
                str(concurrency),
                "--poll-interval",
                "0.5",
                "--lease-seconds",
                str(lease_seconds),
                "--allow-python",
                "tests.",
                "--log-format",
                "json",
                *extra,
            ],
            cwd=REPOSITORY,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(environment or {})},
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self, timeout: float = 30) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes.append(None)
        return codes


@contextlib.contextmanager
def running_workers(database_url: str, log_dir: Path) -> Iterator[Workers]:
    """Workers on ``database_url``; whatever still runs at the end is killed."""
    manager = Workers(database_url, log_dir)
    try:
        yield manager
    finally:
        for process in manager.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    with running_workers(database_url, tmp_path) as manager:
        yield manager


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def scalar(db: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def add_job(
    db: psycopg.Connection[Any],
    name: str,
    target: str,
    schedule: str = "* * * * * *",
    **columns: Any,
) -> int:
    """Insert a job running ``target`` (python unless ``kind=`` says otherwise)."""
    return commands.add_job(db, name, schedule, target=target, **columns)


# Sessions of workers inside a transaction (pipelined ones too: between statements,
# the server waits for the client with the transaction open).
WORKER_TRANSACTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name LIKE 'pgsched-worker%' AND xact_start IS NOT NULL"
)


def pause_between_transactions(
    db: psycopg.Connection[Any], process: subprocess.Popen[bytes]
) -> None:
    """SIGSTOP the only worker ``process`` at a moment none of its sessions is inside a
    transaction: a worker paused anywhere else keeps the locks it holds there until it
    resumes (tests/acceptance/test_frozen_worker.py is that case)."""
    for _ in range(100):
        process.send_signal(signal.SIGSTOP)
        wait_for(lambda: process_stopped(process.pid), what="the worker stopped")
        time.sleep(0.05)  # a statement the server was running when it stopped ends
        if not scalar(db, WORKER_TRANSACTIONS):
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(random.uniform(0.01, 0.1))
    raise AssertionError("the worker was inside a transaction at every pause")


def let_go_of_its_attempt(logs: str) -> bool:
    """Whether a worker that resumed let go of an attempt taken from it, without writing:
    its late result refused by the fence (``run_result_dropped``), or the attempt stopped
    first because its heartbeat or fence check said it was taken (``run_abandoned``).
    Which comes first after a pause is a race between those loops."""
    return "run_result_dropped" in logs or "run_abandoned" in logs


def wait_until_registered(db: psycopg.Connection[Any]) -> None:
    """Wait until a worker has joined the cluster."""
    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.workers"), what="a worker")
