"""Failure hook that sends each final failure to Sentry.

``pip install 'pgsched[sentry]'`` then ``pgsched worker --on-failure
pgsched.hooks.sentry:report``. sentry_sdk reads ``SENTRY_DSN`` (and
``SENTRY_ENVIRONMENT``, ``SENTRY_RELEASE``) itself; without a DSN nothing is sent.
"""

from __future__ import annotations

from dataclasses import asdict

import sentry_sdk

from pgsched.hooks import FailureReport
from pgsched.text import first_line

# Sentry groups messages by their text: one line of the error, not its traceback.
MAX_REASON_CHARS = 200


def report(failure: FailureReport) -> None:
    """Capture ``failure`` as a Sentry message, grouped per job and status (a circuit
    breaker's opening and closing: per job and event)."""
    if not sentry_sdk.is_initialized():
        sentry_sdk.init()
    if failure.event != "run_failed":
        _report_circuit(failure)
        return
    line = first_line(failure.error, MAX_REASON_CHARS)
    reason = f": {line}" if line else ""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("pgsched.job_name", failure.job_name)
        scope.set_tag("pgsched.status", failure.status)
        scope.set_tag("pgsched.attempt", str(failure.attempt))
        scope.set_tag("pgsched.worker_id", failure.worker_id)
        scope.set_context(
            "pgsched_run", {**asdict(failure), "scheduled_for": failure.scheduled_for.isoformat()}
        )
        # One issue per job and status, not one per distinct error text.
        scope.fingerprint = ["pgsched", failure.job_name, failure.status]
        sentry_sdk.capture_message(
            f"pgsched job {failure.job_name} {failure.status} "
            f"(attempt {failure.attempt} of {failure.max_attempts}){reason}",
            level="error",
        )


def _report_circuit(event: FailureReport) -> None:
    opened = event.event == "circuit_opened"
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("pgsched.job_name", event.job_name)
        scope.set_tag("pgsched.event", event.event)
        scope.set_context(
            "pgsched_run", {**asdict(event), "scheduled_for": event.scheduled_for.isoformat()}
        )
        scope.fingerprint = ["pgsched", event.job_name, event.event]
        sentry_sdk.capture_message(
            f"pgsched job {event.job_name}: {event.error}", level="error" if opened else "info"
        )
