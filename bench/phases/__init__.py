"""The benchmark's phases, by the name ``python -m bench --phase NAME`` takes.

Each phase is a function of the run's ``BenchContext`` returning its ``Figure``
rows; it creates its own scratch database and workers, and leaves nothing behind.
A new phase is a module here and one entry in ``PHASES``.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.harness.context import BenchContext
from bench.harness.report import Figure
from bench.phases import (
    beside_held,
    ceiling,
    connections,
    herd,
    idle,
    lag,
    memory,
    million,
    monitoring,
    overload,
    plans,
    pooled,
    run_now,
    throughput,
    web,
)

Phase = Callable[[BenchContext], list[Figure]]

PHASES: dict[str, Phase] = {
    "throughput-1w": lambda context: throughput.run(context, 1),
    "throughput-2w": lambda context: throughput.run(context, 2),
    "lag": lag.run,
    "lag-100k": lambda context: lag.run(context, jobs_not_due=99_000),
    "lag-1w": lambda context: lag.run(context, workers_count=1),
    "lag-stalled-peer": lambda context: lag.run(context, stall=True),
    "run_now": run_now.run,
    "idle": idle.run,
    "ceiling": ceiling.run,
    "overload": overload.run,
    "beside-held": beside_held.run,
    "herd-10k": lambda context: herd.run(context, 10_000),
    "herd-50k": lambda context: herd.run(context, 50_000),
    "herd-100k": lambda context: herd.run(context, 100_000),
    "million": million.run,
    "monitoring": monitoring.run,
    "plans": plans.run,
    "memory": memory.run,
    "workers-8": connections.run,
    "pgbouncer": pooled.run,
    "web": web.run,
}
