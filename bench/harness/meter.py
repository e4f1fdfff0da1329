"""What a measurement window costs in CPU: the workers and PostgreSQL.

Figures are % of one core. PostgreSQL is measured only when it runs on this host
and its processes are readable in /proc: the backends connected to the phase's
database (the workers' connections), and the whole server (postmaster and every
child, which on a shared machine includes other people's sessions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.harness.cpu import (
    CpuSample,
    command_name,
    parent_pid,
    percent_of_core,
    processes_cpu_seconds,
    sample_tree,
)
from bench.harness.database import Connection, database_now
from bench.harness.workers import Workers

DATABASE_BACKENDS = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def find_postmaster(connection: Connection) -> int | None:
    """The server's postmaster pid if it runs on this host and /proc shows it, else None."""
    row = connection.execute("SELECT pg_backend_pid(), current_database()").fetchone()
    assert row is not None
    backend, database = row
    try:
        cmdline = Path(f"/proc/{backend}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    # A remote server's backend pid may name an unrelated local process.
    if command_name(backend) != "postgres" or database.encode() not in cmdline:
        return None
    postmaster = parent_pid(backend)
    if postmaster is None or command_name(postmaster) != "postgres":
        return None
    return postmaster


class CpuMeter:
    """Samples the workers' process trees and PostgreSQL at ``start`` and ``stop``."""

    def __init__(self, connection: Connection, worker_pids: list[int]) -> None:
        self._connection = connection
        self._worker_pids = worker_pids
        self._postmaster = find_postmaster(connection)
        self._backends: list[int] = []
        self._workers_before: CpuSample | None = None
        self._server_before: CpuSample | None = None
        self._backends_before: dict[int, float] = {}
        self._started_at = 0.0

    def start(self) -> None:
        """Take the first sample."""
        if self._postmaster is not None:
            self._backends = [row[0] for row in self._connection.execute(DATABASE_BACKENDS)]
            self._backends_before = processes_cpu_seconds(self._backends)
            self._server_before = sample_tree([self._postmaster])
        self._started_at = time.monotonic()
        self._workers_before = sample_tree(self._worker_pids)

    def stop(self) -> dict[str, float | None]:
        """CPU since ``start`` as % of one core: workers, database backends, whole server."""
        assert self._workers_before is not None, "start() first"
        workers = percent_of_core(self._workers_before, sample_tree(self._worker_pids))
        figures: dict[str, float | None] = {
            "workers_cpu_pct": workers,
            "postgres_database_cpu_pct": None,
            "postgres_server_cpu_pct": None,
        }
        if self._postmaster is not None and self._server_before is not None:
            elapsed = time.monotonic() - self._started_at
            after = processes_cpu_seconds(self._backends)
            used = sum(
                value - self._backends_before.get(pid, value) for pid, value in after.items()
            )
            figures["postgres_database_cpu_pct"] = 100 * used / elapsed
            figures["postgres_server_cpu_pct"] = percent_of_core(
                self._server_before, sample_tree([self._postmaster])
            )
        return figures


@dataclass(frozen=True)
class Window:
    """A measurement window, bounded by the database clock, and its CPU figures."""

    started_at: datetime
    ended_at: datetime
    cpu: dict[str, float | None]

    @property
    def seconds(self) -> float:
        """The window's length by the database clock."""
        return (self.ended_at - self.started_at).total_seconds()


def measure_window(connection: Connection, workers: Workers, seconds: float) -> Window:
    """Let the workers run ``seconds`` while sampling the database clock and CPU."""
    meter = CpuMeter(connection, workers.pids)
    started_at = database_now(connection)
    meter.start()
    workers.sleep(seconds)
    cpu = meter.stop()
    return Window(started_at, database_now(connection), cpu)
