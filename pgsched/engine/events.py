"""Run transitions told once, to the log, the metrics and the failure hooks.

Every place that moves a run (the claim loop, the finisher, recovery) calls one
method here, so each transition is one log event with the same keys, one metric
update and, for an attempt that failed with no retry left, one failure report.
Workers start and finish thousands of runs a second: log fields are built only
when the event prints, and metrics and hooks cost nothing unless configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from pgsched.engine.breaker_events import BreakerCause, BreakerEvents, iso
from pgsched.engine.start_lag import lag_ms, start_lags
from pgsched.log_lines import RUN_LINES, run_fields
from pgsched.models import Attempt, EndedAttempt, Outcome, RunStatus
from pgsched.text import first_line

if TYPE_CHECKING:
    from pgsched.engine.metrics import Metrics
    from pgsched.engine.options import WorkerOptions
    from pgsched.engine.repository import FinishedRun
    from pgsched.engine.rows import ClaimResult
    from pgsched.hooks import FailureHooks

SUCCEEDED = RunStatus.SUCCEEDED
FAILED_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.LOST})
# On shutdown, failure hooks get this long to deliver what is queued (a network call).
HOOKS_CLOSE_SECONDS = 5.0
# run_finished logs one line of the error; the run's row keeps all of it.
MAX_LOGGED_ERROR_CHARS = 200

log = structlog.get_logger("pgsched.runs")


class RunEvents:
    """Tells run transitions to the log and, when configured, to metrics and hooks."""

    def __init__(
        self,
        worker_id: Callable[[], str],
        metrics: Metrics | None = None,
        hooks: FailureHooks | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.metrics = metrics
        self._hooks = hooks
        self._breakers = BreakerEvents(worker_id, metrics, hooks)
        # Attempts running past their job's warn_after_seconds, flagged once each, and
        # the timers (on the event loop: nothing per tick) that will flag the others.
        self._over_warning: set[int] = set()
        self._warning_timers: dict[int, asyncio.TimerHandle] = {}

    @classmethod
    def for_worker(cls, worker_id: Callable[[], str], options: WorkerOptions) -> RunEvents:
        """Events as ``options`` ask: metrics and hooks are imported only when wanted."""
        metrics = hooks = None
        if options.metrics_port is not None:
            from pgsched.engine.metrics import Metrics

            metrics = Metrics(job_label=options.metrics_job_label)
        if options.failure_hooks or options.failure_webhooks:
            from pgsched.executors.http_address import AddressRules
            from pgsched.hooks import FailureHooks
            from pgsched.hooks.webhook import Webhook

            rules = AddressRules.allowing(options.http_allow)
            webhooks = [Webhook(url, rules) for url in options.failure_webhooks]
            hooks = FailureHooks(options.failure_hooks, [(w.name, w) for w in webhooks])
        return cls(worker_id, metrics, hooks)

    def close(self) -> None:
        """Let failure hooks deliver what is queued."""
        if self._hooks is not None:
            self._hooks.close(HOOKS_CLOSE_SECONDS)

    def claimed(self, attempts: Sequence[Attempt]) -> None:
        """One claim took ``attempts`` (to start now, or at their slot's instant)."""
        if attempts and self.metrics is not None:
            self.metrics.claimed(attempts)

    def planned(self, result: ClaimResult) -> None:
        """A claim of due slots committed: its invalid jobs are logged, its skipped
        slots counted, the circuit breakers it read or moved told."""
        for job_name, error in result.job_errors:
            log.error("job_schedule_invalid", job_name=job_name, error=error)
        if self.metrics is not None:
            for job_name, count in result.skipped_slots:
                self.metrics.skipped(job_name, count)
        self._breakers.seen(result.breakers, result.probes, result.opened)

    def watching_starts(self) -> bool:
        """Whether ``started`` does anything for an attempt with no warn_after_seconds."""
        return self.metrics is not None or RUN_LINES.enabled()

    def started(self, attempt: Attempt, handed_over: float | None) -> None:
        """``started_all`` for one attempt."""
        self.started_all((attempt,), handed_over)

    def started_all(self, attempts: Sequence[Attempt], handed_over: float | None) -> None:
        """The worker began ``attempts`` at worker instant ``handed_over``; one past its
        job's warn_after_seconds is flagged then, unless ``ended`` came first."""
        metrics = self.metrics
        for attempt in attempts:
            if metrics is not None:
                metrics.started(attempt)
            if attempt.warn_after_seconds is not None:
                self._warning_timers[attempt.run_id] = asyncio.get_running_loop().call_later(
                    attempt.warn_after_seconds, self._flag_over_warning, attempt
                )
        if RUN_LINES.enabled():
            RUN_LINES.started(start_lags(attempts, handed_over), self.worker_id())

    def ended(self, attempt: Attempt) -> None:
        """``attempt`` stopped running (however): its warning timer goes, and it no
        longer counts as running over its warning."""
        timer = self._warning_timers.pop(attempt.run_id, None)
        if timer is not None:
            timer.cancel()
        if attempt.run_id in self._over_warning:
            self._over_warning.discard(attempt.run_id)
            if self.metrics is not None:
                self.metrics.warning_ended(attempt.job_name)

    def _flag_over_warning(self, attempt: Attempt) -> None:
        self._warning_timers.pop(attempt.run_id, None)
        self._over_warning.add(attempt.run_id)
        if self.metrics is not None:
            self.metrics.over_warning(attempt.job_name)
        log.warning(
            "run_over_warning",
            warn_after_seconds=attempt.warn_after_seconds,
            **run_fields(attempt, self.worker_id()),
        )

    def recorded(self, batch: Sequence[EndedAttempt], finished: Mapping[int, FinishedRun]) -> None:
        """The finisher wrote ``batch``; ``finished`` holds the runs whose claim held."""
        report_each = RUN_LINES.enabled()
        # Lines of runs that succeeded, written together: before any other line of the
        # batch (a failure's, a breaker's, a dropped result's), so that order is kept.
        succeeded: list[tuple[Attempt, float, float | None]] = []
        for ended in batch:
            attempt, outcome, duration_ms = ended.attempt, ended.outcome, ended.duration_ms
            row = finished.get(attempt.run_id)
            if row is None or row.breaker_transition or outcome.status is not SUCCEEDED:
                RUN_LINES.forget(attempt.run_id)
                if succeeded:
                    RUN_LINES.succeeded(succeeded, self.worker_id())
                    succeeded.clear()
            if row is None:
                self._dropped(attempt, outcome, duration_ms)
                continue
            final = outcome.status in FAILED_STATUSES and row.retry_run_id is None
            if self.metrics is not None:
                self.metrics.finished(attempt, outcome.status, duration_ms, ended.started_at)
            if final and self._hooks is not None:
                self._submit_failure(
                    attempt.job_name,
                    attempt.run_id,
                    attempt.attempt,
                    attempt.max_attempts,
                    outcome.status,
                    outcome.error,
                    attempt.scheduled_for,
                )
            if row.breaker_transition is not None:
                self._breakers.moved(
                    row.breaker_transition,
                    BreakerCause(
                        attempt.job_name,
                        row.breaker_queue or "",
                        attempt.run_id,
                        attempt.attempt,
                        attempt.max_attempts,
                        outcome.status,
                        attempt.scheduled_for,
                    ),
                    row.breaker_failed_slots,
                    row.breaker_open_until,
                )
            if not report_each and not final:
                continue
            lag = lag_ms(attempt, ended.started_at)
            if outcome.status is RunStatus.SUCCEEDED:
                succeeded.append((attempt, duration_ms, lag))
                continue
            fields = self._fields(attempt, duration_ms, outcome.status)
            fields["lag_ms"] = lag
            # A failure with a retry queued is routine; one with none left needs a look.
            log.log(
                logging.WARNING if final else logging.INFO,
                "run_finished",
                error=first_line(outcome.error, MAX_LOGGED_ERROR_CHARS) or None,
                max_attempts=attempt.max_attempts,
                retry_run_id=row.retry_run_id,
                retry_at=row.retry_at.isoformat() if row.retry_at else None,
                **fields,
            )
        if succeeded:
            RUN_LINES.succeeded(succeeded, self.worker_id())

    def abandoned(self, attempt: Attempt, duration_ms: float) -> None:
        """An attempt was stopped and not recorded: taken from this worker, or aborted."""
        RUN_LINES.forget(attempt.run_id)
        if self.metrics is not None:
            self.metrics.abandoned()
        log.warning(
            "run_abandoned",
            reason="taken away or aborted",
            **self._fields(attempt, duration_ms, None),
        )

    def lost(self, event: str, run_id: int, row: Mapping[str, Any], error: str) -> None:
        """Recovery recorded run ``run_id`` lost; ``row`` comes from its recovery query."""
        if self.metrics is not None:
            self.metrics.lost(row["job_name"])
        if row["retry_run_id"] is None and self._hooks is not None:
            self._submit_failure(
                row["job_name"],
                run_id,
                row["attempt"],
                row["max_attempts"],
                RunStatus.LOST,
                error,
                row["scheduled_for"],
            )
        if row.get("breaker_transition") is not None:
            self._breakers.moved(
                row["breaker_transition"],
                BreakerCause(
                    row["job_name"],
                    row["breaker_queue"],
                    run_id,
                    row["attempt"],
                    row["max_attempts"] or row["attempt"],
                    RunStatus.LOST,
                    row["scheduled_for"],
                ),
                row["breaker_failed_slots"],
                row["breaker_open_until"],
            )
        log.warning(
            event,
            job_name=row["job_name"],
            run_id=run_id,
            attempt=row["attempt"],
            scheduled_for=iso(row["scheduled_for"]),
            worker_id=self.worker_id(),
            lost_worker_id=row["worker_id"],
            duration_ms=None if row["duration_ms"] is None else round(row["duration_ms"], 1),
            status=RunStatus.LOST.value,
            retry_run_id=row["retry_run_id"],
        )

    def _dropped(self, attempt: Attempt, outcome: Outcome, duration_ms: float) -> None:
        if self.metrics is not None:
            self.metrics.dropped()
        log.warning(
            "run_result_dropped",
            reason="the claim was taken away",
            **self._fields(attempt, duration_ms, outcome.status),
        )

    def _submit_failure(
        self,
        job_name: str,
        run_id: int,
        attempt: int,
        max_attempts: int | None,
        status: RunStatus,
        error: str | None,
        scheduled_for: datetime,
    ) -> None:
        from pgsched.hooks import FailureReport

        assert self._hooks is not None
        self._hooks.submit(
            FailureReport(
                job_name=job_name,
                run_id=run_id,
                attempt=attempt,
                # A job deleted meanwhile has no max_attempts left to read.
                max_attempts=max_attempts or attempt,
                status=status.value,
                error=error,
                scheduled_for=scheduled_for,
                worker_id=self.worker_id(),
            )
        )

    def _fields(
        self, attempt: Attempt, duration_ms: float, status: RunStatus | None
    ) -> dict[str, Any]:
        fields = run_fields(attempt, self.worker_id())
        fields["duration_ms"] = round(duration_ms, 1)
        if status is not None:
            fields["status"] = status.value
        return fields
