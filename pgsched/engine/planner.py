"""The planner: turns a due job into the runs to record and its next ``next_run``.

Pure (no I/O, no clock of its own): the claim passes the database's ``now()``.
For one claimed job it decides

- which slots between ``next_run`` and now fire, which a misfire policy passes
  over (recorded as one *gap* row: a skipped run standing for a range of slots),
- what the overlap policy makes of each fired slot while the job still runs
  (start it, queue it as pending, record it skipped, or cancel the running one),
- and the next fire time after now.

A job claimed ahead of its slot (fire-ahead: ``next_run`` is after ``now``) fires
that one slot, which the worker holds until its instant; if the job turns out to be
running, nothing is planned and its slot is claimed once due, under the rules below.

A slot late by at most ``misfire_threshold_seconds`` simply runs late. Beyond it:
``run_once`` fires the latest missed slot as one catch-up run (none if an on-time
slot fires anyway); ``skip`` fires none; ``run_all`` fires the latest
``RUN_ALL_LIMIT`` missed slots. Every slot passed over lands in a gap row.

A job whose circuit breaker is open fires no slot before the end of its cool-down:
those slots are recorded skipped, saying so (consecutive ones as one record). The
first slot after it is the probe (the breaker turns half-open); while half-open,
every other slot is recorded skipped. What a slot's outcome does to the breaker is
``pgsched.breaker_record``'s (sql/functions/breaker_record.v1.sql) to decide.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache

from pgsched.engine.plannable import Plannable
from pgsched.errors import PgschedError
from pgsched.models import RunStatus, Trigger
from pgsched.scheduling.schedule import Schedule, parse_schedule

# run_all fires at most this many missed slots per claim; older ones become a gap.
RUN_ALL_LIMIT = 100
# Missed slots are counted one by one up to here; past it a gap says "more than".
COUNT_LIMIT = 1000
# A schedule only Python can reject is looked at again after this long, so a bad
# row neither spins a worker nor is forgotten once fixed.
INVALID_SCHEDULE_RECHECK = timedelta(minutes=5)
# overlap=queue keeps at most this many slots waiting behind a running attempt; more
# are recorded skipped, so a job slower than its schedule cannot grow a backlog
# without bound.
MAX_QUEUED_SLOTS = 10
# The finest step between two slots (schedules have whole seconds).
RESOLUTION = timedelta(microseconds=1)


@dataclass(frozen=True)
class PlannedRun:
    """A first-attempt row to insert for one slot (or a gap of slots)."""

    scheduled_for: datetime
    trigger: Trigger
    status: RunStatus
    error: str | None = None
    missed_until: datetime | None = None
    missed_slots: int | None = None
    # Skipped behind a running attempt: extends the job's latest record if that is
    # a skip for the same reason, so consecutive skips are one row.
    compact: bool = False


@dataclass(frozen=True)
class JobPlan:
    """The outcome of planning one job at one instant."""

    next_run: datetime
    runs: list[PlannedRun] = field(default_factory=list)
    cancel_run_ids: tuple[int, ...] = ()
    last_error: str | None = None
    # The slot fired as the probe of an open circuit breaker (it turns half-open).
    breaker_probe: datetime | None = None

    # Read for every job of a claim, of plans its jobs mostly share: found once a plan.
    @cached_property
    def started(self) -> PlannedRun | None:
        """The run to start now on this worker, if any (at most one per job and claim)."""
        return next((run for run in self.runs if run.status is RunStatus.RUNNING), None)


def plan_job(job: Plannable, now: datetime) -> JobPlan:
    """Plan ``job`` at the database instant ``now``.

    A job that cannot be planned, or whose row cannot be read, gets ``last_error`` and
    is looked at again later; it never stops the claim of the other jobs.
    """
    if job.unreadable is not None:
        return JobPlan(
            next_run=now + INVALID_SCHEDULE_RECHECK,
            last_error=f"this job's row cannot be read: {job.unreadable}",
        )
    try:
        return _plan(job, now)
    except PgschedError as exc:
        return JobPlan(next_run=now + INVALID_SCHEDULE_RECHECK, last_error=str(exc))
    except Exception as exc:  # a planner bug must fail one job, not the worker
        error = f"pgsched could not plan this job: {exc!r}"
        return JobPlan(next_run=now + INVALID_SCHEDULE_RECHECK, last_error=error)


def _plan(job: Plannable, now: datetime) -> JobPlan:
    schedule = parse_schedule(job.schedule, job.timezone, job.name)
    if job.next_run is None:
        # A new or changed job starts from its next slot; nothing is owed for the past.
        return JobPlan(next_run=schedule.next_fire(now))
    if job.next_run > now:
        probe = _is_probe(job, job.next_run)
        if job.running_run_ids or (_breaker_holds(job) and not probe):
            # Claimed once due: then the overlap rules, or the breaker's skip record.
            return JobPlan(next_run=job.next_run)
        ahead = PlannedRun(job.next_run, Trigger.SCHEDULE, RunStatus.RUNNING)
        return JobPlan(
            next_run=schedule.next_fire(job.next_run),
            runs=[ahead],
            breaker_probe=job.next_run if probe else None,
        )

    slots, beyond, next_run = _due_slots(schedule, job.next_run, now)
    threshold = timedelta(seconds=job.misfire_threshold_seconds)
    gap: PlannedRun | None = None
    if beyond is None:
        # Slots ascend: those late by more than the threshold come first.
        first_on_time = bisect_left(slots, now - threshold)
        late, on_time = slots[:first_on_time], slots[first_on_time:]
        fires, passed_over = _apply_misfire_policy(job.misfire, on_time, late)
        if passed_over:
            gap = _gap(job, passed_over[0], passed_over[-1], len(passed_over))
    else:
        # Too many slots to list (an every-second job after hours of downtime):
        # at most the latest slot fires, in every policy, and a gap covers the rest.
        fires = []
        if now - beyond <= threshold:
            fires = [(beyond, Trigger.SCHEDULE)]
        elif job.misfire != "skip":
            fires = [(beyond, Trigger.CATCHUP)]
        gap_end = beyond
        if fires:
            gap_end = _last_slot_at_or_before(schedule, beyond - RESOLUTION, after=slots[-1])
        gap = _gap(job, slots[0], gap_end, None)

    fires, held = _apply_breaker(job, fires)
    overlap_runs, cancel = _apply_overlap_policy(job, fires)
    probe_slot = None
    if fires and _is_probe(job, fires[0][0]):
        probe_slot = next((run.scheduled_for for run in overlap_runs if run.status in _FIRED), None)
    if held:
        overlap_runs = sorted([*held, *overlap_runs], key=lambda run: run.scheduled_for)
    if gap:
        # The record to extend would lie before the gap: the slots would not be consecutive.
        overlap_runs = [replace(run, compact=False) for run in overlap_runs]
    runs = [gap, *overlap_runs] if gap else overlap_runs
    return JobPlan(next_run=next_run, runs=runs, cancel_run_ids=cancel, breaker_probe=probe_slot)


_FIRED = (RunStatus.RUNNING, RunStatus.PENDING)


def _breaker_holds(job: Plannable) -> bool:
    """Whether the job's circuit breaker keeps some slots from running."""
    return job.breaker_state in ("open", "half_open")


