"""The claim clock: a worker's monotonic time on the database clock, never flattering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgsched.models import ClaimClock

DATABASE_NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_a_recorded_start_is_never_earlier_than_the_truth() -> None:
    # The database read its clock somewhere between sent (100.0) and received (100.004).
    clock = ClaimClock(DATABASE_NOW, sent=100.0, received=100.004)
    for read_at in (100.0, 100.002, 100.004):
        true_start = DATABASE_NOW + timedelta(seconds=100.5 - read_at)
        assert clock.database_time(100.5) >= true_start


def test_a_held_slot_never_starts_before_its_instant() -> None:
    clock = ClaimClock(DATABASE_NOW, sent=100.0, received=100.004)
    slot = DATABASE_NOW + timedelta(milliseconds=300)
    start = clock.monotonic_at(slot)
    for read_at in (100.0, 100.002, 100.004):
        assert DATABASE_NOW + timedelta(seconds=start - read_at) >= slot


def test_the_two_mappings_differ_by_at_most_the_claim_round_trip() -> None:
    clock = ClaimClock(DATABASE_NOW, sent=100.0, received=100.004)
    slot = DATABASE_NOW + timedelta(seconds=1)
    recorded = clock.database_time(clock.monotonic_at(slot))
    assert timedelta(0) <= recorded - slot <= timedelta(milliseconds=4)
