"""Job rows as the worker's claim queries return them: named tuples, not dicts.

A busy worker reads thousands of job rows a second, each of two dozen columns. As a
dict (psycopg's ``dict_row``) a row cost ~1 us more than as a tuple, built in C; a
named tuple is that tuple, its columns read by name at a dict lookup's cost. Each
class names its query's columns in the query's order, and ``named_rows`` checks them
against the answer's: a query whose columns change fails its first execution, rather
than reading one column as another.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

from psycopg import AsyncCursor
from psycopg.rows import RowMaker

from pgsched.db.json_values import UndecodableJson, undecodable


class JobRow(NamedTuple):
    """A job's definition, as ``load_jobs`` reads it (pending attempts' jobs)."""

    id: int
    name: str
    schedule: str
    timezone: str
    kind: str
    target: str
    args: Any
    timeout_seconds: int
    max_attempts: int
    overlap: str
    misfire: str
    misfire_threshold_seconds: int
    queue: str
    priority: int
    next_run: datetime | None
    checkpoint: Any
    warn_after_seconds: int | None
    shards: int
    breaker_failures: int | None


class ClaimedJob(NamedTuple):
    """A job locked by ``claim_due_jobs``: its definition (``JobRow``'s columns, in the
    same order), then what the planner needs to know of it now."""

    id: int
    name: str
    schedule: str
    timezone: str
    kind: str
    target: str
    args: Any
    timeout_seconds: int
    max_attempts: int
    overlap: str
    misfire: str
    misfire_threshold_seconds: int
    queue: str
    priority: int
    next_run: datetime | None
    checkpoint: Any
    warn_after_seconds: int | None
    shards: int
    breaker_failures: int | None
    running_run_ids: list[int]
    queued_runs: int
    database_now: datetime
    breaker_state: str | None
    breaker_open_until: datetime | None
    breaker_probe_slot: datetime | None

    @property
    def unreadable(self) -> str | None:
        """Why the row's args or checkpoint could not be read, or None."""
        return unreadable(self.args, self.checkpoint)


class UnscheduledJob(NamedTuple):
    """A job without a ``next_run``, as ``claim_unscheduled_jobs`` reads it: only what
    the planner needs to give it its first slot."""

    id: int
    name: str
    schedule: str
    timezone: str
    overlap: str
    misfire: str
    misfire_threshold_seconds: int
    next_run: datetime | None
    running_run_ids: list[int]
    queued_runs: int
    database_now: datetime

    # Not read for a job's first slot: its first claim when due reads them.
    @property
    def unreadable(self) -> None:
        """Never known here: args and checkpoint are not read."""
        return None

    @property
    def breaker_state(self) -> None:
        """Not read here (no slot fires)."""
        return None

    @property
    def breaker_open_until(self) -> None:
        """Not read here (no slot fires)."""
        return None

    @property
    def breaker_probe_slot(self) -> None:
        """Not read here (no slot fires)."""
        return None


Row = TypeVar("Row", JobRow, ClaimedJob, UnscheduledJob)


def named_rows(kind: type[Row]) -> Callable[[AsyncCursor[Any]], RowMaker[Row]]:
    """A psycopg row factory making each row a ``kind``, after checking that the
    answer's columns are ``kind``'s, in its order."""
    expected = tuple(name.encode() for name in kind._fields)
    # tuple.__new__ in C: no Python frame per row, unlike NamedTuple._make.
    make = partial(tuple.__new__, kind)

    def factory(cursor: AsyncCursor[Any]) -> RowMaker[Row]:
        result = cursor.pgresult
        if result is not None and result.nfields:
            names = tuple(result.fname(i) for i in range(result.nfields))
            if names != expected:
                raise TypeError(f"{kind.__name__} expects columns {expected}, got {names}")
        return make

    return factory


def unreadable(args: Any, checkpoint: Any) -> str | None:
    """Why a job row's args or checkpoint could not be read, or None (the common case
    tested first: ``undecodable`` builds a dict of keyword arguments each call)."""
    if type(args) is not UndecodableJson and type(checkpoint) is not UndecodableJson:
        return None
    return undecodable(args=args, checkpoint=checkpoint)