def _is_probe(job: Plannable, slot: datetime) -> bool:
    """Whether ``slot`` would be the probe of the job's open breaker (cool-down over)."""
    return (
        job.breaker_state == "open"
        and job.breaker_open_until is not None
        and slot >= job.breaker_open_until
    )


def _apply_breaker(
    job: Plannable, fires: list[tuple[datetime, Trigger]]
) -> tuple[list[tuple[datetime, Trigger]], list[PlannedRun]]:
    """Split fired slots into those the circuit breaker lets fire (all of them when
    closed; at most the probe when open) and the skip records of the others."""
    if not fires or not _breaker_holds(job):
        return fires, []
    if job.breaker_state == "half_open":
        waiting = f"circuit breaker half-open: waiting for the probe slot {_iso_or_none(job)}"
        return [], [_skipped_span(fires, waiting, compact=True)]
    assert job.breaker_open_until is not None
    until = job.breaker_open_until
    blocked = [fire for fire in fires if fire[0] < until]
    after = [fire for fire in fires if fire[0] >= until]
    held = []
    if blocked:
        reason = f"circuit breaker open until {_iso(until)}"
        held.append(_skipped_span(blocked, reason, compact=True))
    if len(after) > 1:
        reason = f"circuit breaker half-open: waiting for the probe slot {_iso(after[0][0])}"
        held.append(_skipped_span(after[1:], reason, compact=False))
    return after[:1], held


def _iso_or_none(job: Plannable) -> str:
    return _iso(job.breaker_probe_slot) if job.breaker_probe_slot else "(unknown)"


def _due_slots(
    schedule: Schedule, first: datetime, now: datetime
) -> tuple[list[datetime], datetime | None, datetime]:
    """Slots from ``first`` up to ``now`` (at most ``COUNT_LIMIT`` of them); when there
    are more, the latest slot <= ``now`` (else None); and the first slot after ``now``."""
    slots: list[datetime] = []
    slot = first
    while slot <= now and len(slots) < COUNT_LIMIT:
        slots.append(slot)
        slot = schedule.next_fire(slot)
    if slot > now:
        return slots, None, slot if slots else schedule.next_fire(now)
    last = _last_slot_at_or_before(schedule, now, after=slot)
    return slots, last, schedule.next_fire(last)


