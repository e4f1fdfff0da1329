"""structlog set-up. Events are snake_case past tense with stable keys
(``job_name``, ``run_id``, ``attempt``, ``scheduled_for``, ``worker_id``)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from pgsched.models import Attempt

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info", log_format: str = "console") -> None:
    """Send structured events to stderr, as key=value lines or one JSON object per line."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def run_fields(attempt: Attempt, worker_id: str) -> dict[str, Any]:
    """The keys every run event carries."""
    return {
        "job_name": attempt.job_name,
        "run_id": attempt.run_id,
        "attempt": attempt.attempt,
        "scheduled_for": attempt.scheduled_for.isoformat(),
        "worker_id": worker_id,
    }
