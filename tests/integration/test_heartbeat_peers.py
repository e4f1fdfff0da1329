"""The heartbeat tells a worker whether other live workers serve one of its queues:
claims ahead leave an instant's other share to them only then (``ClaimPacer.share_taken``)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from pgsched.engine.repository import Repository, WorkerIdentity

Connection = psycopg.Connection[tuple[Any, ...]]


def beats(url: str, joining: list[tuple[str, tuple[str, ...]]]) -> list[bool | None]:
    """Register each ``(worker id, queues)`` in turn, then beat ``w1``'s heartbeat."""

    async def go() -> list[bool | None]:
        repository = Repository(url, "test")
        try:
            seen = []
            for worker_id, queues in joining:
                await repository.register_worker(
                    WorkerIdentity(worker_id, "host", 1, queues, 10, 30)
                )
                seen.append(await repository.heartbeat("w1"))
            return seen
        finally:
            await repository.close()

    return asyncio.run(go())


def heartbeat(url: str) -> bool | None:
    async def go() -> bool | None:
        repository = Repository(url, "test")
        try:
            return await repository.heartbeat("w1")
        finally:
            await repository.close()

    return asyncio.run(go())


def test_the_heartbeat_says_whether_live_workers_share_a_queue(
    database_url: str, db: Connection
) -> None:
    joining = [("w1", ("default", "a")), ("w2", ("b",)), ("w3", ("b", "a"))]
    # Alone; another on other queues; one sharing queue "a".
    assert beats(database_url, joining) == [False, False, True]
    db.execute("UPDATE pgsched.workers SET stopped_at = now() WHERE id = 'w3'")
    assert heartbeat(database_url) is False
    db.execute("UPDATE pgsched.workers SET stopped_at = NULL WHERE id = 'w3'")
    assert heartbeat(database_url) is True
    # Silent past its lease: dead, though not reaped yet.
    db.execute(
        "UPDATE pgsched.workers SET last_heartbeat_at = now() - interval '31 seconds'"
        " WHERE id = 'w3'"
    )
    assert heartbeat(database_url) is False
    # Declared dead itself: no answer but that.
    db.execute("UPDATE pgsched.workers SET stopped_at = now() WHERE id = 'w1'")
    assert heartbeat(database_url) is None
