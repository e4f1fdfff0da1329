"""The audit: pure functions over the rows of ``jobs``, ``runs`` and ``workers``.

Nothing here touches a database, so a test can feed crafted rows and see each check
fail. A row is a mapping of column name to value, as psycopg's ``dict_row`` returns
it; instants are timezone-aware datetimes. Each check returns how many things it
looked at and one line per violation, naming run ids so a failure can be traced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pgsched.scheduling.schedule import parse_schedule

Row = Mapping[str, Any]

# A run whose start was never recorded (lost with its worker) counts from its claim,
# now() of the claim's transaction, taken when it began; the claim sees a finish (or
# a reap) committed while its statement ran, so such an attempt can seem to start a
# little before the one it follows finished. Overlaps up to this long are that
# artefact, not two attempts running at once.
CLAIM_SKEW = timedelta(seconds=1)
# Beyond lease + recovery interval + poll interval: a busy 2-core host delays the
# reaper's round and its commit.
RETRY_SLACK = timedelta(seconds=3)
# How many violations a check lists in full; the count is always exact.
SHOWN_VIOLATIONS = 10
EXECUTED_STATUSES = frozenset({"running", "succeeded", "failed", "timed_out", "lost", "cancelled"})
# The columns of a fenced-off run that no write may change once it was reaped.
FENCED_COLUMNS = ("status", "worker_id", "finished_at", "duration_ms", "error", "output", "fence")


@dataclass
class Check:
    """One audit check: what it covered and what it found wrong."""

    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.violations


@dataclass(frozen=True)
class Paused:
    """The worker paused past its lease, and its runs as they stood once reaped."""

    worker_id: str
    reaped: Mapping[int, Row]


@dataclass(frozen=True)
class Window:
    """The slots every job owes: those from ``start`` to ``end``, both included."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """The window's length, counting both ends as whole seconds."""
        return (self.end - self.start).total_seconds() + 1


def expected_slots(schedule: str, timezone: str, window: Window) -> Iterator[datetime]:
    """The slots of ``schedule`` from ``window.start`` to ``window.end``, by the worker's rules."""
    parsed = parse_schedule(schedule, timezone)
    slot = parsed.next_fire(window.start - timedelta(microseconds=1))
    while slot <= window.end:
        yield slot
        slot = parsed.next_fire(slot)


def _is_gap(run: Row) -> bool:
    """A skipped row standing for a range of slots passed over by a misfire policy."""
    return run["missed_until"] is not None


def check_first_attempts(jobs: Sequence[Row], runs: Iterable[Row], window: Window) -> Check:
    """Every slot in the window has exactly one first attempt, or is inside one gap record.

    Also flags first attempts at instants that are not slots of the schedule, and gap
    records whose ``missed_slots`` does not match the slots they cover.
    """
    check = Check("exactly one first attempt (or recorded gap) per slot")
    firsts: dict[int, dict[datetime, list[int]]] = defaultdict(lambda: defaultdict(list))
    gaps: dict[int, list[Row]] = defaultdict(list)
    for run in runs:
        if run["attempt"] != 1 or run["trigger"] == "manual":
            continue
        if _is_gap(run):
            gaps[run["job_id"]].append(run)
        else:
            firsts[run["job_id"]][run["scheduled_for"]].append(run["id"])
    for job in jobs:
        slots = list(expected_slots(job["schedule"], job["timezone"], window))
        check.checked += len(slots)
        job_firsts = firsts[job["id"]]
        for slot in slots:
            covering = [gap["id"] for gap in gaps[job["id"]] if _covers(gap, slot)]
            records = job_firsts.get(slot, []) + covering
            if not records:
                check.violations.append(
                    f"{job['name']} slot {_iso(slot)}: no first attempt and no gap record"
                )
            elif len(records) > 1:
                check.violations.append(
                    f"{job['name']} slot {_iso(slot)}: {len(records)} first attempts or gap "
                    f"records (run ids {', '.join(map(str, sorted(records)))})"
                )
        expected = set(slots)
        check.violations += [
            f"{job['name']}: run(s) {', '.join(map(str, ids))} at {_iso(at)}, not a slot"
            for at, ids in job_firsts.items()
            if window.start <= at <= window.end and at not in expected
        ]
        check.violations += _miscounted_gaps(job, gaps[job["id"]])
    return check


def _covers(gap: Row, slot: datetime) -> bool:
    return bool(gap["scheduled_for"] <= slot <= gap["missed_until"])


def _miscounted_gaps(job: Row, gaps: Iterable[Row]) -> list[str]:
    found = []
    for gap in gaps:
        if gap["missed_slots"] is None:  # more than the planner counts one by one
            continue
        span = Window(gap["scheduled_for"], gap["missed_until"])
        counted = sum(1 for _ in expected_slots(job["schedule"], job["timezone"], span))
        if counted != gap["missed_slots"]:
            found.append(
                f"{job['name']}: gap run {gap['id']} says {gap['missed_slots']} slot(s) "
                f"from {_iso(span.start)} to {_iso(span.end)}, the schedule has {counted}"
            )
    return found


