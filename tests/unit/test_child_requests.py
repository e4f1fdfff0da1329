"""The request a python child gets decodes to the attempt's own values, whatever the
strings and JSON values a job holds; the results it sends read back whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsched.executors.child_channel import (
    HEADER,
    PLAIN_SUCCESS,
    Request,
    batch_frame,
    read_message,
    read_request_message,
    result_frame,
)
from pgsched.executors.python_children import request
from tests.attempts import make_attempt

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(min_size=1),
    args=st.dictionaries(st.text(), json_values, max_size=4),
    checkpoint=json_values,
    key=st.integers(1, 2**40),
    shard=st.integers(0, 3),
)
def test_a_request_decodes_to_the_attempt_it_carries(
    name: str, args: dict[str, Any], checkpoint: Any, key: int, shard: int
) -> None:
    attempt = make_attempt(
        "python", "app.jobs:run", args, job_name=name, checkpoint=checkpoint, shard=shard, shards=4
    )
    assert received([request(attempt, key, 12.5)]) == [
        Request(
            ticket=key,
            target="app.jobs:run",
            args=args,
            job_name=name,
            run_id=attempt.run_id,
            scheduled_for=attempt.scheduled_for.isoformat(),
            attempt=attempt.attempt,
            checkpoint=checkpoint,
            shard=shard,
            shards=4,
            start_at=12.5,
        )
    ]


def received(requests: list[tuple[Any, ...]]) -> list[Request]:
    """The requests a child reads from the batch ``requests`` make."""
    frame = batch_frame(requests)
    assert HEADER.unpack(frame[: HEADER.size])[0] == len(frame) - HEADER.size
    message = read_request_message(frame[HEADER.size :])
    assert message["type"] == "batch"
    attempts: list[Request] = message["attempts"]
    return attempts


def test_a_batch_carries_its_requests_in_order() -> None:
    attempts = [make_attempt("python", "app.jobs:run", run_id=n) for n in range(1, 65)]
    requests = received([request(attempt, 100 + n) for n, attempt in enumerate(attempts)])
    assert [(r.ticket, r.run_id, r.start_at) for r in requests] == [
        (100 + n, attempt.run_id, 0.0) for n, attempt in enumerate(attempts)
    ]


def test_arguments_that_cannot_be_sent_are_refused() -> None:
    with pytest.raises(ValueError):
        request(make_attempt("python", "app.jobs:run", {"when": object()}), 1)
    with pytest.raises(ValueError):
        request(make_attempt("python", "app.jobs:run", checkpoint=object()), 1)


def test_other_messages_to_the_child_stay_json() -> None:
    message = {"type": "withdraw", "id": 3, "tickets": [1, 2]}
    assert read_request_message(json.dumps(message).encode()) == message


def test_a_result_frame_reads_back_as_the_message_it_carries() -> None:
    results = [
        {
            "status": "succeeded",
            "output": None,
            "error": None,
            "retryable": True,
            "started": 12.345678901234,
            "ticket": 7,
            "ended": 12.3457,
            "gap": 9.1e-06,
        },
        {
            "status": "failed",
            "output": 'quote " newline \n é \u2603 \x00',
            "retryable": False,
            "error": "ValueError: \t<tab> \\ back",
            "started": None,
            "ticket": 0,
            "ended": 1.0,
            "gap": None,
        },
    ]
    for result in results:
        frame = result_frame(result)
        assert read_message(frame[HEADER.size :]) == {"type": "result", **result}
        assert HEADER.unpack(frame[: HEADER.size])[0] == len(frame) - HEADER.size


def test_a_plain_success_is_packed_and_anything_else_is_json() -> None:
    plain = {
        "status": "succeeded",
        "output": None,
        "error": None,
        "retryable": True,
        "started": 12.345678901234,
        "ticket": 2**40,
        "ended": 12.3457,
        "gap": None,
    }
    frame = result_frame(plain)
    assert len(frame) == HEADER.size + PLAIN_SUCCESS.size
    assert read_message(frame[HEADER.size :]) == {"type": "result", **plain}
    assert read_message(result_frame({**plain, "gap": 9.1e-06})[HEADER.size :])["gap"] == 9.1e-06
    for other in ({"output": "printed"}, {"status": "failed", "error": "E"}, {"started": None}):
        body = result_frame({**plain, **other})[HEADER.size :]
        assert json.loads(body) == {"type": "result", **plain, **other}


@settings(max_examples=200, deadline=None)
@given(output=st.none() | st.text(), error=st.none() | st.text())
def test_any_output_and_error_survive_the_result_frame(output: Any, error: Any) -> None:
    result = {
        "status": "failed",
        "output": output,
        "error": error,
        "retryable": True,
        "started": 1.5,
        "ticket": 3,
        "ended": 2.5,
        "gap": None,
    }
    assert read_message(result_frame(result)[HEADER.size :]) == {"type": "result", **result}


def test_a_request_carries_its_own_slot_text_whatever_came_before() -> None:
    # Slot texts are kept between requests: an equal instant in another zone, and a
    # local time repeated when clocks go back (equal within its zone), are still sent
    # as themselves.
    berlin = ZoneInfo("Europe/Berlin")
    autumn = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)  # clocks go back at 03:00
    slots = [
        datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, tzinfo=berlin),
        autumn,
        autumn.replace(fold=1),
    ]
    assert slots[0] == slots[1] and slots[2] == slots[3]
    for slot in slots * 2:
        attempt = make_attempt("python", "app.jobs:run", scheduled_for=slot)
        assert received([request(attempt, 1)])[0].scheduled_for == slot.isoformat()


def test_long_names_are_sent_whole() -> None:
    name = "n" * 100_000
    sent = received([request(make_attempt("python", "app.jobs:run", job_name=name), 1)])
    assert sent[0].job_name == name
