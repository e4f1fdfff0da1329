"""attempt_from builds an Attempt positionally: each field must get its own value."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from pgsched.engine.rows import attempt_from
from pgsched.models import ClaimClock, Trigger


def test_each_attempt_field_gets_the_value_meant_for_it() -> None:
    # Distinct values everywhere, ints above all: Attempt's fields reordered or a new
    # one inserted would shift them silently, and mypy sees an int for an int.
    job: Any = SimpleNamespace(
        id=11, name="nightly", kind="python", target="jobs:noop", args={"a": 1},
        max_attempts=12, timeout_seconds=13, checkpoint={"c": 1}, warn_after_seconds=14,
        shards=15, breaker_failures=3,
    )  # fmt: skip
    clock = ClaimClock(datetime(2026, 1, 1, tzinfo=UTC), 1.0, 2.0)
    slot = datetime(2026, 1, 2, tzinfo=UTC)
    made = attempt_from(job, 21, 22, slot, 23, "manual", clock, shard=0)
    assert (made.run_id, made.fence, made.job_id, made.attempt) == (21, 22, 11, 23)
    assert (made.job_name, made.kind, made.target) == ("nightly", "python", "jobs:noop")
    assert made.args == {"a": 1} and made.scheduled_for == slot
    assert (made.max_attempts, made.timeout_seconds, made.warn_after_seconds) == (12, 13, 14)
    assert made.trigger is Trigger.MANUAL and made.clock is clock
    assert made.checkpoint == {"c": 1} and made.refusal is None
    assert (made.shard, made.shards, made.breaker) == (0, 15, True)
