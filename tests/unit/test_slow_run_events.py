"""An attempt past its job's warn_after_seconds: flagged once, on the event loop's
timer, counted while it runs; an attempt that ends first is never flagged."""

from __future__ import annotations

import asyncio

import pytest

from pgsched.engine import events as events_module
from pgsched.engine.events import RunEvents
from pgsched.engine.metrics import Metrics
from pgsched.engine.rows import ClaimResult
from tests.attempts import make_attempt
from tests.logs import logged


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


@pytest.mark.parametrize("job_label", [True, False])
def test_a_slow_attempt_is_flagged_once_and_one_that_ends_in_time_never(
    job_label: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module's own logger: structlog's capture can miss it (tests/logs.py).
    logs = logged(monkeypatch, events_module)
    metrics = Metrics(job_label=job_label)
    events = RunEvents(lambda: "w1", metrics)
    slow = make_attempt("shell", "sleep 1", run_id=1, job_name="slow", warn_after_seconds=0.05)
    # Ends long before its warning: under any load, never flagged.
    quick = make_attempt("shell", "true", run_id=2, job_name="quick", warn_after_seconds=30)
    labels = {"job": "slow"} if job_label else {}

    async def run() -> None:
        events.started(slow, None)
        events.started(quick, None)
        for _ in range(500):
            if sample(metrics, "pgsched_runs_running_over_warning", **labels):
                break
            await asyncio.sleep(0.01)
        events.ended(quick)
        assert sample(metrics, "pgsched_runs_running_over_warning", **labels) == 1
        await asyncio.sleep(0.1)  # the flag is not raised twice
        events.ended(slow)

    asyncio.run(run())
    flagged = [
        (e["run_id"], e["warn_after_seconds"]) for e in logs if e["event"] == "run_over_warning"
    ]
    assert flagged == [(1, 0.05)]
    assert sample(metrics, "pgsched_runs_over_warning_total", **labels) == 1
    assert sample(metrics, "pgsched_runs_running_over_warning", **labels) == 0


def test_skipped_slots_are_counted_with_and_without_the_job_label() -> None:
    for job_label, labels in ((True, {"job": "nightly"}), (False, {})):
        metrics = Metrics(job_label=job_label)
        RunEvents(lambda: "w1", metrics).planned(ClaimResult([], [], [], [("nightly", 7)]))
        assert sample(metrics, "pgsched_slots_skipped_total", **labels) == 7
