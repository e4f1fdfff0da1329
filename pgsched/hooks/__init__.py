"""Failure hooks: user functions told about every attempt that failed for good.

``pgsched worker --on-failure package.module:function`` calls the function with a
``FailureReport`` when an attempt failed, timed out or was lost and no retry was
queued for it; ``--on-failure-webhook URL`` POSTs it as JSON (``hooks.webhook``).
Hooks run one at a time on a thread of their own, never on the event
loop: a slow or broken hook (a network call to an error tracker) delays no run, and
its exceptions are logged and otherwise ignored.
"""

from __future__ import annotations

import importlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

# Reports waiting for a hook that hangs are bounded; past this, new ones are dropped
# (and counted in the log) rather than growing the worker's memory without end.
MAX_WAITING_REPORTS = 10_000

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FailureReport:
    """One attempt that failed with no retry left (``status``: failed, timed_out, lost)."""

    job_name: str
    run_id: int
    attempt: int
    max_attempts: int
    status: str
    error: str | None
    scheduled_for: datetime
    worker_id: str


FailureHook = Callable[[FailureReport], object]


class HookNotFound(ValueError):
    """The ``--on-failure`` target is not an importable ``package.module:function``."""


def load_hook(target: str) -> FailureHook:
    """Import ``package.module:function`` and return the function."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise HookNotFound(f"{target!r}: expected package.module:function")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # a module's body may raise anything, SystemExit included
        raise HookNotFound(
            f"{target!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HookNotFound(f"{target!r}: {module_name} has no function {function_name}")
    hook: FailureHook = function
    return hook


class FailureHooks:
    """Calls each loaded hook with each submitted report, in order, off the event loop."""

    def __init__(
        self, targets: Sequence[str], built: Sequence[tuple[str, FailureHook]] = ()
    ) -> None:
        """Hooks imported from ``targets`` (``package.module:function``), then ``built``
        ones (name, hook), such as webhooks."""
        self._hooks = [(target, load_hook(target)) for target in targets] + list(built)
        self._reports: queue.Queue[FailureReport | None] = queue.Queue(MAX_WAITING_REPORTS)
        self._thread = threading.Thread(target=self._deliver, name="pgsched-failure-hooks")
        self._thread.daemon = True  # a hung hook must not keep the process alive
        self._thread.start()

    def submit(self, report: FailureReport) -> None:
        """Queue a report for the hooks; never blocks."""
        try:
            self._reports.put_nowait(report)
        except queue.Full:
            log.error(
                "failure_report_dropped",
                reason="failure hooks are not keeping up",
                job_name=report.job_name,
                run_id=report.run_id,
            )

    def close(self, timeout: float) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds, then stop."""
        try:
            self._reports.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("failure_hooks_unfinished", waiting=self._reports.qsize())

    def _deliver(self) -> None:
        while (report := self._reports.get()) is not None:
            for target, hook in self._hooks:
                try:
                    hook(report)
                except Exception:  # a user's hook must never affect the worker
                    log.exception(
                        "failure_hook_failed",
                        hook=target,
                        job_name=report.job_name,
                        run_id=report.run_id,
                        worker_id=report.worker_id,
                    )
