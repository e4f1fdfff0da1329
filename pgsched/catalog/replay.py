"""Replay: new attempts of finished slots (``pgsched.retry_run``), one by one or in bulk.

Each replay runs in a transaction of its own, so one refusal (a disabled job, a run
still going) neither undoes nor stops the others of a bulk replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

import psycopg

from pgsched.catalog.runs import Since
from pgsched.catalog.sessions import Connection, fetch_all, fetch_single

# A bulk replay takes at most this many slots unless told otherwise.
DEFAULT_BULK_LIMIT = 1000


class _Replayed(TypedDict):
    id: int
    job_name: str
    scheduled_for: datetime
    attempt: int
    status: str
    queued: bool


class _RunId(TypedDict):
    run_id: int


class FailedSlot(TypedDict):
    """A slot whose last attempt failed: the run a bulk replay replays."""

    id: int
    job_name: str
    scheduled_for: datetime
    attempt: int
    status: str


@dataclass(frozen=True)
class Replay:
    """What asking to replay run ``run_id`` did.

    ``new_run_id`` is the attempt that will run the slot (None when refused);
    ``queued`` says whether this call added it (False: the slot already had one
    pending or running); ``refusal`` is the database's reason for refusing.
    """

    run_id: int
    new_run_id: int | None = None
    job_name: str | None = None
    scheduled_for: datetime | None = None
    attempt: int | None = None
    status: str | None = None
    queued: bool = False
    refusal: str | None = None

    @property
    def outcome(self) -> str:
        """One word for the table: queued, pending, running or refused."""
        if self.refusal is not None:
            return "refused"
        return "queued" if self.queued else f"already {self.status}"


def retry_run(connection: Connection, run_id: int) -> Replay:
    """Replay run ``run_id``'s slot (``pgsched.retry_run``); a refusal is returned, not
    raised, with the database's message."""
    try:
        with connection.transaction():
            new_id = fetch_single(connection, "retry_run", {"run_id": run_id}, row=_RunId)
            row = fetch_single(
                connection, "replayed_run", {"run_id": new_id["run_id"]}, row=_Replayed
            )
    except (psycopg.errors.NoDataFound, psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        message = exc.diag.message_primary or str(exc)
        return Replay(run_id, refusal=message.removeprefix("pgsched.retry_run: "))
    return Replay(
        run_id,
        new_run_id=row["id"],
        job_name=row["job_name"],
        scheduled_for=row["scheduled_for"],
        attempt=row["attempt"],
        status=row["status"],
        queued=row["queued"],
    )


def failed_slots(
    connection: Connection, since: Since, job: str | None = None, limit: int = DEFAULT_BULK_LIMIT
) -> list[FailedSlot]:
    """Slots whose last attempt failed, timed out or was lost since ``since``, oldest
    failure first (optionally of ``job`` only)."""
    params = {"since_at": since.at, "since_seconds": since.seconds, "job": job, "limit": limit}
    return fetch_all(connection, "failed_slots_since", params, row=FailedSlot)


def retry_failed(
    connection: Connection, since: Since, job: str | None = None, limit: int = DEFAULT_BULK_LIMIT
) -> list[Replay]:
    """Replay every slot ``failed_slots`` finds; one ``Replay`` each."""
    return [
        retry_run(connection, slot["id"]) for slot in failed_slots(connection, since, job, limit)
    ]
