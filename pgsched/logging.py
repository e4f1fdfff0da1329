"""structlog set-up. Events are snake_case past tense with stable keys
(``job_name``, ``run_id``, ``attempt``, ``scheduled_for``, ``worker_id``)."""

from __future__ import annotations

import atexit
import logging
import sys
from typing import Any, TextIO

import structlog

from pgsched.line_output import LineOutput
from pgsched.log_lines import RUN_LINES
from pgsched.text import printable

LOG_FORMATS = ("console", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(
    level: str = "info", log_format: str = "console", file: TextIO | None = None
) -> None:
    """Send structured events to stderr (or ``file``), as key=value lines or one JSON
    object per line. Configure structlog only here: ``RUN_LINES`` writes as it does."""
    # JSON escapes control characters by itself; the console renderer prints a value
    # without spaces as it is, so a job's output line could drive the terminal.
    output = LineOutput(sys.stderr if file is None else file)
    threshold = logging.getLevelNamesMapping()[level.upper()]
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
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=lambda *names: output,
        cache_logger_on_first_use=True,
    )
    RUN_LINES.use(output, log_format, threshold)


def _flush_at_exit() -> None:
    """Lines of the last loop turn are written even when the loop stops before it."""
    output = RUN_LINES.output
    if output is not None:
        output.flush()


atexit.register(_flush_at_exit)


def _printable_values(
    logger: Any, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The event with its text escaped for a terminal: a job's output, an error or a
    name a job author wrote shows ``\\x1b[2J``, never acts on it."""
    return {
        key: printable(value) if isinstance(value, str) else value for key, value in event.items()
    }
