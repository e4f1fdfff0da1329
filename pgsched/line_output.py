"""Where the worker's log lines go: one file, written and flushed once per loop turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TextIO


class LineOutput:
    """Where log lines go: one file, written and flushed once per event loop turn.

    structlog writes through ``msg`` (at once, after any lines waiting); the lean
    per-run lines through ``add``, flushed at the end of the loop turn that wrote
    them, or at once outside a loop. ``flush`` runs at exit too (``configure_logging``).
    """

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self._lines: list[str] = []
        self._lock = threading.Lock()  # failure hooks log from their own thread
        self._flush_due = False

    def add(self, lines: Sequence[str]) -> None:
        """Write ``lines`` with the others of this loop turn."""
        with self._lock:
            self._lines.extend(lines)
            if self._flush_due:
                return
            self._flush_due = True
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop running: nothing would flush it later
            self.flush()

    def msg(self, message: str) -> None:
        """Write ``message`` now (structlog's lines), after the lines waiting."""
        with self._lock:
            self._lines.append(message)
            self._write()

    log = debug = info = warn = warning = error = err = critical = exception = msg

    def flush(self) -> None:
        """Write the lines waiting."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        self._flush_due = False
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self.file.write(text)
            self.file.flush()
