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
from typing import TYPE_CHECKING

import structlog

from pgsched.engine.pacing import ClaimPacer
from pgsched.engine.repository import Repository
from pgsched.engine.state import RELEASED, InFlight, WorkerState, ending
from pgsched.errors import DatabaseError, QueryFailed
from pgsched.executors.python import PythonExecutor
from pgsched.models import Attempt

if TYPE_CHECKING:
    from pgsched.engine.metrics import Metrics

log = structlog.get_logger("pgsched.engine.worker")

# Surplus slots whose release went unanswered are asked about again this often.
RELEASE_RETRY_SECONDS = 1.0


async def release_unstarted(
    state: WorkerState, python: PythonExecutor, repository: Repository, metrics: Metrics | None
) -> None:
    """Hand back, in one statement, the slots ``state`` holds from the schedule that
    have not begun (counted in ``metrics``, reason ``stopping``); attempts of other
    triggers (retries, manual runs) run on."""
    scheduled = [held for held in state.in_flight.values() if held.from_schedule]
    took = await python.withdraw_unstarted([held.attempt.run_id for held in scheduled])
    # Not started: held in the worker for its instant. Handed to the python executor
    # (started, for the worker): not begun if the executor took it back.
    unstarted = [held for held in scheduled if not held.started or held.attempt.run_id in took]
    if not unstarted:
        return
    for held in unstarted:
        state.cancel(held.attempt.run_id, RELEASED)
    await asyncio.wait([ending(held.task) for held in unstarted])
    try:
        released = await repository.release_held_runs(
            [(held.attempt.run_id, held.attempt.fence) for held in unstarted]
        )
    except DatabaseError as exc:
        # They stay claimed by this worker: recovery finds them once it has stopped.
        log.warning("runs_not_released", count=len(unstarted), error=str(exc))
        return
    log.info("runs_released", count=len(released), worker_id=state.worker_id)
    if metrics is not None:
        metrics.released.labels("stopping").inc(len(released))


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
    ours = [attempt for attempt in claimed if side_by_side(attempt)]
    if not ours:
        return []  # a python-only claim: no walk over what the worker holds
    holding = list(holding)
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
    claimed: Sequence[Attempt],
    state: WorkerState,
    pacer: ClaimPacer,
    repository: Repository,
    metrics: Metrics | None,
) -> Sequence[Attempt]:
    """Of the slots a claim took from their jobs' schedules, hand back at once those
    beyond --concurrency (``beyond_concurrency``; counted in ``metrics``, reason
    ``concurrency``); returns the ones to start here."""
    holding = (held.attempt for held in state.in_flight.values())
    surplus = beyond_concurrency(claimed, holding, pacer.concurrency)
    if not surplus:
        return claimed
    pacer.surplus_seen(time.monotonic())
    handed_back = {attempt.run_id for attempt in surplus}
    others = [attempt for attempt in claimed if attempt.run_id not in handed_back]
    try:
        released = await repository.release_held_runs([(a.run_id, a.fence) for a in surplus])
    except QueryFailed as exc:
        # Refused, so not released: still this worker's, they begin as slots free up.
        log.warning("runs_not_released", count=len(surplus), reason="concurrency", error=str(exc))
        return claimed
    except DatabaseError as exc:
        # No answer: the release may have committed before the answer was lost: started here, a
        # slot could run twice. They wait, held, until the database says (SIGTERM
        # hands them back with the rest).
        log.warning("runs_not_released", count=len(surplus), reason="concurrency", error=str(exc))
        task = asyncio.create_task(_release_when_answered(surplus, state, repository, metrics))
        for attempt in surplus:
            state.in_flight[attempt.run_id] = InFlight(attempt, task, from_schedule=True)
        return others
    _released(released, surplus, state, metrics)
    # One the statement did not release is no longer this worker's (its fence moved:
    # recovery took it), like the released ones: neither starts here.
    return others


async def _release_when_answered(
    surplus: Sequence[Attempt], state: WorkerState, repository: Repository, metrics: Metrics | None
) -> None:
    """Ask again, until the database answers, to release ``surplus``; none begins here."""
    try:
        while True:
            await asyncio.sleep(RELEASE_RETRY_SECONDS)
            try:
                released = await repository.release_held_runs(
                    [(attempt.run_id, attempt.fence) for attempt in surplus]
                )
            except DatabaseError as exc:
                log.warning("runs_not_released", count=len(surplus), error=str(exc))
                continue
            _released(released, surplus, state, metrics)
            return
    finally:
        for attempt in surplus:
            state.in_flight.pop(attempt.run_id, None)
            state.cancel_reasons.pop(attempt.run_id, None)


def _released(
    released: Sequence[int],
    surplus: Sequence[Attempt],
    state: WorkerState,
    metrics: Metrics | None,
) -> None:
    if metrics is not None:
        metrics.released.labels("concurrency").inc(len(released))
    log.info(
        "runs_released",
        count=len(released),
        surplus=len(surplus),
        reason="concurrency",
        worker_id=state.worker_id,
    )
