"""Between query rows and models: what the claim and finish queries send and return.

Hot-path batches travel as one typed array per column (``unnest`` on the server),
which the planner sizes well enough to look each row up by key; rarer ones as one
JSON array of objects (``jsonb_to_recordset``). Each array is sent as one literal
string (``array_literal``), cast by the query: psycopg adapts a list element by
element in Python, and a list of 40 instants cost the worker ~0.4 ms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow, TupleRow

from pgsched.engine.job_rows import ClaimedJob, JobRow, UnscheduledJob, unreadable
from pgsched.engine.planner import JobPlan, PlannedRun
from pgsched.executors.base import ERROR_LIMIT_CHARS, OUTPUT_LIMIT_CHARS, truncate
from pgsched.models import Attempt, ClaimClock, EndedAttempt, RunStatus, Trigger


@dataclass(frozen=True)
class ClaimResult:
    """What one claim transaction started and cancelled, and the jobs it found invalid."""

    attempts: list[Attempt]
    cancelled_run_ids: list[int]
    job_errors: list[tuple[str, str]]
    # Per job, the slots it recorded skipped (each slot of a gap record counted).
    skipped_slots: list[tuple[str, int]] = field(default_factory=list)
    # Jobs with a circuit breaker as this claim left them: (name, queue, state).
    breakers: list[tuple[str, str, str]] = field(default_factory=list)
    # Probe slots this claim started: (name, queue, slot).
    probes: list[tuple[str, str, datetime]] = field(default_factory=list)
    # Breakers this claim opened (a superseded retry failed its slot): supersede_retries rows.
    opened: list[DictRow] = field(default_factory=list)


async def read_plans(
    plans: list[tuple[ClaimedJob, JobPlan]],
    clock: ClaimClock,
    cancelled_cursor: AsyncCursor[DictRow] | None,
    inserted_cursor: AsyncCursor[TupleRow],
    probes_cursor: AsyncCursor[DictRow] | None = None,
    superseded_cursor: AsyncCursor[DictRow] | None = None,
) -> ClaimResult:
    """The claim's outcome, from the answers of its committed writes."""
    inserted = await inserted_cursor.fetchall()
    # Breakers opened because a superseded retry ended its slot failed.
    opened = await superseded_cursor.fetchall() if superseded_cursor is not None else []
    probed = {}
    if probes_cursor is not None:
        probed = {row["job_id"]: row["probe_slot"] for row in await probes_cursor.fetchall()}
    cancelled: list[int] = []
    if cancelled_cursor is not None:
        cancelled = [
            run_id for row in await cancelled_cursor.fetchall() for run_id in row["run_ids"]
        ]
    jobs_by_id = {job.id: job for job, _ in plans}
    running = RunStatus.RUNNING
    # Rows of insert_planned_runs as tuples: (id, job_id, scheduled_for, shard, status,
    # trigger, fence, ...).
    attempts = [
        attempt_from(jobs_by_id[row[1]], row[0], row[6], row[2], 1, row[5], clock, row[3])
        for row in inserted
        if row[4] == running
    ]
    errors = [(job.name, p.last_error) for job, p in plans if p.last_error]
    skipped = [
        (job.name, run.missed_slots or 1)
        for job, p in plans
        for run in p.runs
        if run.status is RunStatus.SKIPPED
    ]
    breakers = [
        (job.name, job.queue, "half_open" if job.id in probed else job.breaker_state or "closed")
        for job, _ in plans
        if job.breaker_failures is not None
    ]
    probes = [(job.name, job.queue, probed[job.id]) for job, _ in plans if job.id in probed]
    return ClaimResult(attempts, cancelled, errors, skipped, breakers, probes, opened)


