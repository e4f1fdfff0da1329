"""``python -m bench.python_path_cpu``: the worker's own CPU per python attempt between
claim and finisher, without a database.

In this process: a real ``Worker`` (never connected) with its python executor and
``--processes`` real python processes; ``--rounds`` rounds of ``--batch`` no-op
attempts handed to ``Worker._start`` as one claim would hand them, each round waiting
until every outcome has reached the finisher (which only counts them). Prints this
process's CPU (``time.process_time``) per attempt, per round: min, median and p90;
and the python processes' CPU per attempt over all rounds (``/proc``, clock ticks).
Runs against any checkout with its own ``.venv`` (the
worker's private ``_start`` and ``_finisher`` are what both sides share), so two
checkouts compare on a shared machine: the figure moves with load far less than
runs/s do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime

from bench.harness.attempts import noop_attempts
from pgsched.db.pooling import PoolMode
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.options import WorkerOptions
from pgsched.engine.worker import Worker
from pgsched.logging import configure_logging
from pgsched.models import ClaimClock, EndedAttempt

URL = "postgresql://bench.invalid/none"
JOB_NAMES = 12_000


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.python_path_cpu", description=__doc__)
    parser.add_argument("--batch", type=int, default=85)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    return parser.parse_args()


def _children_cpu(pids: list[int]) -> float:
    """CPU-seconds the processes ``pids`` have used (utime + stime)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _measure(arguments: argparse.Namespace) -> tuple[list[float], float]:
    options = WorkerOptions(
        allow_python=("bench.",), allow_root=True, python_processes=arguments.processes
    )
    worker = Worker(URL, options, ConnectionPlan.for_worker(URL, options, PoolMode.DIRECT))
    finished: list[EndedAttempt] = []
    worker._finisher.submit = finished.append  # type: ignore[method-assign,assignment]
    python = worker._python
    await python.start()
    per_attempt = []
    children = 0.0
    try:
        first = 1
        for round_ in range(arguments.rounds + 10):
            if round_ == 10:  # the processes warm (imports, the pool grown)
                pids = [child.pid for child in python._pool]
                children = _children_cpu(pids)
            now = time.monotonic()
            clock = ClaimClock(datetime.now(UTC), now, now)
            attempts = noop_attempts(first, arguments.batch, clock, datetime.now(UTC), JOB_NAMES)
            first += arguments.batch
            finished.clear()
            cpu = time.process_time()
            worker._start(attempts, from_schedule=True)
            while len(finished) < arguments.batch:
                await asyncio.sleep(0.001)
            per_attempt.append((time.process_time() - cpu) / arguments.batch)
            await asyncio.sleep(0.002)  # the loop quiet between claims
        children = _children_cpu(pids) - children
    finally:
        await python.close()
    return per_attempt[10:], children / (arguments.rounds * arguments.batch)


def main() -> None:
    arguments = _arguments()
    configure_logging("warning")  # as the benchmark's workers run
    per_attempt, children = asyncio.run(_measure(arguments))
    us = sorted(1e6 * value for value in per_attempt)
    print(
        f"worker CPU per python attempt, {arguments.rounds} rounds of {arguments.batch}, "
        f"{arguments.processes} processes: min {us[0]:.1f} us, median "
        f"{statistics.median(us):.1f} us, p90 {us[int(0.9 * len(us))]:.1f} us; "
        f"python processes {1e6 * children:.1f} us"
    )


if __name__ == "__main__":
    main()
