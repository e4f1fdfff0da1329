"""Held slots: the tightest safe clock bound, and waking each instant's slots together."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from pgsched.engine.holding import (
    CLOCK_DRIFT,
    CLOCK_SAMPLE_EVERY_SECONDS,
    CLOCK_SAMPLE_MAX_AGE_SECONDS,
    RELEASE_CHUNK,
    HoldClock,
    Holds,
)
from pgsched.models import ClaimClock
from tests.attempts import make_attempt

DATABASE_NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def read(at: float, sent: float, received: float) -> ClaimClock:
    """A clock the database read at worker instant ``at`` (between sent and received),
    its clock being DATABASE_NOW at worker instant 100.0."""
    return ClaimClock(DATABASE_NOW + timedelta(seconds=at - 100.0), sent, received)


def true_instant(slot: datetime) -> float:
    return 100.0 + (slot - DATABASE_NOW).total_seconds()


def test_a_slow_claim_is_held_by_a_quick_reading_taken_before_it_not_its_own_round_trip() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0005, sent=100.0, received=100.001))  # a short read
    claim = read(at=100.2, sent=100.2, received=100.5)  # a claim that took 300 ms
    slot = DATABASE_NOW + timedelta(seconds=1)
    assert claim.monotonic_at(slot) == pytest.approx(true_instant(slot) + 0.3)
    start = clock.monotonic_at(slot, claim)
    # Loose by the short read's round trip, and what drift may take over 1.3 s.
    assert true_instant(slot) <= start <= true_instant(slot) + 0.001 + CLOCK_DRIFT * 1.3


@pytest.mark.parametrize("read_at", [100.0, 100.0005, 100.001])
def test_a_held_slot_never_starts_before_its_instant_wherever_the_database_read(
    read_at: float,
) -> None:
    clock = HoldClock()
    sample = ClaimClock(DATABASE_NOW, sent=100.0, received=100.001)
    clock.observe(sample)
    slot = DATABASE_NOW + timedelta(milliseconds=400)
    start = clock.monotonic_at(slot, sample)
    # Whenever between sent and received the database read DATABASE_NOW, its clock at
    # the worker instant ``start`` has reached the slot.
    assert DATABASE_NOW + timedelta(seconds=start - read_at) >= slot


def test_an_older_bound_loses_what_drift_can_have_taken_meanwhile() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0, sent=100.0, received=100.0))
    later = read(at=105.0, sent=105.0, received=105.2)
    slot = DATABASE_NOW + timedelta(seconds=6)
    start = clock.monotonic_at(slot, later)
    assert start == pytest.approx(true_instant(slot) + CLOCK_DRIFT * 6.0)


def test_a_bound_the_database_refutes_is_replaced() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0, sent=100.0, received=100.001))
    # The database clock stepped back one second: a new reading's upper bound lies
    # below the kept lower one, which must not keep slots from starting.
    stepped = ClaimClock(DATABASE_NOW + timedelta(seconds=4), sent=105.0, received=105.002)
    clock.observe(stepped)
    slot = DATABASE_NOW + timedelta(seconds=5)
    assert clock.monotonic_at(slot, stepped) == pytest.approx(stepped.monotonic_at(slot))


def true_time(monotonic: float) -> datetime:
    return DATABASE_NOW + timedelta(seconds=monotonic - 100.0)


def test_a_start_is_recorded_by_the_tightest_upper_bound_never_before_the_truth() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0005, sent=100.0, received=100.001))  # a short read
    # A claim whose transaction began 80 ms after it was sent (a busy server): its own
    # clock records its attempts' starts 80 ms late.
    claim = read(at=100.28, sent=100.2, received=100.5)
    clock.observe(claim)
    began = 101.0
    assert claim.database_time(began) == true_time(began) + timedelta(milliseconds=80)
    recorded = clock.database_time(began, claim)
    assert true_time(began) <= recorded <= true_time(began) + timedelta(milliseconds=1.5)


@pytest.mark.parametrize("read_at", [100.0, 100.0005, 100.001])
def test_a_recorded_start_is_never_early_wherever_the_database_read(read_at: float) -> None:
    clock = HoldClock()
    sample = ClaimClock(DATABASE_NOW, sent=100.0, received=100.001)
    clock.observe(sample)
    began = 103.0  # the database clock then read DATABASE_NOW + (began - read_at)
    recorded = clock.database_time(began, read(at=102.5, sent=102.0, received=102.9))
    assert recorded >= DATABASE_NOW + timedelta(seconds=began - read_at)


def test_a_recorded_start_allows_for_drift_and_ignores_an_old_or_refuted_bound() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0, sent=100.0, received=100.0))
    own = read(at=106.0, sent=105.9, received=106.1)
    # Six seconds on, the database clock may have gained 500 ppm on the worker's.
    recorded = clock.database_time(106.0, own)
    assert recorded == true_time(106.0) + timedelta(seconds=CLOCK_DRIFT * 6.0)
    assert clock.database_time(100.0 + CLOCK_SAMPLE_MAX_AGE_SECONDS + 1, own) == (
        own.database_time(100.0 + CLOCK_SAMPLE_MAX_AGE_SECONDS + 1)
    )
    # The database clock stepped forward a second: the kept bound would record early.
    stepped = ClaimClock(true_time(107.0) + timedelta(seconds=1), sent=107.0, received=107.001)
    clock.observe(stepped)
    assert clock.database_time(107.5, stepped) == stepped.database_time(107.5)


def test_when_the_tightest_bound_grows_old_the_next_tightest_takes_over() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0, sent=100.0, received=100.0))  # the tightest
    clock.observe(read(at=105.0, sent=105.0, received=105.002))  # a quick read later
    # Past the first's age a claim that took 300 ms answers: the quick read, not the
    # claim's round trip, holds its slots (and records their starts).
    claim = read(at=110.5, sent=110.4, received=110.7)
    clock.observe(claim)
    slot = DATABASE_NOW + timedelta(seconds=11)
    assert clock.monotonic_at(slot, claim) <= true_instant(slot) + 0.002 + CLOCK_DRIFT * 7
    recorded = clock.database_time(111.0, claim)
    assert recorded <= true_time(111.0) + timedelta(seconds=0.002 + CLOCK_DRIFT * 7)


def test_a_bound_too_old_is_replaced_even_by_a_looser_one() -> None:
    clock = HoldClock()
    clock.observe(read(at=100.0, sent=100.0, received=100.0))
    old_age = 100.0 + CLOCK_SAMPLE_MAX_AGE_SECONDS + 1
    loose = read(at=old_age, sent=old_age, received=old_age + 0.05)
    clock.observe(loose)
    assert clock.observed == loose.received


def test_the_clock_is_read_on_its_own_at_most_once_a_period() -> None:
    clock = HoldClock()
    assert clock.wants_sample(10.0)
    assert not clock.wants_sample(10.0 + CLOCK_SAMPLE_EVERY_SECONDS / 2)
    assert clock.wants_sample(10.0 + CLOCK_SAMPLE_EVERY_SECONDS)


def test_an_attempt_without_a_clock_starts_at_once() -> None:
    assert HoldClock().start_at(make_attempt("python", "x:y")) == 0.0


def held(count: int, seconds_ahead: float) -> tuple[ClaimClock, list]:
    now = time.monotonic()
    database_now = datetime.now(UTC)
    clock = ClaimClock(database_now, now, now)
    slot = database_now + timedelta(seconds=seconds_ahead)
    return clock, [
        make_attempt("python", "x:y", run_id=n, scheduled_for=slot, clock=clock)
        for n in range(count)
    ]


def test_the_slots_of_one_instant_are_handed_over_at_it_a_chunk_per_loop_turn() -> None:
    async def go() -> tuple[list[float], list[int], float]:
        holds = Holds()
        clock, attempts = held(RELEASE_CHUNK * 3, 0.05)
        holds.clock.observe(clock)
        woken: list[float] = []
        turns: list[int] = []
        turn = 0

        async def count_turns() -> None:
            nonlocal turn
            while True:
                turn += 1
                await asyncio.sleep(0)

        async def hold(attempt) -> None:  # type: ignore[no-untyped-def]
            await holds.wait_until(holds.clock.start_at(attempt))
            woken.append(time.monotonic())
            turns.append(turn)

        counter = asyncio.create_task(count_turns())
        await asyncio.gather(*(hold(attempt) for attempt in attempts))
        counter.cancel()
        return woken, turns, clock.monotonic_at(attempts[0].scheduled_for)

    woken, turns, instant = asyncio.run(go())
    assert min(woken) >= instant
    assert max(woken) - instant < 0.05
    chunks = [turns.count(t) for t in sorted(set(turns))]
    assert max(chunks) <= RELEASE_CHUNK and len(chunks) >= 3


def test_a_held_slot_cancelled_before_its_instant_is_skipped_and_the_others_wake() -> None:
    async def go() -> tuple[bool, int]:
        holds = Holds()
        clock, attempts = held(3, 0.05)
        holds.clock.observe(clock)
        tasks = [
            asyncio.create_task(holds.wait_until(holds.clock.start_at(attempt)))
            for attempt in attempts
        ]
        await asyncio.sleep(0.01)
        tasks[1].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        return isinstance(done[1], asyncio.CancelledError), sum(d is None for d in done)

    cancelled, woken = asyncio.run(go())
    assert cancelled and woken == 2


class EveryBound:
    """HoldClock's bounds as they were chosen before dominated ones were dropped: every
    bound of the window kept, all weighed at each reading."""

    def __init__(self) -> None:
        self.lowers: list[tuple[float, float]] = []
        self.uppers: list[tuple[float, float]] = []
        self.offset: tuple[float, float] | None = None
        self.ceiling: tuple[float, float] | None = None

    def observe(self, clock: ClaimClock) -> None:
        lower = clock.database_now.timestamp() - clock.received
        upper = clock.database_now.timestamp() - clock.sent
        if self.offset is not None and upper < self.offset[1] - CLOCK_DRIFT * abs(
            clock.received - self.offset[0]
        ):
            self.lowers.clear()
        if self.ceiling is not None and lower > self.ceiling[1] + CLOCK_DRIFT * abs(
            clock.sent - self.ceiling[0]
        ):
            self.uppers.clear()
        self.lowers.append((clock.received, lower))
        self.uppers.append((clock.sent, upper))
        now = clock.received
        self.lowers = [b for b in self.lowers if now - b[0] <= CLOCK_SAMPLE_MAX_AGE_SECONDS]
        self.uppers = [b for b in self.uppers if now - b[0] <= CLOCK_SAMPLE_MAX_AGE_SECONDS]
        self.offset = max(self.lowers, key=lambda b: b[1] - CLOCK_DRIFT * (now - b[0]))
        self.ceiling = min(self.uppers, key=lambda b: b[1] + CLOCK_DRIFT * (now - b[0]))


def test_dropping_bounds_that_can_never_be_tightest_changes_no_answer() -> None:
    # Claims of varying round trips, the database clock stepping back and forward.
    rng = random.Random(7)
    clock, reference = HoldClock(), EveryBound()
    now, shift = 100.0, 0.0
    for step in range(3000):
        now += rng.uniform(0.001, 0.05)
        trip = rng.choice((0.0005, 0.002, 0.02, 0.3))
        if step % 1000 == 999:
            shift += rng.choice((-5.0, 5.0))
        reading = read(at=now + rng.uniform(0, trip) + shift, sent=now, received=now + trip)
        clock.observe(reading)
        reference.observe(reading)
        assert reference.offset is not None and reference.ceiling is not None
        later = now + trip + rng.uniform(0, 1)
        assert clock.database_time(later, reading) == reference_time(reference, later, reading)
        slot = reading.database_now + timedelta(seconds=rng.uniform(0, 1))
        assert clock.monotonic_at(slot, reading) == pytest.approx(
            min(
                reading.monotonic_at(slot),
                slot.timestamp()
                - (
                    reference.offset[1]
                    - CLOCK_DRIFT * abs(reading.monotonic_at(slot) - reference.offset[0])
                ),
            ),
            abs=1e-9,
        )
    assert len(clock._lowers) < 50 and len(clock._uppers) < 50


def reference_time(reference: EveryBound, monotonic: float, clock: ClaimClock) -> datetime:
    assert reference.ceiling is not None
    observed, ceiling = reference.ceiling
    kept = ceiling + CLOCK_DRIFT * abs(monotonic - observed)
    return min(clock.database_time(monotonic), datetime.fromtimestamp(monotonic + kept, UTC))
