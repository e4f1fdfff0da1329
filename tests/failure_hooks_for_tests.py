"""Failure hooks for tests: ``--on-failure tests.failure_hooks_for_tests:<name>``."""

from __future__ import annotations

import json
import os
import threading

from pgsched.hooks import FailureReport

# Where ``append_to_file`` writes, one JSON object per report (set by the test).
REPORTS_FILE_ENV = "PGSCHED_TEST_FAILURE_REPORTS"

received: list[tuple[FailureReport, str]] = []


def remember(report: FailureReport) -> None:
    """Keep the report, and the thread it was delivered on."""
    received.append((report, threading.current_thread().name))


def explode(report: FailureReport) -> None:
    """A broken hook."""
    raise RuntimeError("the hook itself is broken")


def append_to_file(report: FailureReport) -> None:
    """Append the report to the file named by ``$PGSCHED_TEST_FAILURE_REPORTS``."""
    fields = {**report.__dict__, "scheduled_for": report.scheduled_for.isoformat()}
    with open(os.environ[REPORTS_FILE_ENV], "a") as reports:
        reports.write(json.dumps(fields) + "\n")