@dataclass
class Overlaps:
    """Attempts that ran at the same time, and the largest start-before-finish skew
    seen within ``CLAIM_SKEW`` (how close the rows came to overlapping)."""

    check: Check
    largest_skew: timedelta = timedelta(0)


def check_no_overlap(jobs: Sequence[Row], runs: Iterable[Row], ended_at: datetime) -> Overlaps:
    """No two attempts of one slot ran at once; nor two runs of an ``overlap=skip`` job.

    An attempt runs from ``started_at`` to ``finished_at`` (still running: to
    ``ended_at``). A fenced-off attempt counts until it was reaped, its row's
    ``finished_at``: what the worker did after that was not recorded.
    """
    result = Overlaps(Check("no two attempts running at once (per slot; per skip job)"))
    by_slot: dict[tuple[int, datetime], list[Row]] = defaultdict(list)
    by_job: dict[int, list[Row]] = defaultdict(list)
    skip_jobs = {job["id"] for job in jobs if job["overlap"] == "skip"}
    for run in runs:
        if run["status"] not in EXECUTED_STATUSES or run["started_at"] is None:
            continue
        result.check.checked += 1
        by_slot[(run["job_id"], run["scheduled_for"])].append(run)
        if run["job_id"] in skip_jobs:
            by_job[run["job_id"]].append(run)
    names = {job["id"]: job["name"] for job in jobs}
    for groups, what in ((by_slot.values(), "attempts of one slot"), (by_job.values(), "runs")):
        for group in groups:
            if len(group) > 1:
                _overlapping(group, ended_at, names, what, result)
    return result


def _overlapping(
    group: list[Row], ended_at: datetime, names: Mapping[int, str], what: str, result: Overlaps
) -> None:
    """Sweep the group's intervals in start order against the latest end seen so far."""
    ordered = sorted(group, key=lambda run: (run["started_at"], run["id"]))
    latest = ordered[0]
    for run in ordered[1:]:
        end = latest["finished_at"] or ended_at
        overlap = end - run["started_at"]
        if overlap > CLAIM_SKEW:
            result.check.violations.append(
                f"{names.get(run['job_id'], run['job_id'])}: {what} overlap by "
                f"{overlap.total_seconds():.3f} s: run {latest['id']} "
                f"({_iso(latest['started_at'])} to {_iso(end)}) and run {run['id']} "
                f"(started {_iso(run['started_at'])})"
            )
        elif overlap > result.largest_skew:
            result.largest_skew = overlap
        if (run["finished_at"] or ended_at) > end:
            latest = run


@dataclass
class Retries:
    """Lost attempts and their retries, with the delays measured."""

    check: Check
    lost: int = 0
    with_attempts_left: int = 0
    retried: int = 0
    delays: list[timedelta] = field(default_factory=list)


def retry_bound(lease_seconds: float, poll_seconds: float) -> timedelta:
    """The longest a retry may take after its worker fell silent.

    The lease runs out, then the next recovery round (every lease / 3) of a live
    worker reaps the run and queues its retry; a poll interval and some slack on top.
    """
    return timedelta(seconds=lease_seconds * 4 / 3 + poll_seconds) + RETRY_SLACK


def check_retries(
    jobs: Sequence[Row],
    runs: Sequence[Row],
    workers: Sequence[Row],
    outages: Sequence[tuple[datetime, datetime]],
    poll_seconds: float,
) -> Retries:
    """Every lost attempt with attempts left has a next attempt, created in time.

    The loss happened at the worker's last heartbeat (or when the row was recorded
    lost, if earlier: an attempt interrupted at shutdown). Time the database was down
    does not count: nothing can be reaped then.
    """
    result = Retries(Check("every lost attempt with attempts left retried in time"))
    max_attempts = {job["id"]: job["max_attempts"] for job in jobs}
    names = {job["id"]: job["name"] for job in jobs}
    beats = {worker["id"]: worker for worker in workers}
    attempts = {(run["job_id"], run["scheduled_for"], run["attempt"]): run for run in runs}
    for run in runs:
        if run["status"] != "lost":
            continue
        result.lost += 1
        result.check.checked += 1
        if run["attempt"] >= max_attempts.get(run["job_id"], 1):
            continue
        result.with_attempts_left += 1
        retry = attempts.get((run["job_id"], run["scheduled_for"], run["attempt"] + 1))
        name = names.get(run["job_id"], run["job_id"])
        if retry is None:
            result.check.violations.append(
                f"{name}: lost run {run['id']} (attempt {run['attempt']} of "
                f"{max_attempts[run['job_id']]}, slot {_iso(run['scheduled_for'])}) has no retry"
            )
            continue
        result.retried += 1
        worker = beats.get(run["worker_id"])
        lost_at = run["finished_at"]
        if worker is not None:
            lost_at = min(lost_at, worker["last_heartbeat_at"])
        delay = retry["created_at"] - lost_at - _downtime(outages, lost_at, retry["created_at"])
        result.delays.append(delay)
        lease = worker["lease_seconds"] if worker is not None else 0
        bound = retry_bound(lease, poll_seconds)
        if delay > bound:
            result.check.violations.append(
                f"{name}: retry run {retry['id']} of lost run {run['id']} created "
                f"{delay.total_seconds():.1f} s after the loss "
                f"(bound {bound.total_seconds():.1f} s)"
            )
    return result


