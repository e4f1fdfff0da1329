"""An idle worker looks at what is due each poll, and claims only what a claim can take.

With nothing due before its next slot, a round that a poll interval woke asks
``next_due_in`` alone (one statement), not a claim transaction that finds nothing. A slot
made due without a NOTIFY (``next_run`` moved, which no trigger announces) is still
seen at the next poll and started at its instant.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg

from pgsched.db.pooling import PoolMode
from pgsched.engine.connections import ConnectionPlan
from pgsched.engine.options import WorkerOptions
from pgsched.engine.worker import Worker
from tests.commands import add_job

Connection = psycopg.Connection[tuple[Any, ...]]
POLL_SECONDS = 0.1
IDLE_SECONDS = 1.5
RUN_TIMEOUT_SECONDS = 10.0


def test_an_idle_worker_looks_each_poll_without_claiming_and_starts_a_slot_on_time(
    database_url: str, db: Connection
) -> None:
    add_job(db, "yearly", "0 0 1 1 *", kind="shell", target="true")
    job_id = add_job(db, "moved", "0 0 1 1 *", kind="shell", target="true")
    options = WorkerOptions(allow_shell=True, allow_root=True, poll_interval=POLL_SECONDS)
    plan = ConnectionPlan.for_worker(database_url, options, PoolMode.DIRECT)
    worker = Worker(database_url, options, plan)
    calls = {"claim_due_jobs": 0, "due_in": 0}
    for name in calls:
        original = getattr(worker._claims, name)

        def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls[_name] += 1
            return _original(*args)

        setattr(worker._claims, name, counted)

    async def scenario() -> tuple[dict[str, int], datetime, datetime]:
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(IDLE_SECONDS)  # registered, both jobs scheduled, idle
            idle = dict(calls)
            await asyncio.sleep(IDLE_SECONDS)
            idle = {name: calls[name] - idle[name] for name in calls}
            # No trigger announces next_run: only a look at the database finds it.
            slot = db.execute(
                "UPDATE pgsched.jobs SET next_run = date_trunc('second', now()) + interval '2 s'"
                " WHERE id = %s RETURNING next_run",
                [job_id],
            ).fetchone()[0]  # type: ignore[index]
            async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
                while (
                    row := db.execute(
                        "SELECT scheduled_for, started_at FROM pgsched.runs"
                        " WHERE job_id = %s AND status = 'succeeded'",
                        [job_id],
                    ).fetchone()
                ) is None:
                    await asyncio.sleep(0.05)
            assert row[0] == slot
            return idle, row[0], row[1]
        finally:
            worker.request_stop()
            await task

    idle, scheduled_for, started_at = asyncio.run(scenario())
    # Each poll looks (about 15 times here); before, each also claimed.
    assert idle["due_in"] >= IDLE_SECONDS / POLL_SECONDS / 3
    assert idle["claim_due_jobs"] == 0
    # Held ahead and begun at the instant, as when every poll claimed.
    assert (started_at - scheduled_for).total_seconds() < 0.1
