"""Prometheus metrics and the health check of one worker (``--metrics-port``).

Imported only when a worker serves metrics, so a worker without ``--metrics-port``
neither loads ``prometheus_client`` nor pays for a single counter. Label children
are looked up once and kept in plain dicts: the per-run cost is a dict lookup and
an increment. Scrapes are answered on a thread of their own, so rendering a large
``/metrics`` page never stalls the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, make_server

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer

from pgsched.errors import ConfigurationError
from pgsched.models import Attempt

if TYPE_CHECKING:
    from pgsched.engine.options import WorkerOptions
    from pgsched.engine.state import WorkerState

# From a no-op to a nightly batch job.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
# The benchmark's lag target is p99 < 250 ms; beyond a minute is a misfire.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)

log = structlog.get_logger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Metrics:
    """One worker's metrics, in a registry of its own."""

    def __init__(self, job_label: bool = True) -> None:
        # Process-wide, and this process is a worker: a *_created series per counter
        # and per job would double the page and serves no dashboard.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self.registry = CollectorRegistry()
        self._finished = Counter(
            "pgsched_runs_finished",
            "Attempts this worker recorded as ended (its own, and others' it recovered as lost).",
            ["job", "status"] if job_label else ["status"],
            registry=self.registry,
        )
        self._started = Counter(
            "pgsched_runs_started",
            "Attempts this worker started.",
            ["kind", "trigger"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "pgsched_run_duration_seconds",
            "How long attempts ran, by job kind and status.",
            ["kind", "status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # Circuit breakers, labelled by job whatever job_label says: the alerts
        # name the job, and few jobs have one.
        self._circuit_transitions = Counter(
            "pgsched_circuit_transitions",
            "Circuit breaker transitions this worker recorded, by the state moved to.",
            ["job", "queue", "to"],
            registry=self.registry,
        )
        self._circuits_seen: set[tuple[str, str]] = set()
        self._circuit_open = Gauge(
            "pgsched_circuit_open",
            "1 while the job's circuit breaker is open or half-open, 0 once closed: read "
            "from the database every recovery round, and at transitions and claims.",
            ["job", "queue"],
            registry=self.registry,
        )
        self._lag = Histogram(
            "pgsched_run_lag_seconds",
            "First attempts: started_at - scheduled_for, by the database clock (when recorded).",
            ["trigger"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "pgsched_claim_batch_size",
            "Attempts taken by one claim that took any.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._dropped = Counter(
            "pgsched_run_results_dropped",
            "Outcomes not written because the claim had been taken from this worker.",
            registry=self.registry,
        )
        self._abandoned = Counter(
            "pgsched_runs_abandoned",
            "Attempts stopped without recording, because they were taken away or aborted.",
            registry=self.registry,
        )
        self._over_warning = Counter(
            "pgsched_runs_over_warning",
            "Attempts that ran past their job's warn_after_seconds (counted once each).",
            ["job"] if job_label else [],
            registry=self.registry,
        )
        self._running_over_warning = Gauge(
            "pgsched_runs_running_over_warning",
            "Attempts on this worker running past their job's warn_after_seconds now.",
            ["job"] if job_label else [],
            registry=self.registry,
        )
        self._skipped = Counter(
            "pgsched_slots_skipped",
            "Slots this worker's claims recorded skipped (misfire, overlap), each slot of a "
            "gap record counted.",
            ["job"] if job_label else [],
            registry=self.registry,
        )
        # Rare (a stop, a surplus): callers count on it directly, by reason.
        self.released = Counter(
            "pgsched_runs_released",
            "Slots claimed, not begun, handed back to the database: stopping, or concurrency.",
            ["reason"],
            registry=self.registry,
        )
        self._job_label = job_label
        self._finished_children = (
            _Children(self._finished, "status", "job")
            if job_label
            else _Children(self._finished, "status")
        )
        self._duration_children = _Children(self._duration, "status", "kind")
        self._started_children = _Children(self._started, "trigger", "kind")
        self._lag_children = _Children(self._lag, "trigger")

    def watch(
        self,
        running: Callable[[], int],
        unrecorded: Callable[[], int],
        heartbeat_age: Callable[[], float],
        claim_round_age: Callable[[], float],
        lease_seconds: float,
        queues: Sequence[str] = (),
    ) -> None:
        """Gauges read at scrape time from the worker's own state."""
        Gauge(
            "pgsched_runs_running", "Attempts running on this worker.", registry=self.registry
        ).set_function(running)
        Gauge(
            "pgsched_outcomes_unrecorded",
            "Outcomes waiting to be written to the database.",
            registry=self.registry,
        ).set_function(unrecorded)
        Gauge(
            "pgsched_heartbeat_age_seconds",
            "Seconds since this worker's last successful heartbeat.",
            registry=self.registry,
        ).set_function(heartbeat_age)
        Gauge(
            "pgsched_claim_round_age_seconds",
            "Seconds since this worker's claim loop last completed a round (or was full).",
            registry=self.registry,
        ).set_function(claim_round_age)
        serving = Gauge(
            "pgsched_worker_queue",
            "1 for each queue this worker claims from: with up and the heartbeat, whether "
            "a queue has a live worker.",
            ["queue"],
            registry=self.registry,
        )
        for queue in queues:
            serving.labels(queue=queue).set(1)
        Gauge(
            "pgsched_lease_seconds",
            "Heartbeat silence after which other workers recover this worker's attempts.",
            registry=self.registry,
        ).set(lease_seconds)

    def circuit(self, job_name: str, queue: str, to: str) -> None:
        """A circuit breaker moved ``to`` open, half_open or closed."""
        self._circuit_transitions.labels(job_name, queue, to).inc()
        self.circuit_state(job_name, queue, to)

    def circuit_state(self, job_name: str, queue: str, state: str) -> None:
        """A circuit breaker is known to be in ``state``: 1 unless closed."""
        self._circuit_open.labels(job_name, queue).set(0 if state == "closed" else 1)
        self._circuits_seen.add((job_name, queue))

    def circuits_open(self, not_closed: Sequence[tuple[str, str, str]]) -> None:
        """The database's breakers not closed, (job, queue, state): those are 1, every
        other breaker this worker has shown is 0."""
        now_open = {(job_name, queue) for job_name, queue, _ in not_closed}
        for job_name, queue in self._circuits_seen - now_open:
            self._circuit_open.labels(job_name, queue).set(0)
        for job_name, queue, state in not_closed:
            self.circuit_state(job_name, queue, state)

    def claimed(self, attempts: Sequence[Attempt]) -> None:
        """One claim took ``attempts``."""
        self._batch.observe(len(attempts))

    def started(self, attempt: Attempt) -> None:
        """This worker began ``attempt``."""
        self._started_children.get(attempt.trigger, attempt.kind).inc()

    def finished(
        self, attempt: Attempt, status: str, duration_ms: float, started_at: datetime | None
    ) -> None:
        """An attempt this worker ran was recorded with ``status``; it began at
        ``started_at`` (the database clock), None if it never did."""
        self._finished_children.get(status, attempt.job_name).inc()
        self._duration_children.get(status, attempt.kind).observe(duration_ms / 1000)
        # A retry's slot lies before its backoff: its lag would measure the delay.
        if attempt.attempt == 1 and started_at is not None:
            self._lag_children.get(attempt.trigger).observe(
                max(0.0, (started_at - attempt.scheduled_for).total_seconds())
            )

    def skipped(self, job_name: str, slots: int) -> None:
        """A claim recorded ``slots`` slots of ``job_name`` skipped."""
        self._by_job(self._skipped, job_name).inc(slots)

    def over_warning(self, job_name: str) -> None:
        """An attempt of ``job_name`` has just run past its warn_after_seconds."""
        self._by_job(self._over_warning, job_name).inc()
        self._by_job(self._running_over_warning, job_name).inc()

    def warning_ended(self, job_name: str) -> None:
        """An attempt flagged by ``over_warning`` ended."""
        self._by_job(self._running_over_warning, job_name).dec()

    def _by_job(self, metric: Any, job_name: str) -> Any:
        # Rare events (slow attempts): a labels() lookup each is cheap enough.
        return metric.labels(job=job_name) if self._job_label else metric

    def lost(self, job_name: str) -> None:
        """Recovery recorded a run lost (its worker died, or it never started)."""
        self._finished_children.get("lost", job_name).inc()

    def dropped(self) -> None:
        """An outcome was dropped: the claim had been taken away."""
        self._dropped.inc()

    def abandoned(self) -> None:
        """An attempt was stopped and will not be recorded by this worker."""
        self._abandoned.inc()


class _Children:
    """A metric's children by one or two labels, kept in nested dicts.

    Nested dicts, not tuple keys, so a lookup allocates nothing. The first label is
    the low-cardinality one; a metric without the second ignores its value.
    """

    def __init__(self, metric: Any, outer: str, inner: str | None = None) -> None:
        self._metric = metric
        self._outer = outer
        self._inner = inner
        self._by: dict[str, dict[str, Any]] = {}

    def get(self, outer: str, inner: str = "") -> Any:
        """The child for these label values, created on first use."""
        children = self._by.get(outer)
        if children is None:
            children = self._by[outer] = {}
        child = children.get(inner)
        if child is None:
            labels = {self._outer: outer}
            if self._inner is not None:
                labels[self._inner] = inner
            child = children[inner] = self._metric.labels(**labels)
        return child


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would flood stderr with access lines."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsPortUnavailable(ConfigurationError):
    """The metrics port cannot be bound (in use, or not allowed)."""


class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP, on a daemon thread."""

    def __init__(
        self, metrics: Metrics, host: str, port: int, unhealthy: Callable[[], str | None]
    ) -> None:
        self._metrics_app: WsgiApp = make_wsgi_app(metrics.registry)
        self._unhealthy = unhealthy
        try:
            self._server = make_server(
                host, port, self._route, ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise MetricsPortUnavailable(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; "
                "choose another --metrics-port"
            ) from exc
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pgsched-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop answering and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def _route(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        if path == "/healthz":
            problem = self._unhealthy()
            start_response(
                "200 OK" if problem is None else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [f"{problem or 'ok'}\n".encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]


class Lease(Protocol):
    """What the health check reads of the heartbeat."""

    def age(self) -> float:
        """Seconds since the last accepted heartbeat."""

    def healthy(self) -> bool:
        """Whether that is younger than the lease."""


class Backlog(Protocol):
    """What the gauges read of the finisher."""

    @property
    def unrecorded(self) -> int:
        """Outcomes not yet written."""


def serve_worker_metrics(
    metrics: Metrics,
    options: WorkerOptions,
    state: WorkerState,
    finisher: Backlog,
    heartbeat: Lease,
) -> MetricsServer | None:
    """Serve a worker's ``/metrics`` and ``/healthz`` if it was given a metrics port.

    ``/healthz`` wants both loops alive: the heartbeat accepted within the lease, and a
    claim round completed (or no room to claim) within it, so a worker whose claims keep
    failing or waiting is unhealthy even while its heartbeat succeeds.
    """
    if options.metrics_port is None:
        return None
    metrics.watch(
        lambda: state.running,
        lambda: finisher.unrecorded,
        heartbeat.age,
        state.claim_round_age,
        options.lease_seconds,
        options.queues,
    )

    def unhealthy() -> str | None:
        if not heartbeat.healthy():
            return "heartbeat older than the lease"
        if state.claim_round_age() >= options.lease_seconds:
            return "no claim round completed within the lease"
        return None

    server = MetricsServer(metrics, options.metrics_host, options.metrics_port, unhealthy)
    log.info(
        "metrics_serving", host=options.metrics_host, port=server.port, worker_id=state.worker_id
    )
    return server
