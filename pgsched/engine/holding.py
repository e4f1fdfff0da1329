"""Slots claimed ahead, held until their instant by the database clock.

A held slot must never begin before its instant on the database clock, which the
worker sees only through its claims' answers (``ClaimClock``); and it should begin
at that instant, not a claim's round trip or a burst's hand-over later. ``HoldClock``
keeps the tightest bound recent answers give; ``Holds`` wakes each instant's slots
from one timer, a few at a time. A python slot does not wait here: it goes to its
python process before the instant, which begins it then itself (``python_held``);
only its bookkeeping (``Holds.call_at``) waits for the instant here.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pgsched.models import Attempt, ClaimClock

# How far the worker's monotonic clock may run ahead of the database's wall clock, per
# second, when NTP slews the latter (its limit is 500 ppm); and the oldest clock sample
# a hold relies on.
CLOCK_DRIFT = 0.0005
CLOCK_SAMPLE_MAX_AGE_SECONDS = 10.0
# Before claiming ahead, the database clock is read on its own at most this often: on
# a busy host a read's round trip (so its bounds) is sometimes 100 ms, and one quick
# read of several is what keeps held slots starting, and recorded, on time.
CLOCK_SAMPLE_EVERY_SECONDS = 0.25


@dataclass
class HoldClock:
    """When the database clock has surely reached an instant, from the tightest recent
    claim clock rather than each slot's own.

    A claim's answer bounds the database clock: it read ``database_now`` after the
    claim was sent and before its answer came, so the offset (database minus
    monotonic) is at least ``database_now - received``. A big claim's bound is loose
    by its whole round trip; the largest lower bound seen recently (less what drift
    can have taken since) is as safe and tighter, so a held slot wakes at its instant
    rather than a claim's latency after it.

    Likewise the other way, to record when an attempt began: the offset is at most
    ``database_now - sent``, and a claim whose transaction began late (a busy server)
    would record its attempts' starts that much late; the smallest upper bound seen
    recently (plus drift since) is as honest, never earlier than the truth.

    Every bound of the last ``CLOCK_SAMPLE_MAX_AGE_SECONDS`` is kept, not only the
    tightest: when that one grows too old, the next tightest takes over, not whichever
    answer comes next (a claim's, loose by its whole round trip on a busy server).
    """

    offset: float | None = None  # the database clock is at least monotonic + offset
    observed: float = 0.0  # the monotonic instant of the sample that gave it
    sampled: float | None = None  # when the clock was last read on its own
    ceiling: float | None = None  # the database clock is at most monotonic + ceiling
    ceiling_observed: float = 0.0
    # The bounds of the last CLOCK_SAMPLE_MAX_AGE_SECONDS: (when observed, bound).
    _lowers: deque[tuple[float, float]] = field(default_factory=deque)
    _uppers: deque[tuple[float, float]] = field(default_factory=deque)

    def wants_sample(self, now: float) -> bool:
        """Whether to read the database clock on its own before claiming ahead."""
        if self.sampled is None or now - self.sampled >= CLOCK_SAMPLE_EVERY_SECONDS:
            self.sampled = now
            return True
        return False

    def observe(self, clock: ClaimClock) -> None:
        """Take ``clock``'s bounds; keep the tightest of those not too old, after
        dropping those it refutes (the database clock stepped back, or forward)."""
        lower = clock.database_now.timestamp() - clock.received
        upper = clock.database_now.timestamp() - clock.sent
        if self.offset is not None and upper < self._kept(clock.received):
            self._lowers.clear()
        if self.ceiling is not None and lower > self._ceiling_kept(clock.sent):
            self._uppers.clear()
        # A bound no tighter than a newer one (once both have aged alike) can never be
        # the tightest again: dropped, so a busy worker's claims (dozens a second) do
        # not leave hundreds of bounds to weigh at every claim.
        lowers, uppers = self._lowers, self._uppers
        while (
            lowers
            and lowers[-1][0] <= clock.received
            and lowers[-1][1] + CLOCK_DRIFT * lowers[-1][0] < lower + CLOCK_DRIFT * clock.received
        ):
            lowers.pop()
        while (
            uppers
            and uppers[-1][0] <= clock.sent
            and uppers[-1][1] - CLOCK_DRIFT * uppers[-1][0] > upper - CLOCK_DRIFT * clock.sent
        ):
            uppers.pop()
        lowers.append((clock.received, lower))
        uppers.append((clock.sent, upper))
        now = clock.received
        for kept in (self._lowers, self._uppers):
            while now - kept[0][0] > CLOCK_SAMPLE_MAX_AGE_SECONDS:
                kept.popleft()
        # Tightest as of now: drift loosens each by its age.
        self.observed, self.offset = max(
            self._lowers, key=lambda sample: sample[1] - CLOCK_DRIFT * (now - sample[0])
        )
        self.ceiling_observed, self.ceiling = min(
            self._uppers, key=lambda sample: sample[1] + CLOCK_DRIFT * (now - sample[0])
        )

    def database_time(self, monotonic: float, clock: ClaimClock) -> datetime:
        """The database instant of worker instant ``monotonic``, at the latest: the
        sooner of ``clock``'s bound and the kept one's, if that is recent enough."""
        own = clock.database_time(monotonic)
        if self.ceiling is None or (
            abs(monotonic - self.ceiling_observed) > CLOCK_SAMPLE_MAX_AGE_SECONDS
        ):
            return own
        kept = datetime.fromtimestamp(monotonic + self._ceiling_kept(monotonic), own.tzinfo)
        return min(own, kept)

    def monotonic_at(self, instant: datetime, clock: ClaimClock) -> float:
        """The worker instant by which the database clock has surely reached
        ``instant``: the sooner of ``clock``'s bound and the kept one's."""
        own = clock.monotonic_at(instant)
        if self.offset is None:
            return own
        return min(own, instant.timestamp() - self._kept(own))

    def claimed(self, attempts: Sequence[Attempt]) -> None:
        """Take the bounds of the claims that gave ``attempts``."""
        for clock in {attempt.clock for attempt in attempts if attempt.clock is not None}:
            self.observe(clock)

    def start_at(self, attempt: Attempt) -> float:
        """The worker instant at which ``attempt`` may begin (0: at once)."""
        if attempt.clock is None:
            return 0.0
        return self.monotonic_at(attempt.scheduled_for, attempt.clock)

    def _kept(self, at: float) -> float:
        # Drift lowers the bound as the sample ages: the monotonic clock may run fast.
        return self.offset - CLOCK_DRIFT * abs(at - self.observed)  # type: ignore[operator]

    def _ceiling_kept(self, at: float) -> float:
        # And raises this one: the monotonic clock may run slow.
        return self.ceiling + CLOCK_DRIFT * abs(at - self.ceiling_observed)  # type: ignore[operator]


# Held slots of one instant are handed over this many at a time, the event loop
# running between (the executor sends those to its processes meanwhile).
RELEASE_CHUNK = 16


@dataclass
class Holds:
    """Held slots waiting for their instant, by instant."""

    clock: HoldClock = field(default_factory=HoldClock)
    _waiting: dict[float, list[asyncio.Future[None]]] = field(default_factory=dict)
    _calls: dict[float, list[Callable[[], None]]] = field(default_factory=dict)

    async def wait_until(self, at: float) -> None:
        """Return at worker instant ``at`` (``HoldClock.start_at``), at once if past."""
        wait = at - time.monotonic()
        if wait <= 0:
            return
        loop = asyncio.get_running_loop()
        group = self._waiting.get(at)
        if group is None:
            group = self._waiting[at] = []
            loop.call_later(wait, self._release, at)
        future = loop.create_future()
        group.append(future)
        await future

    def call_at(self, at: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at worker instant ``at``, with the others of that instant,
        all in one timer's turn. A loop that wakes late handles what it read first (a
        held python attempt's result, say): callers must not rely on coming before."""
        group = self._calls.get(at)
        if group is None:
            group = self._calls[at] = []
            asyncio.get_running_loop().call_at(at, self._call_all, at)
        group.append(callback)

    def _call_all(self, at: float) -> None:
        for callback in self._calls.pop(at, []):
            callback()

    def _release(self, at: float) -> None:
        group = self._waiting.pop(at, [])
        self._release_some(group, 0)

    def _release_some(self, group: list[asyncio.Future[None]], start: int) -> None:
        for future in group[start : start + RELEASE_CHUNK]:
            if not future.done():  # a held slot cancelled meanwhile (SIGTERM, taken away)
                future.set_result(None)
        if start + RELEASE_CHUNK < len(group):
            asyncio.get_running_loop().call_soon(self._release_some, group, start + RELEASE_CHUNK)
