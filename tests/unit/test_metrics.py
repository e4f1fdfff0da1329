"""Worker metrics: what each run transition counts, and the /metrics and /healthz endpoints."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from pgsched.engine.events import RunEvents
from pgsched.engine.heartbeat import Heartbeat
from pgsched.engine.metrics import Metrics, MetricsPortUnavailable, MetricsServer
from pgsched.engine.options import WorkerOptions
from pgsched.engine.repository import FinishedRun, WorkerIdentity
from pgsched.engine.state import WorkerState, new_identity
from pgsched.models import EndedAttempt, Outcome, Trigger
from tests.attempts import make_attempt

# Far from the test machine's clock: lag must come from the database's.
DATABASE_NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_finished_runs_are_counted_per_job_and_status_and_timed_per_kind() -> None:
    metrics = Metrics()
    events = RunEvents(lambda: "w1", metrics)
    a = make_attempt("python", "m:f", run_id=1, job_name="a")
    b = make_attempt("shell", "true", run_id=2, job_name="b")
    c = make_attempt("python", "m:f", run_id=3, job_name="a")
    batch = [
        EndedAttempt(a, Outcome.succeeded(), 20.0, None),
        EndedAttempt(b, Outcome.failed("boom"), 3000.0, None),
        EndedAttempt(c, Outcome.succeeded(), 40.0, None),
    ]
    events.recorded(batch, {n: FinishedRun(n, None, None) for n in (1, 2, 3)})

    assert sample(metrics, "pgsched_runs_finished_total", job="a", status="succeeded") == 2
    assert sample(metrics, "pgsched_runs_finished_total", job="b", status="failed") == 1
    seconds = "pgsched_run_duration_seconds"
    assert sample(metrics, f"{seconds}_count", kind="python", status="succeeded") == 2
    assert sample(metrics, f"{seconds}_sum", kind="python", status="succeeded") == pytest.approx(
        0.06
    )
    assert sample(metrics, f"{seconds}_bucket", kind="shell", status="failed", le="2.5") == 0
    assert sample(metrics, f"{seconds}_bucket", kind="shell", status="failed", le="5.0") == 1


def test_without_the_job_label_runs_are_counted_per_status_only() -> None:
    metrics = Metrics(job_label=False)
    events = RunEvents(lambda: "w1", metrics)
    batch = [
        EndedAttempt(
            make_attempt("python", "m:f", run_id=n, job_name=f"j{n}"),
            Outcome.succeeded(),
            1.0,
            None,
        )
        for n in range(5)
    ]
    events.recorded(batch, {n: FinishedRun(n, None, None) for n in range(5)})

    assert sample(metrics, "pgsched_runs_finished_total", status="succeeded") == 5
    assert "job=" not in _exposition(metrics)


def test_results_dropped_abandoned_and_lost_runs_are_counted() -> None:
    metrics = Metrics()
    events = RunEvents(lambda: "w1", metrics)
    attempt = make_attempt("python", "m:f", job_name="gone")
    events.recorded([EndedAttempt(attempt, Outcome.succeeded(), 1.0, None)], {})
    events.abandoned(attempt, 5.0)
    lost_row = {
        "job_name": "gone",
        "worker_id": "w0",
        "retry_run_id": 8,
        "attempt": 1,
        "max_attempts": 2,
        "scheduled_for": DATABASE_NOW,
        "duration_ms": 1500.0,
    }
    events.lost("run_lost", 7, lost_row, "worker w0 stopped heartbeating")

    assert sample(metrics, "pgsched_run_results_dropped_total") == 1
    assert sample(metrics, "pgsched_runs_abandoned_total") == 1
    assert sample(metrics, "pgsched_runs_finished_total", job="gone", status="lost") == 1
    assert sample(metrics, "pgsched_runs_finished_total", job="gone", status="succeeded") is None


def test_lag_is_measured_by_the_database_clock_for_first_attempts_only() -> None:
    metrics = Metrics()
    events = RunEvents(lambda: "w1", metrics)
    late = make_attempt(
        "python", "m:f", run_id=1, scheduled_for=DATABASE_NOW - timedelta(0.3 / 86400)
    )
    manual = make_attempt(
        "python", "m:f", run_id=2, scheduled_for=DATABASE_NOW, trigger=Trigger.MANUAL
    )
    retry = make_attempt(
        "python",
        "m:f",
        run_id=3,
        attempt=2,
        trigger=Trigger.RETRY,
        scheduled_for=DATABASE_NOW - timedelta(minutes=5),
    )
    events.claimed([late, manual, retry])
    for attempt in (late, manual, retry):
        events.started(attempt, time.monotonic())
    events.recorded(
        [EndedAttempt(a, Outcome.succeeded(), 1.0, DATABASE_NOW) for a in (late, manual, retry)],
        {n: FinishedRun(n, None, None) for n in (1, 2, 3)},
    )

    lag = "pgsched_run_lag_seconds"
    assert sample(metrics, f"{lag}_sum", trigger="schedule") == pytest.approx(0.3)
    assert sample(metrics, f"{lag}_count", trigger="manual") == 1
    assert sample(metrics, f"{lag}_count", trigger="retry") is None
    assert sample(metrics, "pgsched_runs_started_total", kind="python", trigger="retry") == 1
    assert sample(metrics, "pgsched_claim_batch_size_count") == 1
    assert sample(metrics, "pgsched_claim_batch_size_sum") == 3


def test_gauges_read_the_worker_state_at_scrape_time() -> None:
    metrics = Metrics()
    running = [3]
    metrics.watch(lambda: running[0], lambda: 7, lambda: 2.5, lambda: 1.5, 30)
    running[0] = 4

    assert sample(metrics, "pgsched_runs_running") == 4
    assert sample(metrics, "pgsched_outcomes_unrecorded") == 7
    assert sample(metrics, "pgsched_heartbeat_age_seconds") == 2.5
    assert sample(metrics, "pgsched_claim_round_age_seconds") == 1.5
    assert sample(metrics, "pgsched_lease_seconds") == 30


def test_metrics_and_health_are_served_over_http() -> None:
    metrics = Metrics()
    problem: list[str | None] = [None]
    server = MetricsServer(metrics, "127.0.0.1", 0, lambda: problem[0])
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert "pgsched_claim_batch_size_bucket" in response.read().decode()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        problem[0] = "no claim round completed within the lease"
        for path, status in (("/healthz", 503), ("/", 404)):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(f"{base}{path}", timeout=5)
            assert error.value.code == status
            if path == "/healthz":
                assert error.value.read() == b"no claim round completed within the lease\n"
    finally:
        server.close()


class FakeBeats:
    """A database that accepts heartbeats until told otherwise, and registrations."""

    def __init__(self) -> None:
        self.accept = True
        self.registered: list[str] = []

    async def heartbeat(self, worker_id: str) -> bool | None:
        return False if self.accept else None

    async def register_worker(self, identity: WorkerIdentity) -> None:
        self.registered.append(identity.worker_id)


def test_health_follows_the_last_accepted_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("pgsched.engine.heartbeat.time.monotonic", lambda: clock[0])
    beats = FakeBeats()
    options = WorkerOptions(lease_seconds=30)
    state = WorkerState(new_identity(options))
    first_id = state.worker_id

    heartbeat = Heartbeat(beats, options, state)  # type: ignore[arg-type]
    clock[0] += 25
    assert heartbeat.healthy() and heartbeat.age() == 25
    asyncio.run(heartbeat.beat())
    assert heartbeat.age() == 0
    beats.accept = False
    clock[0] += 31
    asyncio.run(heartbeat.beat())
    # Presumed dead: it rejoined under a new id, and is unhealthy until a beat is accepted.
    assert beats.registered == [state.worker_id] and state.worker_id != first_id
    assert not heartbeat.healthy()


def _exposition(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


def test_a_worker_without_a_metrics_port_never_imports_prometheus_client() -> None:
    probe = (
        "import sys\n"
        "from pgsched.engine.events import RunEvents\n"
        "from pgsched.engine.worker import Worker\n"
        "from pgsched.engine.options import WorkerOptions\n"
        "RunEvents.for_worker(lambda: 'w1', WorkerOptions())\n"
        "loaded = ('prometheus', 'pgsched.engine.metrics')\n"
        "print(sorted(m for m in sys.modules if m.startswith(loaded)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_metrics_port_in_use_is_refused_with_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortUnavailable, match=f"127.0.0.1:{port}.*--metrics-port"):
            MetricsServer(Metrics(), "127.0.0.1", port, lambda: None)


def test_released_slots_are_counted_by_reason_and_pass_promtool() -> None:
    from prometheus_client import generate_latest

    from tests.unit.test_alerting_files import promtool

    metrics = Metrics()
    metrics.released.labels("stopping").inc(3)
    metrics.released.labels("concurrency").inc(2)
    page = generate_latest(metrics.registry)
    assert b'pgsched_runs_released_total{reason="stopping"} 3.0' in page
    assert b'pgsched_runs_released_total{reason="concurrency"} 2.0' in page
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=page, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
