"""The worker processes under test: one per seat, replaced when the harness kills it.

A seat is a place in the cluster (``w0``, ``w1``...); each process started in it is
an incarnation (``w1#0``, then ``w1#1`` after a kill). Workers run from the
repository root so that their python children import ``bench.`` targets, each in its
own process group, logging JSON at warning level into the run's log directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.harness.workers import start_worker, terminate

# A worker still running this long after SIGTERM is killed (the jobs drain first).


@dataclass
class Incarnation:
    """One worker process in a seat."""

    label: str
    process: subprocess.Popen[bytes]
    log_path: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        """The worker's process id (``pgsched.workers.pid``)."""
        return self.process.pid


class Fleet:
    """Starts, kills, pauses and stops the workers of one chaos run."""

    def __init__(self, database_url: str, log_dir: Path, options: tuple[str, ...]) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.options = options
        self.seats: list[Incarnation] = []
        self.history: list[Incarnation] = []

    def start(self, count: int) -> None:
        """Fill ``count`` new seats."""
        for _ in range(count):
            self.seats.append(self._spawn(len(self.seats)))

    def kill(self, seat: int) -> tuple[Incarnation, Incarnation]:
        """SIGKILL the seat's worker (its python children die with it) and start another."""
        victim = self.seats[seat]
        victim.killed = True
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        self.seats[seat] = self._spawn(seat)
        return victim, self.seats[seat]

    def pause(self, seat: int) -> None:
        """SIGSTOP the worker process alone: its children run on, it cannot report."""
        self.seats[seat].process.send_signal(signal.SIGSTOP)

    def resume(self, seat: int) -> None:
        """SIGCONT a paused worker."""
        self.seats[seat].process.send_signal(signal.SIGCONT)

    def exited_by_themselves(self) -> dict[str, int]:
        """Workers that exited although nobody killed or stopped them, with their codes."""
        return {
            worker.label: code
            for worker in self.history
            if not worker.killed and (code := worker.process.poll()) is not None
        }

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every seated worker; their exit codes (None: killed after a timeout)."""
        codes = terminate([worker.process for worker in self.seats])
        return {worker.label: code for worker, code in zip(self.seats, codes, strict=True)}

    def kill_all(self) -> None:
        """Last resort on the way out: SIGKILL whatever still runs, children included."""
        for worker in self.history:
            if worker.process.poll() is None:
                os.killpg(worker.pid, signal.SIGCONT)
                os.killpg(worker.pid, signal.SIGKILL)
                worker.process.wait()

    def log_of(self, label: str) -> str:
        """The log of incarnation ``label``."""
        worker = next(worker for worker in self.history if worker.label == label)
        return worker.log_path.read_text(errors="replace")

    def _spawn(self, seat: int) -> Incarnation:
        number = sum(1 for worker in self.history if worker.label.startswith(f"w{seat}#"))
        label = f"w{seat}#{number}"
        path = self.log_dir / f"worker-{label.replace('#', '-')}.log"
        process = start_worker(self.database_url, path, ("--log-format", "json", *self.options))
        worker = Incarnation(label, process, path)
        self.history.append(worker)
        return worker
