"""Real ``pgsched worker`` subprocesses: start, watch, stop, and read their logs.

Workers run from the repository root so that their python children can import
``bench.harness.targets``. Each has its own process group, so a worker that hangs on stop
is killed with its children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness.errors import BenchError, Findings

REPOSITORY = Path(__file__).resolve().parents[2]
# A worker still running this long after SIGTERM is killed (noop jobs drain at once).
STOP_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 20
# Console log lines at these levels are worth a look even when a worker exits 0.
NOTABLE_LEVELS = ("[warning", "[error", "[critical", "Traceback")
POLL_SECONDS = 0.05


def worker_flags(*flags: str) -> tuple[str, ...]:
    """Those of ``flags`` this pgsched's worker knows: the bench also measures older
    versions, which lack some (and then need none of them)."""
    from pgsched.commands.worker import worker_command

    known = {flag for parameter in worker_command.params for flag in parameter.opts}
    return tuple(flag for flag in flags if flag in known)


def start_worker(
    database_url: str, log_path: Path, options: Sequence[str]
) -> subprocess.Popen[bytes]:
    """One ``pgsched worker`` allowed to run ``bench.`` jobs, logging warnings to ``log_path``.

    Later ``options`` win over the defaults here (click keeps the last value given).
    As root (a container, CI) it runs the bench's own jobs as root: ``--allow-root``.
    """
    root = worker_flags("--allow-root") if os.geteuid() == 0 else ()
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pgsched",
                "worker",
                "--database-url",
                database_url,
                "--log-level",
                "warning",
                "--allow-python",
                "bench.",
                *root,
                *options,
            ],
            cwd=REPOSITORY,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def terminate(processes: Sequence[subprocess.Popen[bytes]]) -> list[int | None]:
    """SIGTERM each worker, then SIGKILL the group of any still running after
    ``STOP_TIMEOUT_SECONDS``; their exit codes, None for those killed."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    codes: list[int | None] = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(deadline - time.monotonic(), 0.1)))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            codes.append(None)
    return codes


class Workers:
    """The worker processes of one phase; stops them (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, database_url: str, log_dir: Path, label: str, findings: Findings):
        self.database_url = database_url
        self.log_dir = log_dir
        self.label = label
        self.findings = findings
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_paths: list[Path] = []
        self._stopped = False

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (their python children are found through /proc)."""
        return [process.pid for process in self.processes]

    def start(self, count: int, *options: str) -> None:
        """Start ``count`` workers with the given extra ``pgsched worker`` options."""
        for _ in range(count):
            index = len(self.processes)
            path = self.log_dir / f"{self.label}-worker-{index}.log"
            process = start_worker(self.database_url, path, options)
            self.processes.append(process)
            self.log_paths.append(path)

    def check_running(self) -> None:
        """Raise ``BenchError`` with the log's tail if a worker has exited."""
        for index, process in enumerate(self.processes):
            code = process.poll()
            if code is not None:
                raise BenchError(
                    f"{self.label} worker {index} (pid {process.pid}) exited early with code "
                    f"{code}; its log ends:\n{self.log_tail(index)}"
                )

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll ``condition`` until truthy, failing early if a worker dies."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self.check_running()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.label}: timed out after {timeout:g} s waiting for {what}; "
                    f"worker logs end:\n{self._all_tails()}"
                )
            time.sleep(POLL_SECONDS)

    def sleep(self, seconds: float) -> None:
        """Sleep, checking once a second that every worker still runs."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            self.check_running()

    def stop(self) -> None:
        """SIGTERM every worker; SIGKILL the group of one that hangs. Note what went wrong."""
        if self._stopped:
            return
        self._stopped = True
        for index, code in enumerate(terminate(self.processes)):
            if code is None:
                self._note(
                    self.findings.errors,
                    index,
                    f"did not stop within {STOP_TIMEOUT_SECONDS:g} s of SIGTERM and was killed",
                )
                continue
            if code != 0:
                self._note(self.findings.errors, index, f"exited with code {code}")
            else:
                notable = self._notable_lines(index)
                if notable:
                    what = f"logged {len(notable)} warning/error line(s)"
                    self._note(self.findings.warnings, index, what, notable)

    def log_tail(self, index: int, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of worker ``index``'s log, indented."""
        text = self.log_paths[index].read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:]) or "    (empty)"

    def _all_tails(self) -> str:
        return "\n".join(
            f"  worker {index} ({path}):\n{self.log_tail(index)}"
            for index, path in enumerate(self.log_paths)
        )

    def _notable_lines(self, index: int) -> list[str]:
        text = self.log_paths[index].read_text(errors="replace").splitlines()
        return [line for line in text if any(mark in line for mark in NOTABLE_LEVELS)]

    def _note(self, into: list[str], index: int, what: str, lines: list[str] | None = None) -> None:
        detail = (
            "\n".join("    " + line for line in lines[-LOG_TAIL_LINES:])
            if lines
            else self.log_tail(index)
        )
        into.append(f"{self.label} worker {index} {what}; log {self.log_paths[index]}:\n{detail}")
