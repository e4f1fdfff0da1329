"""The per-run ``run_started`` and ``run_finished`` info lines, written without structlog.

A busy worker starts and finishes thousands of runs a second. Through structlog's
processor chain (a context copy, the level, a ``datetime`` timestamp, the renderer, a
locked ``print`` and a flush) each line cost 13 to 30 us of the worker's CPU, two a run:
about as much as the rest of the worker's work per run. Here the same lines are built
from cached pieces (the job's rendered name, the worker's, the second of the timestamp)
and written a loop turn's lines at a time, through the same ``LineOutput`` that
structlog writes to, so lines keep their order. They must read exactly as structlog
would write them: ``tests/unit/test_log_lines.py`` compares the two.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from typing import Any, TextIO

import structlog

from pgsched.models import Attempt, RunStatus
from pgsched.text import printable

# Characters for which structlog's console renderer quotes a text value (repr).
QUOTED = frozenset(" \t=\r\n\"'")
# Entries the name caches hold at most: jobs' and workers' names, rendered once each.
MAX_CACHED_NAMES = 100_000
# structlog's console columns: the level padded to its longest name, the event to 30.
LEVEL = "[info     ]"
SUCCEEDED = RunStatus.SUCCEEDED.value


log = structlog.get_logger("pgsched.runs")


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


class LineOutput:
    """Where log lines go: one file, written and flushed once per event loop turn.

    structlog writes through ``msg`` (at once, after any lines waiting); the lean
    lines through ``add``, flushed at the end of the loop turn that wrote them, or
    at once outside a loop. ``flush`` runs at exit too (``configure_logging``).
    """

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self._lines: list[str] = []
        self._lock = threading.Lock()  # failure hooks log from their own thread
        self._flush_due = False

    def add(self, line: str) -> None:
        """Write ``line`` with the others of this loop turn."""
        with self._lock:
            self._lines.append(line)
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


class RunLines:
    """Renders the success path's two per-run info lines as structlog would."""

    def __init__(self) -> None:
        self.output: LineOutput | None = None
        self._json = False
        self._names: dict[str, str] = {}
        self._second = -1
        self._prefix = ""
        self._scheduled: tuple[Any, str] = (None, "")
        self._worker: tuple[str | None, str] = (None, "")
        self._kinds: dict[tuple[str, str], tuple[str, str]] = {}
        self._info = False
        # The context last looked at, and whether it held structlog's variables.
        self._context: contextvars.Context | None = None
        self._bound = False

    def use(
        self, output: LineOutput | None, log_format: str = "console", level: int = logging.INFO
    ) -> None:
        """Write to ``output`` in ``log_format`` (None: never; structlog writes all),
        which structlog filters at ``level``."""
        self.output = output
        self._json = log_format == "json"
        self._info = level <= logging.INFO
        self._names.clear()
        self._kinds.clear()
        self._worker = (None, "")

    def enabled(self) -> bool:
        """Whether info lines are logged, by the level ``configure_logging`` gave: the
        same answer as structlog's lazy logger, which binds a new logger for each
        ``is_enabled_for`` (0.7 to 0.9 us, asked for every run; this, 0.07 us)."""
        if self.output is not None and structlog.is_configured():
            return self._info
        return bool(log.is_enabled_for(logging.INFO))

    def started(self, attempt: Attempt, worker_id: str, lag_ms: float | None) -> None:
        """Log ``run_started`` (info): ``attempt`` was handed to its executor."""
        output = self._usable()
        if output is None:
            log.info(
                "run_started",
                kind=attempt.kind,
                trigger=attempt.trigger.value,
                lag_ms=lag_ms,
                **run_fields(attempt, worker_id),
            )
            return
        number, job, run, rest = self._head(attempt, worker_id)
        kind, trigger = self._kinds.get((attempt.kind, attempt.trigger)) or self._kind(attempt)
        lag = _number(lag_ms, self._json)
        if self._json:
            output.add(
                f'{{"kind": {kind}, "trigger": {trigger}, "lag_ms": {lag}, "job_name": {job},'
                f' "run_id": {run}, "attempt": {number}, {rest}'
                f'"event": "run_started", "level": "info", "timestamp": "{self._now()}"}}'
            )
        else:
            output.add(
                f"{self._now()} {LEVEL} run_started{' ' * 20}attempt={number} job_name={job}"
                f" kind={kind} lag_ms={lag} run_id={run} trigger={trigger} worker_id={rest}"
            )

    def _kind(self, attempt: Attempt) -> tuple[str, str]:
        rendered = self._name(attempt.kind), self._name(attempt.trigger.value)
        self._kinds[attempt.kind, attempt.trigger] = rendered
        return rendered

    def succeeded(
        self, attempt: Attempt, worker_id: str, duration_ms: float, lag_ms: float | None
    ) -> None:
        """Log ``run_finished`` (info) of an attempt recorded ``succeeded``."""
        duration_ms = round(duration_ms, 1)
        output = self._usable()
        if output is None:
            fields = run_fields(attempt, worker_id)
            log.info(
                "run_finished", **fields, duration_ms=duration_ms, status=SUCCEEDED, lag_ms=lag_ms
            )
            return
        number, job, run, rest = self._head(attempt, worker_id)
        status, lag = self._name(SUCCEEDED), _number(lag_ms, self._json)
        if self._json:
            output.add(
                f'{{"job_name": {job}, "run_id": {run}, "attempt": {number}, {rest}'
                f'"duration_ms": {duration_ms!r}, "status": {status}, "lag_ms": {lag},'
                f' "event": "run_finished", "level": "info", "timestamp": "{self._now()}"}}'
            )
        else:
            output.add(
                f"{self._now()} {LEVEL} run_finished{' ' * 19}attempt={number}"
                f" duration_ms={duration_ms!r} job_name={job} lag_ms={lag} run_id={run}"
                f" status={status} worker_id={rest}"
            )

    def _usable(self) -> LineOutput | None:
        """Where to write, None when structlog must: it was reset or configured
        elsewhere (a test), or a context was bound with ``bind_contextvars``
        (``merge_contextvars`` adds its keys to each line)."""
        if self.output is None or not structlog.is_configured():
            return None
        # Contexts holding the same variables compare equal at once (the same mapping
        # underneath): structlog's variables are looked for again only once one changed.
        context = contextvars.copy_context()
        if context != self._context:
            self._context = context
            self._bound = bool(structlog.contextvars.get_contextvars())
        return None if self._bound else self.output

    def _head(self, attempt: Attempt, worker_id: str) -> tuple[int, str, str, str]:
        """The run's keys, rendered: attempt number, job name, run id, and the rest.
        The rest is, in JSON, the keys after ``attempt`` in the order structlog got
        them (slot, worker, shard); on the console, keys sort: the slot and shard
        follow the run id, and the rest is the worker's name, last."""
        scheduled_for = attempt.scheduled_for
        cached, iso = self._scheduled
        if scheduled_for != cached:  # most runs of a turn share their slot
            iso = scheduled_for.isoformat()
            self._scheduled = (scheduled_for, iso)
        job = self._name(attempt.job_name)
        if worker_id is not self._worker[0]:  # the same string, run after run
            self._worker = (worker_id, self._name(worker_id))
        worker = self._worker[1]
        shard = attempt.shard if attempt.shards > 1 else None
        if self._json:
            tail = "" if shard is None else f' "shard": {shard},'
            rest = f'"scheduled_for": "{iso}", "worker_id": {worker},{tail} '
            return attempt.attempt, job, str(attempt.run_id), rest
        run = f"{attempt.run_id} scheduled_for={iso}" + ("" if shard is None else f" shard={shard}")
        return attempt.attempt, job, run, worker

    def _name(self, text: str) -> str:
        rendered = self._names.get(text)
        if rendered is None:
            if len(self._names) >= MAX_CACHED_NAMES:
                self._names.clear()
            rendered = self._names[text] = (
                json.dumps(text) if self._json else _console_text(printable(text))
            )
        return rendered

    def _now(self) -> str:
        """``datetime.now(timezone.utc).isoformat()`` with ``Z``, as TimeStamper writes it."""
        second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        microseconds = nanoseconds // 1000
        if microseconds == 0:  # isoformat leaves a zero fraction out
            return f"{self._prefix}Z"
        return f"{self._prefix}.{microseconds:06d}Z"


def _console_text(text: str) -> str:
    """A text value as structlog's console renderer shows it."""
    return repr(text) if QUOTED.intersection(text) else text


def _number(value: float | None, as_json: bool) -> str:
    if value is None:
        return "null" if as_json else "None"
    return repr(value)


# The per-run info lines: through structlog until configure_logging gives an output.
RUN_LINES = RunLines()
