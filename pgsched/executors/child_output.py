"""What a python child writes to its own stdout and stderr, turned into worker log events.

A job's ``print`` goes to its run's ``output`` (the child swaps ``sys.stdout``), but
what reaches the file descriptors themselves, the output of a command the job starts,
a C library's warnings, the child's own traceback if it dies, must go somewhere. Not
to the worker's stderr: there a job could write lines that read like the worker's own
log. Each child gets a pipe of its own instead, and each line read from it becomes a
``python_child_output`` event, its text a field the log renderer quotes.
"""

from __future__ import annotations

import asyncio

import structlog

from pgsched.executors.base import OUTPUT_LIMIT_CHARS

# One event per line, cut to this length.
LINE_LIMIT_CHARS = 2_000

log = structlog.get_logger("pgsched.executors.python")


class ChildOutput(asyncio.Protocol):
    """Reads one child's stdout and stderr pipe and logs it line by line.

    Each attempt may log up to ``OUTPUT_LIMIT_CHARS`` characters, as much as a run
    keeps of its output; beyond it lines are counted and dropped, so a chatty job
    cannot flood the worker's log.
    """

    def __init__(self) -> None:
        self.pid: int | None = None
        self._run_id: int | None = None
        self._partial = bytearray()
        self._room = OUTPUT_LIMIT_CHARS
        self._dropped_lines = 0

    def attempt_started(self, run_id: int) -> None:
        """Lines from now on belong to run ``run_id``, with a fresh allowance."""
        self._report_dropped()
        self._run_id = run_id
        self._room = OUTPUT_LIMIT_CHARS

    def data_received(self, data: bytes) -> None:
        self._partial += data
        *lines, rest = bytes(self._partial).split(b"\n")
        self._partial = bytearray(rest)
        if len(self._partial) > LINE_LIMIT_CHARS:
            lines.append(rest)
            self._partial.clear()
        for line in lines:
            self._log(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._partial:
            self._log(bytes(self._partial))
            self._partial.clear()
        self._report_dropped()

    def _log(self, line: bytes) -> None:
        if self._room <= 0:
            self._dropped_lines += 1
            return
        text = line.decode("utf-8", errors="replace")[:LINE_LIMIT_CHARS]
        self._room -= len(text)
        log.info("python_child_output", pid=self.pid, run_id=self._run_id, output=text)

    def _report_dropped(self) -> None:
        if self._dropped_lines:
            log.warning(
                "python_child_output_dropped",
                pid=self.pid,
                run_id=self._run_id,
                lines=self._dropped_lines,
                reason=f"more than {OUTPUT_LIMIT_CHARS} characters in one attempt",
            )
            self._dropped_lines = 0
