"""structlog set-up. Events are snake_case past tense with stable keys
(``job_name``, ``run_id``, ``attempt``, ``scheduled_for``, ``worker_id``)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from pgsched.models import Attempt
from pgsched.text import printable

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info", log_format: str = "console") -> None:
    """Send structured events to stderr, as key=value lines or one JSON object per line."""
    # JSON escapes control characters by itself; the console renderer prints a value
    # without spaces as it is, so a job's output line could drive the terminal.
    renderers: list[structlog.types.Processor] = (
        [structlog.processors.JSONRenderer()]
        if log_format == "json"
        else [_printable_values, structlog.dev.ConsoleRenderer(colors=False)]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _printable_values(
    logger: Any, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The event with its text escaped for a terminal: a job's output, an error or a
    name a job author wrote shows ``\\x1b[2J``, never acts on it."""
    return {
        key: printable(value) if isinstance(value, str) else value for key, value in event.items()
    }


def run_fields(attempt: Attempt, worker_id: str) -> dict[str, Any]:
    """The keys every run event carries (and ``shard`` for a job with shards)."""
    fields = {
        "job_name": attempt.job_name,
        "run_id": attempt.run_id,
        "attempt": attempt.attempt,
        "scheduled_for": attempt.scheduled_for.isoformat(),
        "worker_id": worker_id,
    }
    if attempt.shards > 1:
        fields["shard"] = attempt.shard
    return fields
