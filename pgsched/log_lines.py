"""The per-run ``run_started`` and ``run_finished`` info lines, written without structlog.

A busy worker starts and finishes thousands of runs a second. Through structlog's
processor chain (a context copy, the level, a ``datetime`` timestamp, the renderer, a
locked ``print`` and a flush) each line cost 13 to 30 us of the worker's CPU, two a run:
about as much as the rest of the worker's work per run. Here the same lines are built
a batch at a time (the attempts one claim hands over, or one instant's held slots
begin, or one finish batch records): what a batch shares (the check that structlog is
still ours, the worker's rendered name, the timestamp, one write to the output) is done
once, what a run's two lines share (its keys, rendered) once per run, and names once per
name. They are written through the same ``LineOutput`` that structlog writes to, so
lines keep their order. They must read exactly as structlog would write them (the lines
of one batch share its timestamp): ``tests/unit/test_log_lines.py`` compares the two.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import structlog

from pgsched.line_output import LineOutput
from pgsched.models import Attempt, RunStatus
from pgsched.text import KEPT_TEXT_MAX, printable

# Characters for which structlog's console renderer quotes a text value (repr).
QUOTED = frozenset(" \t=\r\n\"'")
# Entries the name caches hold at most: jobs' and workers' names, rendered once each.
MAX_CACHED_NAMES = 100_000
# Runs whose rendered keys wait for their run_finished line: those started and not yet
# finished. Beyond this many (and one batch: a claim's attempts at most) they are all
# dropped, and rendered again for run_finished (runs released or lost never get one).
MAX_CACHED_RUNS = 20_000
# structlog's console columns: the level padded to its longest name, the event to 30.
LEVEL = "[info     ]"
SUCCEEDED = RunStatus.SUCCEEDED.value

# (attempt, lag_ms): a run_started line; (attempt, duration_ms, lag_ms): a run_finished.
Started = tuple[Attempt, float | None]
Succeeded = tuple[Attempt, float, float | None]

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
        # Per (kind, trigger): run_started's pieces; per run id: its rendered keys.
        self._kinds: dict[tuple[str, str], tuple[str, str]] = {}
        self._runs: dict[int, tuple[str, str, str]] = {}
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
        self._runs.clear()
        self._worker = (None, "")

    def enabled(self) -> bool:
        """Whether info lines are logged, by the level ``configure_logging`` gave: the
        same answer as structlog's lazy logger, which binds a new logger for each
        ``is_enabled_for`` (0.7 to 0.9 us, asked for every run; this, 0.07 us)."""
        if self.output is not None and structlog.is_configured():
            return self._info
        return bool(log.is_enabled_for(logging.INFO))

    def started(self, runs: Sequence[Started], worker_id: str) -> None:
        """Log ``run_started`` (info) for each ``(attempt, lag_ms)``: each attempt was
        handed to its executor."""
        output = self._usable() if runs else None
        if output is None:
            for attempt, lag_ms in runs:
                log.info(
                    "run_started",
                    kind=attempt.kind,
                    trigger=attempt.trigger.value,
                    lag_ms=lag_ms,
                    **run_fields(attempt, worker_id),
                )
            return
        worker, kinds, now = self._worker_name(worker_id), self._kinds, self._now()
        if len(self._runs) + len(runs) > MAX_CACHED_RUNS:
            self._runs.clear()  # runs that never finished here (released, lost): rendered again
        # Calls inlined (the keys kept, the lag rendered): 0.05 to 0.1 us each, per run.
        lines = []
        if self._json:
            tail = f'"event": "run_started", "level": "info", "timestamp": "{now}"}}'
            for attempt, lag_ms in runs:
                head = (kinds.get((attempt.kind, attempt.trigger)) or self._kind(attempt))[0]
                keys = self._kept(attempt, worker)
                lag = "null" if lag_ms is None else repr(lag_ms)
                lines.append(f"{head}{lag}, {keys[0]}{tail}")
        else:
            start, tail = f"{now} {LEVEL} run_started{' ' * 20}", f" worker_id={worker}"
            for attempt, lag_ms in runs:
                kind, trigger = kinds.get((attempt.kind, attempt.trigger)) or self._kind(attempt)
                number, job, run = self._kept(attempt, worker)
                lag = "None" if lag_ms is None else repr(lag_ms)
                lines.append(f"{start}{number} {job} {kind}{lag} {run}{trigger}{tail}")
        output.add(lines)

    def succeeded(self, runs: Sequence[Succeeded], worker_id: str) -> None:
        """Log ``run_finished`` (info) for each ``(attempt, duration_ms, lag_ms)`` of
        an attempt recorded ``succeeded``."""
        output = self._usable() if runs else None
        if output is None:
            for attempt, duration_ms, lag_ms in runs:
                log.info(
                    "run_finished",
                    **run_fields(attempt, worker_id),
                    duration_ms=round(duration_ms, 1),
                    status=SUCCEEDED,
                    lag_ms=lag_ms,
                )
            return
        worker, known, now = self._worker_name(worker_id), self._runs, self._now()
        lines = []
        if self._json:
            tail = f'"event": "run_finished", "level": "info", "timestamp": "{now}"}}'
            for attempt, duration_ms, lag_ms in runs:
                keys = known.pop(attempt.run_id, None) or self._render(attempt, worker)
                lines.append(
                    f'{{{keys[0]}"duration_ms": {round(duration_ms, 1)!r}, "status": "{SUCCEEDED}",'
                    f' "lag_ms": {"null" if lag_ms is None else repr(lag_ms)}, {tail}'
                )
        else:
            start = f"{now} {LEVEL} run_finished{' ' * 19}"
            tail = f" status={SUCCEEDED} worker_id={worker}"
            for attempt, duration_ms, lag_ms in runs:
                pieces = known.pop(attempt.run_id, None) or self._render(attempt, worker)
                number, job, run = pieces
                lines.append(
                    f"{start}{number} duration_ms={round(duration_ms, 1)!r} {job}"
                    f" lag_ms={'None' if lag_ms is None else repr(lag_ms)} {run}{tail}"
                )
        output.add(lines)

    def forget(self, run_id: int) -> None:
        """Run ``run_id`` gets no lean ``run_finished`` line: drop its rendered keys."""
        self._runs.pop(run_id, None)

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

    def _kind(self, attempt: Attempt) -> tuple[str, str]:
        """run_started's pieces for the attempt's kind and trigger: in JSON, the line's
        start up to ``lag_ms``'s value; on the console, ``kind=`` with ``lag_ms=``
        after it, and `` trigger=``."""
        kind, trigger = self._name(attempt.kind), self._name(attempt.trigger.value)
        rendered = (
            (f'{{"kind": {kind}, "trigger": {trigger}, "lag_ms": ', "")
            if self._json
            else (f"kind={kind} lag_ms=", f" trigger={trigger}")
        )
        self._kinds[attempt.kind, attempt.trigger] = rendered
        return rendered

    def _render(self, attempt: Attempt, worker: str) -> tuple[str, str, str]:
        """The run's keys, three pieces. In JSON the first holds them all, in the order
        structlog got them (``run_fields``), each followed by a comma (the other two are
        empty). On the console, keys sort: the attempt number, the job's name, and the
        run id with the slot and shard."""
        scheduled_for = attempt.scheduled_for
        cached, iso = self._scheduled
        if scheduled_for != cached:  # most runs of a batch share their slot
            iso = scheduled_for.isoformat()
            self._scheduled = (scheduled_for, iso)
        job = self._names.get(attempt.job_name) or self._name(attempt.job_name)
        shard = attempt.shard if attempt.shards > 1 else None
        if self._json:
            return (
                f'"job_name": {job}, "run_id": {attempt.run_id}, "attempt": {attempt.attempt},'
                f' "scheduled_for": "{iso}", "worker_id": {worker},'
                + ("" if shard is None else f' "shard": {shard},')
                + " ",
                "",
                "",
            )
        run = f"run_id={attempt.run_id} scheduled_for={iso}"
        return (
            f"attempt={attempt.attempt}",
            f"job_name={job}",
            run if shard is None else f"{run} shard={shard}",
        )

    def _kept(self, attempt: Attempt, worker: str) -> tuple[str, str, str]:
        """The run's keys (``_render``), kept for its run_finished line when its job's
        name was short enough to keep rendered (``KEPT_TEXT_MAX``)."""
        keys = self._render(attempt, worker)
        if attempt.job_name in self._names:
            self._runs[attempt.run_id] = keys
        return keys

    def _worker_name(self, worker_id: str) -> str:
        if worker_id is not self._worker[0]:  # the same string, batch after batch
            self._worker = (worker_id, self._name(worker_id))
            self._runs.clear()  # their keys hold the worker's name
        return self._worker[1]

    def _name(self, text: str) -> str:
        rendered = self._names.get(text)
        if rendered is None:
            rendered = json.dumps(text) if self._json else _console_text(printable(text))
            # Only names rendered this short are kept, and only runs whose name is: a
            # job author writes names of up to 200 characters (the jobs trigger), which
            # JSON renders as up to 2,400 (an astral character escaped as two \u
            # escapes), and 100,000 of those with their keys, or 20,000 runs' keys,
            # would be hundreds of megabytes of their text. The text is no longer.
            if len(rendered) <= KEPT_TEXT_MAX:
                if len(self._names) >= MAX_CACHED_NAMES:
                    self._names.clear()
                self._names[text] = rendered
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


# The per-run info lines: through structlog until configure_logging gives an output.
RUN_LINES = RunLines()
