"""Workers as the ``workers`` command shows them: alive, or also dead and stopped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from pgsched.catalog.sessions import Connection, fetch_all


class WorkerRow(TypedDict):
    """One worker, its load and how long since it last reported.

    ``state`` is ``alive`` (heartbeating within its lease), ``dead`` (silent past it
    and not reaped yet: its attempts still show as running) or ``stopped``.
    """

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    state: str
    running_runs: int
    heartbeat_age_seconds: Decimal
    lease_seconds: int
    last_heartbeat_at: datetime
    started_at: datetime
    stopped_at: datetime | None


def list_workers(connection: Connection, *, include_gone: bool = False) -> list[WorkerRow]:
    """Workers heartbeating within their lease (``pgsched.workers_alive``, which a
    ``pgsched_reader`` may read); with ``include_gone``, dead and stopped ones too
    (reads the tables)."""
    if include_gone:
        return fetch_all(connection, "history_workers_all", row=WorkerRow)
    return fetch_all(connection, "history_workers_alive", row=WorkerRow)
