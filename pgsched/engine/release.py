"""A stopping worker hands back the slots it has not begun, so others start them on time.

Not begun: held for their instant (in the worker, or in a python process that waits
for it), or waiting for a python process, or queued in one behind the attempt it
runs. The python executor is the one to say which of its attempts have not begun,
since its processes begin held ones by themselves: it takes those back first, and
only those are handed back to the database.
"""

from __future__ import annotations

import asyncio

import structlog

from pgsched.engine.repository import Repository
from pgsched.engine.state import RELEASED, WorkerState
from pgsched.errors import DatabaseError
from pgsched.executors.python import PythonExecutor

log = structlog.get_logger("pgsched.engine.worker")


async def release_unstarted(
    state: WorkerState, python: PythonExecutor, repository: Repository
) -> None:
    """Hand back, in one statement, the slots ``state`` holds from the schedule that
    have not begun; attempts of other triggers (retries, manual runs) run on."""
    scheduled = [held for held in state.in_flight.values() if held.from_schedule]
    took = await python.withdraw_unstarted([held.attempt.run_id for held in scheduled])
    # Not started: held in the worker for its instant. Handed to the python executor
    # (started, for the worker): not begun if the executor took it back.
    unstarted = [held for held in scheduled if not held.started or held.attempt.run_id in took]
    if not unstarted:
        return
    for held in unstarted:
        state.cancel(held.attempt.run_id, RELEASED)
    await asyncio.wait([held.task for held in unstarted])
    try:
        released = await repository.release_held_runs(
            [(held.attempt.run_id, held.attempt.fence) for held in unstarted]
        )
    except DatabaseError as exc:
        # They stay claimed by this worker: recovery finds them once it has stopped.
        log.warning("runs_not_released", count=len(unstarted), error=str(exc))
        return
    log.info("runs_released", count=len(released), worker_id=state.worker_id)