def _last_slot_at_or_before(schedule: Schedule, now: datetime, after: datetime) -> datetime:
    """The latest slot <= ``now``, knowing ``after`` is one: search back, then walk forward."""
    step = timedelta(seconds=1)
    probe = schedule.next_fire(now - step)
    while probe > now and now - step > after:
        step *= 2
        probe = schedule.next_fire(max(now - step, after))
    last = after if probe > now else probe
    following = schedule.next_fire(last)
    while following <= now:
        last, following = following, schedule.next_fire(following)
    return last


def _apply_misfire_policy(
    policy: str, on_time: list[datetime], late: list[datetime]
) -> tuple[list[tuple[datetime, Trigger]], list[datetime]]:
    """Split slots into those to fire (with their trigger) and those passed over."""
    fires = [(slot, Trigger.SCHEDULE) for slot in on_time]
    if not late:
        return fires, []
    if policy == "skip":
        return fires, late
    if policy == "run_all":
        caught_up = late[-RUN_ALL_LIMIT:]
        return [(slot, Trigger.CATCHUP) for slot in caught_up] + fires, late[: -len(caught_up)]
    # run_once: one catch-up run, unless an on-time slot runs anyway.
    if fires:
        return fires, late
    return [(late[-1], Trigger.CATCHUP)], late[:-1]


def _gap(job: Plannable, first: datetime, last: datetime, count: int | None) -> PlannedRun:
    """One skipped row standing for the passed-over slots ``first``..``last``."""
    counted = str(count) if count is not None else f"more than {COUNT_LIMIT}"
    return PlannedRun(
        scheduled_for=first,
        trigger=Trigger.SCHEDULE,
        status=RunStatus.SKIPPED,
        error=(
            f"missed {counted} slot(s) from {_iso(first)} to {_iso(last)}: later than "
            f"misfire_threshold_seconds={job.misfire_threshold_seconds} "
            f"(misfire={job.misfire})"
        ),
        missed_until=last,
        missed_slots=count,
    )


def _apply_overlap_policy(
    job: Plannable, fires: list[tuple[datetime, Trigger]]
) -> tuple[list[PlannedRun], tuple[int, ...]]:
    """Turn fired slots into rows given the job's running attempts and overlap policy."""
    if not fires:
        return [], ()
    running = tuple(job.running_run_ids)
    if job.overlap == "replace":
        *replaced, (newest, trigger) = fires
        rows = [
            _skipped(slot, kind, f"overlap=replace: superseded by the slot {_iso(newest)}")
            for slot, kind in replaced
        ]
        return [*rows, PlannedRun(newest, trigger, RunStatus.RUNNING)], running
    if running and job.overlap == "skip":
        reason = f"overlap=skip: run {', '.join(map(str, running))} of this job was still running"
        return [_skipped_span(fires, reason, compact=True)], ()
    if running and job.overlap == "queue":
        room = max(0, MAX_QUEUED_SLOTS - job.queued_runs)
        full = f"overlap=queue: {MAX_QUEUED_SLOTS} slots already wait for this job"
        rows = [PlannedRun(slot, kind, RunStatus.PENDING) for slot, kind in fires[:room]]
        return rows + [_skipped(slot, kind, full) for slot, kind in fires[room:]], ()
    if running:  # allow
        first = PlannedRun(fires[0][0], fires[0][1], RunStatus.RUNNING)
        return [first, *(PlannedRun(slot, kind, RunStatus.PENDING) for slot, kind in fires[1:])], ()
    (first_slot, first_trigger), *rest = fires
    first = PlannedRun(first_slot, first_trigger, RunStatus.RUNNING)
    if not rest:
        return [first], ()
    # run_all asked for every slot: they queue. Otherwise a burst of on-time slots
    # for a skip job is one run, and the rest one record of skipped slots.
    if job.overlap == "skip" and job.misfire != "run_all":
        reason = f"overlap=skip: the slot {_iso(first_slot)} started in the same claim"
        return [first, _skipped_span(rest, reason, compact=False)], ()
    return [first, *(PlannedRun(slot, kind, RunStatus.PENDING) for slot, kind in rest)], ()


def _skipped_span(slots: list[tuple[datetime, Trigger]], reason: str, compact: bool) -> PlannedRun:
    """Consecutive slots skipped for one reason, as one row: first slot, last, count."""
    (first, trigger), (last, _) = slots[0], slots[-1]
    count = len(slots)
    return PlannedRun(
        first,
        trigger,
        RunStatus.SKIPPED,
        error=reason,
        missed_until=last if count > 1 else None,
        missed_slots=count if count > 1 else None,
        compact=compact,
    )


def _skipped(slot: datetime, trigger: Trigger, reason: str) -> PlannedRun:
    return PlannedRun(slot, trigger, RunStatus.SKIPPED, error=reason)


@lru_cache(maxsize=1024)  # the jobs of one claim mostly share their slots
def _iso(instant: datetime) -> str:
    # In UTC whatever the session's time zone: equal instants share one cache entry.
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
