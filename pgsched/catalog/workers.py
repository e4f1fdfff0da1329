"""Workers as the ``workers`` command shows them: alive, or also dead and stopped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from pgsched.catalog.sessions import Connection, fetch_all, fetch_single


class WorkerRow(TypedDict):
    """One worker, its load and how long since it last reported.

    ``state`` is ``alive`` (heartbeating within its lease), ``dead`` (silent past it
    and not reaped yet: its attempts still show as running) or ``stopped``. Both it
    and ``heartbeat_age_seconds`` are as of now() minus ``replica_lag_seconds`` (0 on
    a primary; on a replica, how far its data trails).
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
    replica_lag_seconds: float


def list_workers(connection: Connection, *, include_gone: bool = False) -> list[WorkerRow]:
    """Workers heartbeating within their lease (``pgsched.workers_alive``, which a
    ``pgsched_reader`` may read); with ``include_gone``, dead and stopped ones too
    (reads the tables)."""
    if include_gone:
        return fetch_all(connection, "history_workers_all", row=WorkerRow)
    return fetch_all(connection, "history_workers_alive", row=WorkerRow)


class ReplicaLag(TypedDict):
    """How far the data read trails its primary.

    ``lag_seconds`` is 0 on a primary, and on a standby that has replayed all it
    received; ``in_recovery`` tells a standby from a primary.
    """

    lag_seconds: float
    in_recovery: bool


def replica_lag(connection: Connection) -> ReplicaLag:
    """How far the data this connection reads trails its primary, and whether it is
    read on a standby."""
    return fetch_single(connection, "history_replica_lag", row=ReplicaLag)
