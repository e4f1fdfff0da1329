"""Replaying a run's slot from the HTTP API and the dashboard (``pgsched.retry_run``)."""

from __future__ import annotations

from pgsched.catalog import replay
from pgsched.catalog.replay import Replay
from pgsched.catalog.sessions import Connection
from pgsched.web.problems import Problem


def replay_or_refuse(connection: Connection, run_id: int) -> Replay:
    """The attempt that will run run ``run_id``'s slot: queued now, or already pending or
    running. A refusal is a 404 (no such run) or a 409 (not finished, a skipped record,
    a deleted, disabled or invalid job), with the database's reason."""
    replayed = replay.retry_run(connection, run_id)
    if replayed.refusal is not None:
        status = 404 if replayed.refusal.startswith("no run with id") else 409
        raise Problem(status, "The run cannot be replayed", replayed.refusal, kind="replay-refused")
    return replayed
