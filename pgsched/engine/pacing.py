"""Claim pacing: when the claim loop looks at the database, and for what.

Pure: no I/O and no clock of its own (callers pass the monotonic ``now``), so its
rules are unit-tested in microseconds. The worker asks it before each claim
(gather a few more finishes? look for pending attempts? how far ahead?) and after
(how long to sleep), and tells it about wake-ups and finished attempts. How many
attempts a claim takes is ``claim_sizing``'s part.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from pgsched.engine.claim_sizing import FIRE_AHEAD_CLAIM_MAX, ClaimSizing
from pgsched.engine.claims import DueIn
from pgsched.executors.python_held import HAND_OVER_LEAD_SECONDS

# When due work exists but other workers hold it, look again after this long, then
# twice as long each time up to the maximum: slow enough not to spin when rows stay
# locked (a capped queue, a user's open transaction), quick enough that a worker
# does not idle beside a busy one.
CONTENDED_RETRY_SECONDS = 0.01
CONTENDED_MAX_SECONDS = 0.1
# Under backlog, how long to wait for more capacity before claiming a small batch.
BATCH_GATHER_SECONDS = 0.005
# Under backlog, pending attempts (retries, manual runs) are looked for this often.
BACKLOG_PENDING_CHECK_SECONDS = 0.1
# Fire-ahead: slots due within this window are claimed early and held until their
# instant. The window follows the claim's own latency (a few claims' worth, so the
# slot is held before it is due, plus the time python slots are handed to their
# processes ahead of it) within these bounds; the upper one is the longest a disable
# can come too late for a slot (docs/guarantees.md).
FIRE_AHEAD_MIN_SECONDS = 0.05
FIRE_AHEAD_MAX_SECONDS = 0.5
FIRE_AHEAD_LATENCIES = 4
# And at least this many times the slowest of the last LATENCY_MEMORY claims that took
# slots: on a busy host one claim in ten or twenty takes three to five times the
# average, and a claim ahead answered after the hand-over time starts its instant late
# (bench/README.md, Round 8).
FIRE_AHEAD_WORST_LATENCIES = 2
LATENCY_MEMORY = 10
# Weight of the newest claim latency in its running average.
LATENCY_SMOOTHING = 0.2
# Once a claim ahead took FIRE_AHEAD_CLAIM_MAX slots (``claim_sizing``), and other live
# workers serve its queues, the rest of its instants' slots are left to them until the
# instant is this many claim latencies (plus the hand-over lead) away: a worker that
# claimed again at once would take them before another wakes for them (the one with the
# larger claim latency wakes first, and taking both halves makes its latency the
# larger). Another wakes before that late point while its latency is more than a quarter
# of this one's (4 L_b > 1 L_a): at two latencies (round 7) it had to be more than half,
# and the worker holding both halves, busier, its claims slower, soon kept them all.
# Later, what is left is claimed, answered about when its slots are handed over (a
# worker whose peer stalls pays that wait until the peer's lease ends: bench/README.md,
# Round 8).
SHARE_LATE_CLAIM_LATENCIES = 1
# Shell, http and sql slots are held only up to --concurrency (``release.py`` hands
# back the rest before their instant). Once a claim brought more, the worker's
# claims stay within --concurrency's room until this long after the latest instant it
# could have held (FIRE_AHEAD_MAX_SECONDS away): it would take the handed-back slots
# again at once otherwise, and an instant's burst is claimed by then.
SURPLUS_CAUTION_SECONDS = 2.0


@dataclass
class ClaimPacer(ClaimSizing):
    """The claim loop's pacing state for one worker; ``ClaimSizing`` sizes its claims."""

    concurrency: int
    poll_interval: float
    # The last claim took all it could: more was due than capacity.
    backlog: bool = False
    # Jobs may be waiting for their first next_run (start-up, a NOTIFY, a bulk INSERT).
    more_to_schedule: bool = True
    # Pending attempts may be startable: look for them on the next claim.
    check_pending: bool = True
    # Pending attempts wait for their job's running attempt to end.
    pending_blocked: bool = False
    pending_due_at: float | None = None
    pending_checked_at: float = 0.0
    # Whether this round's claim looked for pending attempts.
    pending_looked: bool = False
    # Claims that found due work but could take none of it, in a row.
    empty_claims: int = 0
    claim_latency: float = 0.0
    # The latencies of the last LATENCY_MEMORY claims that took slots.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_MEMORY))
    # A job's slot may come within the fire-ahead window before the next poll: the
    # database clock is worth reading for the slots about to be held.
    slot_soon: bool = True
    # The last look found no room: the claim loop sleeps until an attempt ends.
    full: bool = False
    # Until then (monotonic), claims stay within --concurrency (``surplus_seen``).
    within_concurrency_until: float = 0.0
    # Until then (monotonic), the window is narrowed (``share_taken``).
    share_taken_until: float = 0.0
    # Of the attempts the recent claims brought, the largest share of shell, http and
    # sql ones (``kinds_claimed``); all of them until a claim says: the first claims
    # take no more than --concurrency's room.
    side_share: float = 1.0
    # --concurrency's room at the last ``room``: what claims ahead that must stay
    # within it may take (it may be below zero).
    side_room: int = 0
    # The python room at the last ``room``: what a claim ahead may take, should its
    # slots be due already (``ahead_limit``).
    python_room: int = 0
    # --concurrency less every attempt the worker holds but those held for a later
    # instant, at the last ``room``: what pending attempts (of any kind, never handed
    # back, shards of a slot among them) may take.
    pending_room: int = 0
    # Slots due until then (monotonic) were within the last claim's window (``claim_sent``).
    claim_reach: float = math.inf
    # The next job slot (monotonic) as the last look at the database saw it; infinite
    # when no job was scheduled (``idle_delay``).
    next_slot_at: float = -math.inf

    @property
    def gather_floor(self) -> int:
        """Under backlog, claim only once this many slots are free (or after one gather
        wait): a claim's five statements and two round trips cost the worker and the
        database much the same for 25 jobs as for 50, and the half still in flight
        keeps the python processes busy meanwhile (a quarter: 0.16 statements per
        run, half: 0.10, and 15 % less CPU per run on both sides; bench/README.md)."""
        return max(1, self.concurrency // 2)

    @property
    def ahead_seconds(self) -> float:
        """How far ahead of their slots to claim: none under backlog (due work first)."""
        if self.backlog:
            return 0.0
        worst = FIRE_AHEAD_WORST_LATENCIES * max(self.latencies, default=0.0)
        window = max(FIRE_AHEAD_LATENCIES * self.claim_latency, worst) + HAND_OVER_LEAD_SECONDS
        return min(FIRE_AHEAD_MAX_SECONDS, max(FIRE_AHEAD_MIN_SECONDS, window))

    def ahead_window(self, now: float, slot: float | None = None) -> float:
        """How far ahead to claim at ``now`` (for the next slot, due at ``slot``, when it
        is known): ``ahead_seconds``, narrowed for a while after a claim ahead took a
        whole share (``share_taken``), for the instants that claim could reach only.
        Slots due now are within any window: an instant already due is claimed as fast
        as ever."""
        window = self.ahead_seconds
        # The next instant's slots are claimed over the whole window: narrowed, the
        # sleep after an instant's claims woke every worker at the late point of the
        # next one, where its claim answers about at the hand-over time.
        if now < self.share_taken_until and (slot is None or slot < self.share_taken_until):
            late = SHARE_LATE_CLAIM_LATENCIES * self.claim_latency + HAND_OVER_LEAD_SECONDS
            return min(window, late)
        return window

    def claim_sent(self, now: float, window: float) -> None:
        """A claim of due jobs was sent at ``now``, ``window`` seconds ahead."""
        self.claim_reach = now + window

    def share_taken(self, took: int, window: float, now: float, peers: bool) -> None:
        """A claim ahead over ``window`` seconds took ``took`` slots at ``now``: if that
        was a whole share (``FIRE_AHEAD_CLAIM_MAX``) and ``peers`` (other live workers
        serve one of this worker's queues), narrow the window until the instants it
        could reach have passed, leaving their other slots to the other workers until
        ``SHARE_LATE_CLAIM_LATENCIES`` claims before them. A lone worker claims on."""
        if took >= FIRE_AHEAD_CLAIM_MAX and window > 0 and peers:
            self.share_taken_until = max(self.share_taken_until, now + window)

    def surplus_seen(self, now: float) -> None:
        """A claim brought shell, http or sql slots beyond --concurrency: claims (ahead
        or of due work) stay within its room until ``SURPLUS_CAUTION_SECONDS`` after
        any instant it held."""
        until = now + FIRE_AHEAD_MAX_SECONDS + SURPLUS_CAUTION_SECONDS
        self.within_concurrency_until = max(self.within_concurrency_until, until)

    def should_gather(self, free: int) -> bool:
        """Whether to wait ``BATCH_GATHER_SECONDS`` for more capacity before claiming:
        under backlog one claim then serves many finishes, not one claim per finish."""
        return self.backlog and free < self.gather_floor

    def should_check_pending(self, now: float) -> bool:
        """Whether this claim looks for pending attempts; if so, the look is noted."""
        due = (
            self.check_pending
            or (self.pending_due_at is not None and now >= self.pending_due_at)
            or (self.backlog and now - self.pending_checked_at >= BACKLOG_PENDING_CHECK_SECONDS)
        )
        self.pending_looked = due
        if due:
            self.pending_checked_at = now
            self.check_pending = False
            self.pending_blocked = False
            self.pending_due_at = None
        return due

    def pending_claimed(self, started: int, asked: int) -> None:
        """A look for pending attempts started ``started`` of ``asked``."""
        # More may be waiting behind the ones just started.
        self.check_pending = started == asked

    def scheduled(self, count: int, batch: int) -> None:
        """The claim gave ``count`` new jobs their first next_run, in batches of ``batch``."""
        # After a bulk INSERT, one batch per round, between claims of due work.
        self.more_to_schedule = count == batch

    def claimed(self, started: int, asked: int, latency: float | None) -> None:
        """A round took ``started`` of the ``asked`` attempts to begin now; its claim of
        due jobs, if it made one, took ``latency`` seconds."""
        self.backlog = started >= asked
        if latency is not None:
            self.claim_latency += LATENCY_SMOOTHING * (latency - self.claim_latency)
            self.latencies.append(latency)

    def idle_delay(self, due: DueIn, claimed: int, now: float) -> float:
        """How long to sleep after a claim that took ``claimed`` attempts (held ones
        included) and left capacity free: until the next slot less the fire-ahead
        window, or the next pending attempt, capped by the poll interval."""
        self.more_to_schedule = due.unscheduled
        soon = self.poll_interval + FIRE_AHEAD_MAX_SECONDS
        self.slot_soon = due.jobs is not None and due.jobs <= soon
        self.next_slot_at = math.inf if due.jobs is None else now + due.jobs
        # New jobs get their next_run now, not a poll later (after a short wait: the
        # worker that found them first may still hold them).
        delay = CONTENDED_MAX_SECONDS if due.unscheduled else self.poll_interval
        if due.jobs is not None:
            ahead = self.ahead_window(now, now + due.jobs)
            if claimed or due.jobs > 0:
                self.empty_claims = 0
            else:
                # Due, yet nothing claimed: other workers (or a capped queue, or a
                # user's open transaction) hold those rows. Look again soon, then
                # less and less often, never spinning.
                self.empty_claims += 1
            # A slot beyond what the claim could reach when it was sent: it woke (the
            # poll interval, a NOTIFY, a finish) a moment before its window reached
            # the slot. It is claimed now: waiting for its instant, the worker would
            # leave the instant's slots to the others.
            beyond = now + due.jobs > self.claim_reach
            if due.jobs > ahead or (due.jobs > 0 and (claimed or beyond)):
                until = due.jobs - ahead
            elif due.jobs > 0:
                # Within the window, yet the claim could not take it: its job still
                # runs, and its slot is claimed at its instant under the overlap rules.
                until = due.jobs
            else:
                contended = CONTENDED_RETRY_SECONDS * 2 ** min(self.empty_claims, 10)
                until = min(contended, CONTENDED_MAX_SECONDS) if self.empty_claims else 0.0
            delay = min(delay, max(until, 0.0))
        if due.pending is not None and due.pending <= 0 and not self.pending_looked:
            # Due now, yet this round did not look: a run_now or a retry that came
            # without a NOTIFY (a worker behind a pooler, or while it claimed). Look at
            # once, rather than take it for blocked and wait a poll more.
            self.check_pending = True
            return 0.0
        if due.pending is not None and not self.check_pending:
            # Pending attempts due now but not startable (their job is running) wait
            # for a finish, a NOTIFY or the next poll instead of spinning.
            self.pending_blocked = due.pending <= 0
            wait = self.poll_interval if self.pending_blocked else due.pending
            self.pending_due_at = now + wait
            delay = min(delay, wait)
        return delay

    def only_look(self, now: float) -> bool:
        """Whether this round should first ask what is due (``next_due_in``, one
        statement) and claim only if something is within reach (``within_reach``):
        when the last look saw nothing to do before the next slot, beyond the widest
        window, and nothing since says otherwise. An idle worker woken by its poll
        interval then does not send a claim transaction that would find nothing; a
        NOTIFY, a slot's own wake-up, pending attempts and new jobs claim at once."""
        if self.backlog or self.more_to_schedule or self.check_pending:
            return False
        if self.pending_due_at is not None and now >= self.pending_due_at:
            return False
        return self.next_slot_at - now > FIRE_AHEAD_MAX_SECONDS

    def within_reach(self, due: DueIn, now: float) -> bool:
        """Whether a look (``only_look``) found work a claim should take now: jobs
        waiting for their first next_run, pending attempts due (the claim then looks
        for them), or a slot within the fire-ahead window."""
        if due.pending is not None and due.pending <= 0:
            self.check_pending = True
        if due.unscheduled or self.check_pending:
            return True
        return due.jobs is not None and due.jobs <= self.ahead_window(now, now + due.jobs)

    def woken(self) -> None:
        """A NOTIFY: new or changed jobs, a manual run, a released slot."""
        self.check_pending = True
        self.more_to_schedule = True

    def attempt_ended(self, in_flight: int) -> bool:
        """An attempt ended, leaving ``in_flight``. Returns whether to wake the claim loop."""
        if self.pending_blocked:
            self.check_pending = True  # a queued attempt of this job may start now
            return True
        # Full because of attempts waiting for a process (an instant's burst of held
        # slots, say), the loop may have gone to sleep with far fewer than
        # --concurrency held: every end may make room, however few remain.
        return self.backlog or self.full or in_flight + 1 >= self.concurrency