def attempt_from(
    job: ClaimedJob | JobRow,
    run_id: int,
    fence: int,
    scheduled_for: datetime,
    attempt: int,
    trigger: str,
    clock: ClaimClock,
    shard: int = 0,
    checkpoint: Any = None,
) -> Attempt:
    """The ``Attempt`` a worker executes, from a job row and its run's claim.

    Shard 0 resumes from the job's checkpoint, another shard from ``checkpoint`` (its
    own). A row whose args or checkpoint could not be read makes an attempt that fails
    without running (``refusal``).
    """
    if not shard:
        checkpoint = job.checkpoint
    why = unreadable(job.args, checkpoint)
    # Positional, in Attempt's field order: its 19 fields by keyword cost ~0.7 us more
    # an attempt, one per claimed run.
    return Attempt(
        run_id,
        fence,
        job.id,
        job.name,
        job.kind,
        job.target,
        {} if why else job.args,
        scheduled_for,
        attempt,
        job.max_attempts,
        job.timeout_seconds,
        _TRIGGERS[trigger],
        None if why else checkpoint,
        clock,
        why and f"this job's row cannot be read: {why}",
        job.warn_after_seconds,
        shard,
        job.shards,
        job.breaker_failures is not None,
    )


# Trigger(text) through the enum's lookup machinery, once per claimed attempt, cost more
# than the rest of the attempt's fields together.
_TRIGGERS = {trigger.value: trigger for trigger in Trigger}


def advance_params(
    plans: Sequence[tuple[ClaimedJob, JobPlan]] | Sequence[tuple[UnscheduledJob, JobPlan]],
) -> dict[str, Any]:
    """Parameters of ``advance_jobs``: each planned job's next ``next_run`` and error."""
    return {
        "job_ids": array_literal([job.id for job, _ in plans]),
        "next_runs": array_literal([job_plan.next_run for _, job_plan in plans]),
        "last_errors": array_literal(
            [db_text(job_plan.last_error, ERROR_LIMIT_CHARS) for _, job_plan in plans]
        ),
    }


def planned_runs_query(rows: Sequence[tuple[ClaimedJob, PlannedRun]]) -> str:
    """The block that records a claim's planned runs: the plain one unless a run may
    extend a skip record or a job fans out to shards."""
    if any(run.compact for _, run in rows) or any(job.shards > 1 for job, _ in rows):
        return "insert_planned_runs"
    return "insert_planned_runs_plain"


def planned_runs_params(
    worker_id: str, rows: Sequence[tuple[ClaimedJob, PlannedRun]]
) -> dict[str, Any]:
    """Parameters of ``insert_planned_runs`` (and its plain form): one row per planned run."""
    return {
        "worker_id": worker_id,
        "job_ids": array_literal([job.id for job, _ in rows]),
        "job_names": array_literal([job.name for job, _ in rows]),
        "scheduled_fors": array_literal([run.scheduled_for for _, run in rows]),
        "statuses": array_literal([run.status for _, run in rows]),
        "triggers": array_literal([run.trigger for _, run in rows]),
        "queues": array_literal([job.queue for job, _ in rows]),
        "errors": array_literal([run.error for _, run in rows]),
        "missed_untils": array_literal([run.missed_until for _, run in rows]),
        "missed_slots": array_literal([run.missed_slots for _, run in rows]),
        "compacts": array_literal([run.compact for _, run in rows]),
        "shards": array_literal([job.shards for job, _ in rows]),
    }


def probe_params(plans: list[tuple[ClaimedJob, JobPlan]]) -> dict[str, Any] | None:
    """Parameters of ``half_open_breakers``: the probe slots planned; None when none."""
    rows = [
        {"job_id": job.id, "probe_slot": job_plan.breaker_probe}
        for job, job_plan in plans
        if job_plan.breaker_probe is not None
    ]
    return {"rows": json_rows(rows)} if rows else None


def finish_query(ended: Sequence[EndedAttempt]) -> str:
    """The block that records ``ended``: the lean one when every attempt succeeded and
    none had a circuit breaker (nothing to retry, no breaker to move)."""
    if any(e.attempt.breaker or e.outcome.status is not RunStatus.SUCCEEDED for e in ended):
        return "finish_runs"
    return "finish_succeeded_runs"


