"""The worker's console log shows what a job wrote as text, never as terminal commands."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from pgsched.logging import configure_logging

# What a job's output line may hold: a window title, a colour, a bidi override.
ESCAPES = "\x1b]0;owned\x07\x1b[31mred\u202e"


@pytest.fixture
def console_log() -> Iterator[io.StringIO]:
    """The console log set up as ``pgsched worker`` does, written to a buffer."""
    configure_logging("info", "console")
    written = io.StringIO()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=written))
    try:
        yield written
    finally:
        structlog.reset_defaults()


def test_the_console_log_escapes_control_characters_a_job_wrote(console_log: io.StringIO) -> None:
    # No space in the value: the console renderer would print it as it is.
    structlog.get_logger("pgsched.test").info("python_child_output", output=ESCAPES, pid=7)
    line = console_log.getvalue()
    assert "python_child_output" in line and "pid=7" in line
    assert not any(character in line for character in "\x1b\x07\u202e"), repr(line)
    assert "\\x1b]0;owned\\x07" in line