def _downtime(
    outages: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    total = timedelta(0)
    for down, up in outages:
        total += max(timedelta(0), min(end, up) - max(start, down))
    return total


def check_nothing_left(runs: Iterable[Row], at: datetime) -> Check:
    """No run is left ``running``, nor ``pending`` past its due time, at ``at``."""
    check = Check("nothing left running, or pending past due")
    for run in runs:
        check.checked += 1
        if run["status"] == "running":
            check.violations.append(
                f"run {run['id']} ({run['job_name']}, slot {_iso(run['scheduled_for'])}, "
                f"attempt {run['attempt']}) still running on {run['worker_id']}"
            )
        elif run["status"] == "pending" and (run["available_at"] or at) <= at:
            check.violations.append(
                f"run {run['id']} ({run['job_name']}, slot {_iso(run['scheduled_for'])}, "
                f"attempt {run['attempt']}) pending since {_iso(run['available_at'] or at)}"
            )
    return check


def check_fencing(paused: Paused | None, runs: Iterable[Row]) -> Check:
    """The paused worker's reaped runs stay as the reaper left them: ``lost``, its id,
    the reaper's finish. A late result written over them is a fencing failure."""
    check = Check("no result written by a fenced-off worker")
    if paused is None or not paused.reaped:
        check.violations.append("no run was fenced off: the pause found none to take over")
        return check
    final = {run["id"]: run for run in runs}
    for run_id, reaped in sorted(paused.reaped.items()):
        check.checked += 1
        if reaped["status"] != "lost":
            check.violations.append(
                f"run {run_id} of paused worker {paused.worker_id} was {reaped['status']}, "
                "not lost, when the worker resumed: it was never reaped"
            )
            continue
        now = final.get(run_id)
        if now is None:
            check.violations.append(f"run {run_id} of paused worker {paused.worker_id} vanished")
            continue
        changed = [column for column in FENCED_COLUMNS if now[column] != reaped[column]]
        if changed:
            check.violations.append(
                f"run {run_id} of paused worker {paused.worker_id} rewritten after it was "
                "reaped: " + ", ".join(f"{c} {reaped[c]!r} -> {now[c]!r}" for c in changed)
            )
    return check


def claimed_after_declared_dead(runs: Iterable[Row], workers: Sequence[Row]) -> list[int]:
    """Runs a worker claimed after the cluster had marked it stopped (a worker back from
    a pause claims until its next heartbeat is refused). Not a violation by itself: the
    reaper takes such runs at once and the fence drops their results."""
    stopped = {w["id"]: w["stopped_at"] for w in workers if w["stopped_at"] is not None}
    return [
        run["id"]
        for run in runs
        if run["started_at"] is not None
        and run["worker_id"] in stopped
        and run["started_at"] >= stopped[run["worker_id"]]
    ]


def check_clean_exits(stopped: Mapping[str, int | None], exited_early: Mapping[str, int]) -> Check:
    """Workers stopped with SIGTERM exit 0 (None: killed after a timeout), and none
    exits during the window without being killed."""
    check = Check("workers exit 0 on SIGTERM, and only then")
    for label, code in sorted(exited_early.items()):
        check.checked += 1
        check.violations.append(f"worker {label} exited by itself with code {code}")
    for label, stop_code in sorted(stopped.items()):
        if label in exited_early:
            continue
        check.checked += 1
        if stop_code is None:
            check.violations.append(f"worker {label} did not stop and was killed")
        elif stop_code != 0:
            check.violations.append(f"worker {label} exited with code {stop_code}")
    return check


def _iso(instant: datetime) -> str:
    """UTC time of day, with milliseconds when not on a whole second (windows are minutes)."""
    utc = instant.astimezone(UTC)
    return (
        f"{utc:%H:%M:%S}.{utc.microsecond // 1000:03}Z" if utc.microsecond else f"{utc:%H:%M:%S}Z"
    )