def finish_params(ended: Sequence[EndedAttempt]) -> dict[str, Any]:
    """Parameters of ``finish_runs`` (and its lean form): how each attempt ended, its
    error and output cut to what a run keeps, whichever executor produced them."""
    return {
        "run_ids": array_literal([e.attempt.run_id for e in ended]),
        "fences": array_literal([e.attempt.fence for e in ended]),
        "statuses": array_literal([e.outcome.status.value for e in ended]),
        "errors": array_literal([db_text(e.outcome.error, ERROR_LIMIT_CHARS) for e in ended]),
        "outputs": array_literal([db_text(e.outcome.output, OUTPUT_LIMIT_CHARS) for e in ended]),
        "durations": array_literal([float(e.duration_ms) for e in ended]),
        "retryables": array_literal([e.outcome.retryable for e in ended]),
        "started_ats": array_literal([e.started_at for e in ended], kept=False),
        "breakers": any(e.attempt.breaker for e in ended),
    }


def array_literal(values: Iterable[Any], kept: bool = True) -> str:
    """``values`` as one PostgreSQL array literal, None as NULL, for a parameter the
    query casts to the array's type (``%(run_ids)s::bigint[]``). A column holds values
    of one type, and None; equal values read back equal (-0.0 as 0.0). ``kept=False``:
    values seen once (the instants attempts began), converted without the memo."""
    items = values if type(values) is list else list(values)
    count = len(items)
    if not count:
        return "{}"
    first = items[0]
    # Many columns of a batch hold one value throughout (a claim's statuses, triggers,
    # queues and slot; a finish batch's NULL errors and outputs): converted once. The
    # last element is compared first: a column of distinct values fails at once.
    if items[-1] == first and items.count(first) == count:
        return "{" + ",".join([_element(first)] * count) + "}"
    kind = type(first)
    # Ids, fences, durations: the list's own text (C, no call per element) is the
    # literal's, once every element is known to be of that type (a bool is not an int).
    if (kind is int or kind is float) and set(map(type, items)) == {kind}:
        return "{" + str(items)[1:-1] + "}"
    # Batches repeat texts and instants: every claim of an every-second job sends its
    # name again. Each distinct one is converted once and kept (up to _MEMO_MAX) across
    # batches, and a column whose values are all kept is read through the memo in C.
    # Only texts (enum members too), instants and None are kept: none of them equals a
    # value of another kind, whereas True == 1 == 1.0. Equal aware instants in other
    # zones read back the same, as every instant array is timestamptz[].
    if not kept:
        return "{" + ",".join([_element(value) for value in items]) + "}"
    memo = _MEMO
    try:
        return "{" + ",".join(map(memo.__getitem__, items)) + "}"
    except KeyError:
        pass
    if len(memo) > _MEMO_MAX:
        memo.clear()
        memo[None] = "NULL"
    parts: list[str] = []
    append = parts.append
    for value in items:
        kind = type(value)
        if kind is int:
            append(str(value))
        elif kind is datetime or isinstance(value, str):
            text = memo.get(value)
            if text is None:
                text = memo[value] = _element(value)
            append(text)
        else:
            append(_element(value))
    return "{" + ",".join(parts) + "}"


def _element(value: Any) -> str:
    """One element of an array literal."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "NULL"
    if isinstance(value, str):  # RunStatus and Trigger members too, as their text
        return _quoted(value)
    return _ELEMENTS[type(value)](value)


# Texts and instants already converted by array_literal; cleared when it grows past
# _MEMO_MAX (a few MB), so a million distinct names cost a rebuild, not memory.
_MEMO: dict[Any, str] = {None: "NULL"}
_MEMO_MAX = 50_000


def _quoted(text: str) -> str:
    # Quoted, any text is one element: commas, braces, spaces, the word NULL.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ELEMENTS: dict[type, Callable[[Any], str]] = {
    bool: lambda value: "t" if value else "f",
    # repr: the shortest text that reads back as the same float (nan, inf included).
    float: repr,
    datetime: datetime.isoformat,
}


def json_rows(rows: Iterable[dict[str, Any]]) -> str:
    """A batch as the JSON array ``jsonb_to_recordset`` reads; instants in ISO 8601."""
    return json.dumps(list(rows), default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} in a batch")


def db_text(value: str | None, limit: int) -> str | None:
    """Text for a run or job column: no NUL characters, no lone surrogates, and at most
    ``limit`` characters, whatever wrote it (the rest is dropped with a note)."""
    if not value:
        return value
    text = value.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\\0")
    return truncate(text, limit)
