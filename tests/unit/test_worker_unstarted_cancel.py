"""An attempt cancelled before its task ever ran leaves the worker all the same.

A shell, http or sql attempt is a task; a task cancelled before its first step never
enters its coroutine, so cleanup written there does not run. Taken away or handed back
in the same turn as its claim, such an attempt must not keep a place in ``in_flight``
(a ``--concurrency`` slot lost for good), and one stopped with an outcome records it.
"""

from __future__ import annotations

import asyncio

from pgsched.db.pooling import PoolMode
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.options import WorkerOptions
from pgsched.engine.state import RELEASED, TAKEN
from pgsched.engine.worker import Worker
from pgsched.models import EndedAttempt, Outcome, RunStatus
from tests.attempts import make_attempt

URL = "postgresql://nobody@127.0.0.1:1/none"  # never connected to here


def worker() -> tuple[Worker, list[EndedAttempt]]:
    options = WorkerOptions(allow_shell=True, allow_root=True)
    made = Worker(URL, options, ConnectionPlan.for_worker(URL, options, PoolMode.DIRECT))
    finished: list[EndedAttempt] = []
    made._finisher.submit = finished.append  # type: ignore[method-assign]
    return made, finished


def test_attempts_cancelled_before_their_task_ran_leave_no_slot_behind() -> None:
    made, finished = worker()

    async def go() -> None:
        attempts = [make_attempt("shell", "sleep 5", run_id=n) for n in (1, 2, 3)]
        made._start(attempts, from_schedule=True)
        # The same turn: none of the three tasks has taken a step yet.
        made.state.cancel(1, TAKEN)
        made.state.cancel(2, RELEASED)
        made.state.cancel(3, Outcome.failed("stopped at shutdown"))
        await asyncio.sleep(0.05)

    asyncio.run(go())
    assert made.state.in_flight == {}
    assert made.state.cancel_reasons == {}
    assert [ended.attempt.run_id for ended in finished] == [3]
    assert finished[0].outcome.status is RunStatus.FAILED
