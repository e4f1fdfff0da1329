"""``python -m bench.log_cpu``: the worker's CPU per run for the per-run log lines, in
process, without a database or child processes.

Batches of ``--batch`` attempts of 4,000 job names, as one claim hands them over:
``RunEvents`` is told they started (in one call where the checkout has
``started_all``, else one call each), then, a loop turn later, that they ended and were
recorded as succeeded (``RunEvents.recorded``, as the finisher tells it), lines to a
file. Prints ``time.process_time`` per run: of those calls alone, and of the whole loop
(the attempts made, the turns, the output's writes). Runs against the checkout on
``PYTHONPATH``, so main and a branch compare alternated; ``--level warning`` gives the
cost without the lines.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness.attempts import noop_attempts
from pgsched.engine.events import RunEvents
from pgsched.engine.repository import FinishedRun
from pgsched.logging import configure_logging
from pgsched.models import Attempt, ClaimClock, EndedAttempt, Outcome

JOB_NAMES = 4000
SLOT = datetime(2026, 12, 3, 12, tzinfo=UTC)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.log_cpu", description=__doc__)
    parser.add_argument("--level", choices=("info", "warning"), default="info")
    parser.add_argument("--format", choices=("console", "json"), default="console")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=40)
    return parser.parse_args()


def _attempts(first: int, count: int) -> list[Attempt]:
    now = time.monotonic()
    clock = ClaimClock(datetime.now(UTC), now, now)
    slot = SLOT + timedelta(seconds=first // JOB_NAMES)  # a new slot every 4,000 runs
    return noop_attempts(first, count, clock, slot, JOB_NAMES)


async def _measure(arguments: argparse.Namespace) -> float:
    """CPU-seconds spent in the events' calls for ``--runs`` runs."""
    events = RunEvents(lambda: "worker-host-12345-abcdef")
    started_all = getattr(events, "started_all", None)  # main before round 9: per attempt
    succeeded = Outcome.succeeded()
    spent = 0.0
    for first in range(0, arguments.runs, arguments.batch):
        batch = _attempts(first, arguments.batch)
        begun = time.monotonic()
        cpu = time.process_time()
        if started_all is not None:
            started_all(batch, begun)
        else:
            for attempt in batch:
                events.started(attempt, begun)
        spent += time.process_time() - cpu
        await asyncio.sleep(0)  # the turn ends: its lines are written
        ended = [EndedAttempt(a, succeeded, 1.234, a.clock.database_time(begun)) for a in batch]  # type: ignore[union-attr]
        finished = {a.run_id: FinishedRun(a.run_id, None, None) for a in batch}
        cpu = time.process_time()
        for one in ended:
            events.ended(one.attempt)
        events.recorded(ended, finished)
        spent += time.process_time() - cpu
        await asyncio.sleep(0)
    return spent


def main() -> None:
    arguments = _arguments()
    with tempfile.TemporaryDirectory() as directory, (Path(directory) / "log").open("w") as out:
        configure_logging(arguments.level, arguments.format, out)
        whole = time.process_time()
        calls = asyncio.run(_measure(arguments))
        whole = time.process_time() - whole
    print(
        f"{arguments.level} {arguments.format}: calls {1e6 * calls / arguments.runs:.2f} us/run,"
        f" whole {1e6 * whole / arguments.runs:.2f} us/run"
    )


if __name__ == "__main__":
    main()
