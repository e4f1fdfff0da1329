"""Phase ``memory``: one worker's resident memory over 1,000,000 executions (quick: 50,000).

2,000 no-op python jobs fire every second (``overlap = 'skip'``, so slots a busy
worker cannot take are recorded skipped, not queued) on one worker with the loaded
options (``--concurrency 100 --python-processes 4``). Every few seconds the phase
reads ``VmRSS`` of the worker and of its descendants (the python processes) from
/proc, next to the executions so far: succeeded runs, as the run totals count them
(a sum over a few thousand rows, where ``count(*)`` would read a million).

The first 10 % of executions are warm-up: child processes start, caches and
prepared statements fill. Growth is the last sample minus the first one after
warm-up, and per 100,000 executions a least-squares slope over the second half.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from bench.harness.context import BenchContext, start_workers
from bench.harness.cpu import PROC, descendants
from bench.harness.database import connect, register_noop_jobs, scalar
from bench.harness.report import Figure, below
from bench.harness.server import scratch_database

PHASE = "memory"
JOBS = 2000
FULL_EXECUTIONS = 1_000_000
QUICK_EXECUTIONS = 50_000
WARMUP_FRACTION = 0.1
TARGET_GROWTH_MB = 10.0
PER_EXECUTIONS = 100_000
# The phase gives up (and reports what it has) below this rate: a stuck worker.
MIN_RUNS_PER_SECOND = 500
KIB_PER_MB = 1024

EXECUTIONS = "SELECT coalesce(sum(successful_runs), 0)::bigint FROM pgsched.daily_run_totals"


@dataclass(frozen=True)
class Sample:
    """Executions so far and resident memory (KiB) at one instant."""

    executions: int
    worker_kib: int
    children_kib: int
    children: int

    @property
    def total_kib(self) -> int:
        """The worker and its python processes together."""
        return self.worker_kib + self.children_kib


def resident_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB; 0 when it is gone (or a zombie)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _sample(executions: int, worker_pid: int) -> Sample:
    children = descendants([worker_pid])
    return Sample(
        executions,
        resident_kib(worker_pid),
        sum(resident_kib(pid) for pid in children),
        len(children),
    )


def _mb(kib: float | None) -> float | None:
    return None if kib is None else kib / KIB_PER_MB


def _growth_per_executions_kib(samples: list[Sample]) -> float | None:
    """Slope of total RSS over executions in the second half, per ``PER_EXECUTIONS``."""
    half = samples[-1].executions / 2
    late = [sample for sample in samples if sample.executions >= half]
    if len({sample.executions for sample in late}) < 2:
        return None
    fit = statistics.linear_regression(
        [sample.executions for sample in late], [sample.total_kib for sample in late]
    )
    return fit.slope * PER_EXECUTIONS


def _figures(samples: list[Sample], target: int) -> list[Figure]:
    warm = next((s for s in samples if s.executions >= WARMUP_FRACTION * target), None)
    end = samples[-1]
    growth = None if warm is None else _mb(end.total_kib - warm.total_kib)
    worker_growth = None if warm is None else _mb(end.worker_kib - warm.worker_kib)
    warm_at = f"{warm.executions:,}" if warm else "n/a"
    return [
        Figure("memory_executions", PHASE, "executions done (no-op python)", end.executions, ""),
        Figure(
            "memory_worker_rss_warm_mb",
            PHASE,
            f"worker RSS after warm-up ({warm_at} executions)",
            _mb(warm.worker_kib if warm else None),
            "MB",
        ),
        Figure("memory_worker_rss_end_mb", PHASE, "worker RSS at end", _mb(end.worker_kib), "MB"),
        Figure(
            "memory_worker_rss_max_mb",
            PHASE,
            "worker RSS max",
            _mb(max(s.worker_kib for s in samples)),
            "MB",
        ),
        Figure(
            "memory_children_rss_end_mb",
            PHASE,
            f"python children RSS at end ({end.children} processes)",
            _mb(end.children_kib),
            "MB",
        ),
        Figure(
            "memory_total_rss_max_mb",
            PHASE,
            "worker + children RSS max",
            _mb(max(s.total_kib for s in samples)),
            "MB",
        ),
        Figure(
            "memory_worker_growth_mb",
            PHASE,
            "worker RSS growth after warm-up",
            worker_growth,
            "MB",
        ),
        Figure(
            "memory_growth_mb",
            PHASE,
            "worker + children RSS growth after warm-up",
            growth,
            "MB",
            f"< {TARGET_GROWTH_MB:g}",
            below(growth, TARGET_GROWTH_MB),
        ),
        Figure(
            "memory_growth_per_100k_mb",
            PHASE,
            "worker + children RSS growth per 100k executions (fit, 2nd half)",
            _mb(_growth_per_executions_kib(samples)),
            "MB",
        ),
    ]


def run(context: BenchContext) -> list[Figure]:
    """Sample one loaded worker's memory until it has run the target executions."""
    target = QUICK_EXECUTIONS if context.quick else FULL_EXECUTIONS
    every_seconds = 1.0 if context.quick else 5.0
    with (
        scratch_database(context.server_url) as url,
        connect(url) as connection,
        context.workers(url, "memory") as workers,
    ):
        register_noop_jobs(connection, JOBS, "* * * * * *")
        start_workers(connection, workers, 1, context.loaded_options())
        worker_pid = workers.pids[0]
        deadline = time.monotonic() + target / MIN_RUNS_PER_SECOND + context.warmup_seconds
        samples = [_sample(scalar(connection, EXECUTIONS), worker_pid)]
        while samples[-1].executions < target and time.monotonic() < deadline:
            workers.sleep(every_seconds)
            samples.append(_sample(scalar(connection, EXECUTIONS), worker_pid))
    if samples[-1].executions < target:
        context.findings.warnings.append(
            f"memory: gave up after {samples[-1].executions:,} of {target:,} executions "
            f"(slower than {MIN_RUNS_PER_SECOND} runs/s)"
        )
    return _figures(samples, target)
