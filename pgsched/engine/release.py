"""Slots a worker has claimed but should not begin go back to the database, so other
workers start them on time.

A stopping worker hands back the ones it has not begun: held for their instant (in
the worker, or in a python process that waits for it), or waiting for a python
process, or queued in one behind the attempt it runs. The python executor is the one
to say which of its attempts have not begun, since its processes begin held ones by
themselves: it takes those back first, and only those are handed back.

A claim ahead holds as many slots as the python processes can begin at the instant,
whatever their kind; shell, http and sql ones beyond --concurrency would wait at
their instant for one to end (``SideBySide``), so they go back at once, before
their tasks exist (``hand_back_surplus``).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

import structlog

from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.repository import Repository
from pgsched.engine.state import RELEASED, WorkerState
from pgsched.errors import DatabaseError
from pgsched.executors.python import PythonExecutor
from pgsched.models import Attempt

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


def side_by_side(attempt: Attempt) -> bool:
    """Whether ``attempt`` takes one of --concurrency slots when it begins: shell, http
    and sql do (``SideBySide``); python runs in its processes, a refused one not at all."""
    return attempt.kind != "python" and attempt.refusal is None


def beyond_concurrency(
    claimed: Sequence[Attempt], holding: Iterable[Attempt], concurrency: int
) -> list[Attempt]:
    """The side-by-side attempts of ``claimed`` that could not begin at their instant
    beside those of ``holding`` (the worker's, running or held): the latest slots
    beyond ``concurrency``, of jobs with no other slot here."""
    holding = list(holding)
    ours = [attempt for attempt in claimed if side_by_side(attempt)]
    excess = sum(1 for attempt in holding if side_by_side(attempt)) + len(ours) - concurrency
    if excess <= 0:
        return []
    slots: dict[int, set[datetime]] = defaultdict(set)
    for attempt in (*claimed, *holding):
        slots[attempt.job_id].add(attempt.scheduled_for)
    # A job's catch-ups, or a slot beside its own attempt still here, stay: handed
    # back, the slot would meet the overlap rules against that attempt when claimed
    # again, and might be skipped rather than run late.
    movable = [attempt for attempt in ours if len(slots[attempt.job_id]) == 1]
    movable.sort(key=lambda attempt: attempt.scheduled_for)
    return movable[-excess:]


async def hand_back_surplus(
    claimed: Sequence[Attempt], state: WorkerState, pacer: ClaimPacer, repository: Repository
) -> Sequence[Attempt]:
    """Of the slots a claim took from their jobs' schedules, hand back at once those
    beyond --concurrency (``beyond_concurrency``); returns the ones to start. If the
    database cannot take them, they are kept: they begin late, as slots free up."""
    holding = (held.attempt for held in state.in_flight.values())
    surplus = beyond_concurrency(claimed, holding, pacer.concurrency)
    if not surplus:
        return claimed
    pacer.surplus_seen(time.monotonic())
    try:
        released = await repository.release_held_runs([(a.run_id, a.fence) for a in surplus])
    except DatabaseError as exc:
        # Still claimed by this worker: they begin as slots free up, late.
        log.warning("runs_not_released", count=len(surplus), reason="concurrency", error=str(exc))
        return claimed
    log.info(
        "runs_released",
        count=len(released),
        surplus=len(surplus),
        reason="concurrency",
        worker_id=state.worker_id,
    )
    # One the statement did not release is no longer this worker's (its fence moved:
    # recovery took it), like the released ones: neither starts here.
    handed_back = {attempt.run_id for attempt in surplus}
    return [attempt for attempt in claimed if attempt.run_id not in handed_back]
