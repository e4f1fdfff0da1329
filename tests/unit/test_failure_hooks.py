"""Failure hooks: called once per attempt that failed for good, never for one retried,
and never able to harm the worker."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from pgsched.engine.events import RunEvents
from pgsched.engine.repository import FinishedRun
from pgsched.hooks import FailureHooks, FailureReport, HookNotFound, load_hook
from pgsched.hooks import sentry as sentry_hook
from pgsched.models import EndedAttempt, Outcome, RunStatus
from tests.attempts import make_attempt
from tests.failure_hooks_for_tests import received

SLOT = datetime(2030, 1, 1, tzinfo=UTC)
HOOKS = "tests.failure_hooks_for_tests"


@pytest.fixture(autouse=True)
def _forget() -> None:
    received.clear()


def report_for(job_name: str = "nightly") -> FailureReport:
    return FailureReport(
        job_name=job_name,
        run_id=7,
        attempt=3,
        max_attempts=3,
        status="failed",
        error="ValueError: no\nTraceback ...",
        scheduled_for=SLOT,
        worker_id="w1",
    )


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        (HOOKS, "expected package.module:function"),
        ("tests.no_such_module:remember", "cannot import"),
        ("tests.jobtargets.raises_at_import:run", "RuntimeError: this module refuses"),
        (f"{HOOKS}:no_such_function", "has no function"),
        (f"{HOOKS}:REPORTS_FILE_ENV", "has no function"),
    ],
)
def test_a_hook_that_cannot_be_loaded_is_refused_with_the_reason(
    target: str, complaint: str
) -> None:
    with pytest.raises(HookNotFound, match=complaint):
        load_hook(target)


def test_hooks_run_off_the_calling_thread_and_a_broken_one_harms_nobody() -> None:
    hooks = FailureHooks([f"{HOOKS}:explode", f"{HOOKS}:remember"])
    hooks.submit(report_for("first"))
    hooks.submit(report_for("second"))
    hooks.close(timeout=5)

    assert [report.job_name for report, _ in received] == ["first", "second"]
    assert {thread for _, thread in received} == {"pgsched-failure-hooks"}


def recorded(outcome: Outcome, retry_run_id: int | None, job_name: str = "nightly") -> None:
    hooks = FailureHooks([f"{HOOKS}:remember"])
    events = RunEvents(lambda: "w1", hooks=hooks)
    attempt = make_attempt("python", "m:f", run_id=7, job_name=job_name, scheduled_for=SLOT)
    events.recorded(
        [EndedAttempt(attempt, outcome, 12.0, None)], {7: FinishedRun(7, retry_run_id, None)}
    )
    events.close()


def test_a_failure_with_no_retry_left_is_reported_once_with_its_run() -> None:
    recorded(Outcome.failed("ValueError: no"), retry_run_id=None)

    assert [report for report, _ in received] == [
        FailureReport(
            job_name="nightly",
            run_id=7,
            attempt=1,
            max_attempts=3,
            status="failed",
            error="ValueError: no",
            scheduled_for=SLOT,
            worker_id="w1",
        )
    ]


def test_a_timeout_with_no_retry_left_is_reported() -> None:
    recorded(Outcome(RunStatus.TIMED_OUT, error="timed out"), retry_run_id=None)

    assert [report.status for report, _ in received] == ["timed_out"]


@pytest.mark.parametrize(
    ("outcome", "retry_run_id"),
    [(Outcome.failed("will be retried"), 8), (Outcome.succeeded(), None)],
    ids=["failure-with-a-retry-queued", "success"],
)
def test_nothing_is_reported_for_retried_failures_or_successes(
    outcome: Outcome, retry_run_id: int | None
) -> None:
    recorded(outcome, retry_run_id)

    assert received == []


def test_a_result_dropped_after_the_claim_was_taken_is_not_reported() -> None:
    hooks = FailureHooks([f"{HOOKS}:remember"])
    events = RunEvents(lambda: "w1", hooks=hooks)
    late = EndedAttempt(make_attempt("python", "m:f"), Outcome.failed("late"), 1.0, None)
    events.recorded([late], {})
    events.close()

    assert received == []


def test_a_run_recovered_as_lost_with_no_retry_left_is_reported() -> None:
    hooks = FailureHooks([f"{HOOKS}:remember"])
    events = RunEvents(lambda: "reaper", hooks=hooks)
    row: dict[str, Any] = {
        "job_name": "nightly",
        "worker_id": "dead-worker",
        "retry_run_id": None,
        "attempt": 2,
        "max_attempts": 2,
        "scheduled_for": SLOT,
        "duration_ms": 31000.0,
    }
    events.lost("run_lost", 9, row, "worker dead-worker stopped heartbeating")
    events.lost("run_lost", 10, {**row, "retry_run_id": 11}, "retried, so not reported")
    events.close()

    assert [(r.run_id, r.status, r.worker_id, r.error) for r, _ in received] == [
        (9, "lost", "reaper", "worker dead-worker stopped heartbeating")
    ]


class RecordingTransport(Transport):
    """Keeps envelopes instead of sending them anywhere."""

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def test_the_sentry_hook_sends_a_message_tagged_with_the_run() -> None:
    transport = RecordingTransport()
    sentry_sdk.init(dsn="https://key@sentry.invalid/1", transport=transport)
    try:
        sentry_hook.report(report_for())
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # no DSN: a client that sends nothing, for whoever comes next

    events = [item.payload.json for env in transport.envelopes for item in env.items]
    events = [event for event in events if event and "message" in event]
    assert len(events) == 1
    event = events[0]
    assert event["message"] == "pgsched job nightly failed (attempt 3 of 3): ValueError: no"
    assert event["level"] == "error"
    assert event["tags"] == {
        "pgsched.job_name": "nightly",
        "pgsched.status": "failed",
        "pgsched.attempt": "3",
        "pgsched.worker_id": "w1",
    }
    assert event["fingerprint"] == ["pgsched", "nightly", "failed"]
    assert event["contexts"]["pgsched_run"]["run_id"] == 7


def test_a_circuit_breaker_opened_or_closed_by_an_outcome_is_reported_as_an_event() -> None:
    hooks = FailureHooks([f"{HOOKS}:remember"])
    events = RunEvents(lambda: "w1", hooks=hooks)
    attempt = make_attempt("python", "m:f", run_id=7, job_name="payments", scheduled_for=SLOT)
    until = datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    events.recorded(
        [EndedAttempt(attempt, Outcome.failed("provider down"), 12.0, None)],
        {7: FinishedRun(7, None, None, "open", 3, until, "payments-queue")},
    )
    good = make_attempt("python", "m:f", run_id=8, job_name="payments", scheduled_for=SLOT)
    events.recorded(
        [EndedAttempt(good, Outcome.succeeded(), 12.0, None)],
        {8: FinishedRun(8, None, None, "closed", 0, None, "payments-queue")},
    )
    events.close()

    assert [(r.event, r.run_id, r.status) for r, _ in received] == [
        ("run_failed", 7, "failed"),
        ("circuit_opened", 7, "failed"),
        ("circuit_closed", 8, "succeeded"),
    ]
    assert received[1][0].error == (
        "circuit breaker opened after 3 failed slot(s) in a row; "
        "slots are skipped until 2030-01-01T00:05:00+00:00"
    )


def test_the_sentry_hook_tells_a_circuit_breaker_event_grouped_per_job_and_event() -> None:
    transport = RecordingTransport()
    sentry_sdk.init(dsn="https://key@sentry.invalid/1", transport=transport)
    try:
        opened = replace(report_for("payments"), event="circuit_opened", error="circuit open")
        sentry_hook.report(opened)
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()

    events = [item.payload.json for env in transport.envelopes for item in env.items]
    (event,) = [event for event in events if event and "message" in event]
    assert event["message"] == "pgsched job payments: circuit open"
    assert event["fingerprint"] == ["pgsched", "payments", "circuit_opened"]
    assert event["tags"]["pgsched.event"] == "circuit_opened"
