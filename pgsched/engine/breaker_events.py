"""Circuit breaker transitions told once, to the log, the metrics and the failure hooks.

A claim reads breakers and starts probe slots, and an outcome (recorded by the
finisher, or by recovery as lost) opens or closes them: ``RunEvents`` hands each of
these to one method here, so a breaker's move is one log event, one metric update
and one failure report wherever it was seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from pgsched.models import RunStatus

if TYPE_CHECKING:
    from pgsched.engine.metrics import Metrics
    from pgsched.hooks import FailureHooks

log = structlog.get_logger("pgsched.runs")


@dataclass(frozen=True)
class BreakerCause:
    """The recorded run whose outcome moved a circuit breaker."""

    job_name: str
    queue: str
    run_id: int
    attempt: int
    max_attempts: int
    status: RunStatus
    scheduled_for: datetime


class BreakerEvents:
    """Tells circuit breaker transitions to the log and, when configured, to metrics and hooks."""

    def __init__(
        self,
        worker_id: Callable[[], str],
        metrics: Metrics | None,
        hooks: FailureHooks | None,
    ) -> None:
        self.worker_id = worker_id
        self.metrics = metrics
        self.hooks = hooks

    def moved(
        self,
        to: str,
        cause: BreakerCause,
        failed_slots: int | None,
        open_until: datetime | None,
    ) -> None:
        """The outcome of ``cause`` opened (``to`` "open") or closed a circuit breaker."""
        if self.metrics is not None:
            self.metrics.circuit(cause.job_name, cause.queue, to)
        fields: dict[str, Any] = {
            "job_name": cause.job_name,
            "queue": cause.queue,
            "run_id": cause.run_id,
            "scheduled_for": cause.scheduled_for.isoformat(),
            "status": cause.status.value,
            "worker_id": self.worker_id(),
        }
        if to == "open":
            log.warning(
                "circuit_opened", failed_slots=failed_slots, open_until=iso(open_until), **fields
            )
            error = (
                f"circuit breaker opened after {failed_slots} failed slot(s) in a row; "
                f"slots are skipped until {iso(open_until)}"
            )
        else:
            log.info("circuit_closed", **fields)
            error = "circuit breaker closed: a slot succeeded"
        if self.hooks is not None:
            from pgsched.hooks import FailureReport

            self.hooks.submit(
                FailureReport(
                    job_name=cause.job_name,
                    run_id=cause.run_id,
                    attempt=cause.attempt,
                    max_attempts=cause.max_attempts,
                    status=cause.status.value,
                    error=error,
                    scheduled_for=cause.scheduled_for,
                    worker_id=self.worker_id(),
                    event="circuit_opened" if to == "open" else "circuit_closed",
                )
            )

    def seen(
        self,
        breakers: Sequence[tuple[str, str, str]],
        probes: Sequence[tuple[str, str, datetime]],
        opened: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """A claim read these breakers' states, started these probe slots and opened
        breakers (``opened``: a superseded retry, whose slot thereby failed)."""
        if self.metrics is not None:
            for job_name, queue, state in breakers:
                self.metrics.circuit_state(job_name, queue, state)
        for job_name, queue, slot in probes:
            if self.metrics is not None:
                self.metrics.circuit(job_name, queue, "half_open")
            log.info(
                "circuit_half_open",
                job_name=job_name,
                queue=queue,
                probe_slot=slot.isoformat(),
                worker_id=self.worker_id(),
            )
        for row in opened:
            cause = BreakerCause(
                row["job_name"],
                row["queue"],
                row["run_id"],
                row["attempt"],
                row["max_attempts"],
                RunStatus.SKIPPED,
                row["scheduled_for"],
            )
            self.moved(row["transition"], cause, row["failed_slots"], row["open_until"])


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 text, None kept."""
    return value.isoformat() if value is not None else None
