"""What every phase needs to know: the server, the run's length, worker options."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.harness.database import LIVE_WORKERS, Connection, database_now, scalar
from bench.harness.errors import Findings
from bench.harness.workers import Workers

# How long a started worker may take to register (imports, schema check) on a busy host.
REGISTER_TIMEOUT_SECONDS = 60.0
# How long workers may take to claim every job of a phase once (100,000 at 5x: ~7 s).
CYCLE_TIMEOUT_SECONDS = 120.0
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


# Whether the earliest next_run of the queue is after an instant (-infinity while a
# job waits for its first one, which psycopg cannot read back).
EARLIEST_DUE_AFTER = """
SELECT coalesce(next_run, '-infinity') > %(after)s FROM pgsched.jobs
 WHERE enabled AND queue = 'default'
 ORDER BY coalesce(next_run, '-infinity') LIMIT 1
"""


def warm_up(connection: Connection, workers: Workers, seconds: float) -> None:
    """Wait until the workers have claimed every job once, then ``seconds`` more.

    Until each job has been claimed once, the window would count what only a job's
    first claims cost (its first slot of the day adds a totals row, later ones update
    it in place): at 20,000 jobs the first round takes ~1.3 s, well within the
    warm-up, but at 100,000 (the 5x of ``overload``) ~7 s after the last job got its
    first ``next_run``, and the window opened during it. Once every job is scheduled
    (at T), each one's first slot is at most a second later; the earliest ``next_run``
    past T + 1 s means every job was claimed since.
    """
    workers.wait_until(
        lambda: scalar(connection, EARLIEST_DUE_AFTER, {"after": "-infinity"}),
        CYCLE_TIMEOUT_SECONDS,
        "every job to be scheduled",
    )
    claimed_after = {"after": database_now(connection) + timedelta(seconds=1)}
    workers.wait_until(
        lambda: scalar(connection, EARLIEST_DUE_AFTER, claimed_after),
        CYCLE_TIMEOUT_SECONDS,
        "every job to be claimed once",
    )
    workers.sleep(seconds)
