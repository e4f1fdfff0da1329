"""A JSON value Python cannot read stands in for itself, and fails only its own job."""

from __future__ import annotations

from datetime import UTC, datetime

from pgsched.db.json_values import UndecodableJson, safe_loads, undecodable
from pgsched.engine.planner import plan_job
from tests.claimed_jobs import claimed_job

DEEP = ("[" * 5000 + "]" * 5000).encode()
# How jsonb prints 1e5000: more digits than Python converts to an int (4,300).
LONG_NUMBER = ('{"n": 1' + "0" * 5000 + "}").encode()


def test_a_value_too_deep_to_decode_is_replaced_by_a_marker() -> None:
    value = safe_loads(DEEP)
    assert isinstance(value, UndecodableJson)
    assert "nested too deeply" in value
    assert safe_loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert undecodable(args={"a": 1}, checkpoint=value) == f"checkpoint: {value}"
    assert undecodable(args={"a": 1}, checkpoint="a plain string") is None


def test_a_number_too_long_to_convert_is_replaced_by_a_marker() -> None:
    value = safe_loads(LONG_NUMBER)
    assert isinstance(value, UndecodableJson)
    assert "that Python cannot read" in value and "digits" in value
    assert len(value) < 400
    assert safe_loads(b'{"n": 1e308}') == {"n": 1e308}


def test_a_job_whose_row_cannot_be_read_is_planned_with_its_error_and_no_run() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    job = claimed_job(
        schedule="* * * * * *", next_run=now, unreadable="a JSON value nested too deeply"
    )
    plan = plan_job(job, now)
    assert plan.runs == [] and plan.next_run > now
    assert plan.last_error == "this job's row cannot be read: args: a JSON value nested too deeply"
