"""What every phase needs to know: the server, the run's length, worker options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.harness.database import LIVE_WORKERS, Connection, scalar
from bench.harness.errors import Findings
from bench.harness.workers import Workers

# How long a started worker may take to register (imports, schema check) on a busy host.
REGISTER_TIMEOUT_SECONDS = 60.0
FULL_IDLE_JOBS = 100_000
QUICK_IDLE_JOBS = 10_000


@dataclass
class BenchContext:
    """Settings of one benchmark run, and what its phases found wrong."""

    server_url: str
    log_dir: Path
    quick: bool
    # None: the worker's own default (the figures the issue asks for use them).
    concurrency: int | None
    python_processes: int | None
    throughput_jobs: int
    idle_jobs: int | None = None
    # None: warning, which every round's figures used; "info" is the worker's default.
    log_level: str | None = None
    findings: Findings = field(default_factory=Findings)

    @property
    def warmup_seconds(self) -> float:
        """Time workers get to reach a steady state before a window opens."""
        return 5.0

    @property
    def window_seconds(self) -> float:
        """Length of the throughput and lag windows."""
        return 8.0 if self.quick else 20.0

    @property
    def idle_job_count(self) -> int:
        """Jobs the idle phase registers: scheduling 100,000 takes minutes, too long for CI."""
        return self.idle_jobs or (QUICK_IDLE_JOBS if self.quick else FULL_IDLE_JOBS)

    def loaded_options(self, concurrency: int | None = None) -> tuple[str, ...]:
        """``pgsched worker`` options for the throughput and lag phases: only those
        given to the benchmark (or ``concurrency`` here); the worker's defaults else."""
        options: tuple[str, ...] = ()
        if concurrency or self.concurrency:
            options += ("--concurrency", str(concurrency or self.concurrency))
        if self.python_processes:
            options += ("--python-processes", str(self.python_processes))
        if self.log_level:
            options += ("--log-level", self.log_level)
        return options

    def workers(self, database_url: str, label: str) -> Workers:
        """A worker set for one phase, logging into this run's log directory."""
        return Workers(database_url, self.log_dir, label, self.findings)


def start_workers(
    connection: Connection, workers: Workers, count: int, options: tuple[str, ...] = ()
) -> None:
    """Start ``count`` workers and wait until each has registered in ``pgsched.workers``."""
    workers.start(count, *options)
    workers.wait_until(
        lambda: scalar(connection, LIVE_WORKERS) >= count,
        REGISTER_TIMEOUT_SECONDS,
        f"{count} worker(s) to register",
    )
