"""The demo from start to clean stop: jobs, endpoint, workers, live table, summary.

Stopping is the part that must not go wrong, whatever ends the demo (its time,
Ctrl-C, SIGTERM, a worker dying, an error): the workers get SIGTERM and their
grace period, then SIGKILL; the demo's jobs are disabled; attempts of killed
workers are recorded lost and waiting retries skipped, so no row stays
``running`` or ``pending``.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

import psycopg

from pgsched.catalog import demo as records
from pgsched.catalog.maintenance import retire_orphan_runs
from pgsched.catalog.sessions import Connection
from pgsched.db import migrations
from pgsched.db.connection import redact, session
from pgsched.demo.catalog import JOB_NAMES, QUEUE, SQL_LOGIN, WORKER_NAME_PREFIX, demo_jobs
from pgsched.demo.endpoint import DemoEndpoint
from pgsched.demo.screen import CLEAR_SCREEN, Snapshot, render_compact, render_live, render_summary
from pgsched.demo.workers import WORKER_COUNT, DemoWorkers, WorkerExit
from pgsched.text import printable

APPLICATION_NAME = "pgsched-demo"
REFRESH_SECONDS = 1.0
# Without a terminal, a snapshot this often keeps a CI log readable.
COMPACT_EVERY_SECONDS = 5.0
# Lines of a dead worker's log shown with the report, enough for its traceback's end.
LOG_TAIL_LINES = 15
# How many of the latest runs the live table shows.
LATEST_RUNS = 12
# A worker that dies of the demo's SIGTERM had not installed its handler yet: it was
# still starting, and a worker handles signals before it registers or claims anything.
STOPPED_WHILE_STARTING = -signal.SIGTERM


class _Screen:
    """Writes snapshots: redrawn in place on a terminal, every few seconds otherwise."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._live = out.isatty()
        self._next_compact_at = COMPACT_EVERY_SECONDS

    def show(self, snapshot: Snapshot, final: bool = False) -> None:
        # Errors and outputs on screen are what jobs wrote: printable() keeps their
        # escape sequences from acting on the terminal; only CLEAR_SCREEN is ours.
        if self._live:
            width = shutil.get_terminal_size().columns
            self._write(CLEAR_SCREEN + printable(render_live(snapshot, width)) + "\n")
        elif final or snapshot.elapsed_seconds >= self._next_compact_at:
            self._next_compact_at = snapshot.elapsed_seconds + COMPACT_EVERY_SECONDS
            self._write("\n" + printable(render_compact(snapshot)) + "\n")

    def say(self, text: str) -> None:
        self._write(printable(text) + "\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


class _StopRequest:
    """SIGINT and SIGTERM end the demo early.

    Further signals change nothing: stopping is bounded by the workers' grace
    period, and an interrupted shutdown would leave workers and rows behind.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, less if a stop is requested meanwhile."""
        self._event.wait(max(0.0, seconds))

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Handle the signals inside the block; the previous handlers are restored after."""
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        for signum in previous:
            signal.signal(signum, self._handle)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._event.set()


def delete_demo(connection: Connection) -> tuple[int, int, int]:
    """Delete the demo's jobs, their runs and its stopped workers; how many of each."""
    return records.delete_demo(connection, JOB_NAMES, f"{WORKER_NAME_PREFIX}-")


def run_demo(database_url: str, seconds: float, out: TextIO) -> int:
    """Run the demo for ``seconds`` (or until SIGINT/SIGTERM); its exit status.

    0 when everything stopped cleanly; 1 when a worker died early, had to be
    killed or failed, or an attempt was left running.
    """
    screen = _Screen(out)
    migrations.upgrade(database_url)
    log_dir = Path(tempfile.mkdtemp(prefix="pgsched-demo-"))
    stop = _StopRequest()
    with (
        stop.installed(),
        session(database_url, APPLICATION_NAME) as connection,
        DemoEndpoint() as endpoint,
    ):
        records.upsert_jobs(connection, [job.parameters() for job in demo_jobs(endpoint.url)])
        since = records.database_now(connection)
        screen.say(
            f"pgsched demo on {redact(database_url)}: {len(JOB_NAMES)} jobs (demo-*) in queue "
            f"'{QUEUE}', {WORKER_COUNT} workers, {seconds:g} s. Worker logs: {log_dir}"
        )
        sql_url = _sql_url(connection, database_url, screen)
        workers = DemoWorkers(database_url, log_dir, seconds, sql_url)
        early_exits: list[WorkerExit] = []
        try:
            workers.start()
            early_exits = _watch(connection, workers, since, seconds, stop, screen)
        finally:
            exits = workers.stop()
            problems = _wind_down(connection, exits, early_exits, screen)
        screen.say("")
        screen.say("Runs of this demo:")
        screen.say(render_summary(records.job_figures(connection, JOB_NAMES, since)))
    screen.say("")
    screen.say(
        "The demo jobs are disabled now, so later workers leave them alone. Look around with\n"
        "  pgsched psql -c \"SELECT * FROM pgsched.job_health WHERE job_name LIKE 'demo-%'\"\n"
        "and remove them, their runs and the demo's workers with `pgsched demo --cleanup`\n"
        "(or: DELETE FROM pgsched.jobs WHERE name LIKE 'demo-%')."
    )
    screen.say(f"Worker logs: {log_dir}")
    for problem in problems:
        screen.say(f"problem: {problem}")
    return 1 if problems else 0


def _sql_url(connection: Connection, database_url: str, screen: _Screen) -> str | None:
    """A URL for the sql job's own login, or None (said on screen) when none can be made."""
    try:
        return records.sql_login(connection, SQL_LOGIN, database_url)
    except psycopg.Error as exc:
        screen.say(
            f"The demo's sql job will be refused: it runs on a login of its own, {SQL_LOGIN}, "
            f"and this one could not create it ({exc.diag.message_primary or exc})."
        )
        return None


def _watch(
    connection: Connection,
    workers: DemoWorkers,
    since: datetime,
    seconds: float,
    stop: _StopRequest,
    screen: _Screen,
) -> list[WorkerExit]:
    """Refresh the screen until the time is up, a stop is requested or a worker exits.

    Returns the workers that exited by themselves.
    """
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        early_exits = workers.exited()
        done = stop.requested or elapsed >= seconds or bool(early_exits)
        screen.show(_snapshot(connection, workers, since, seconds, elapsed), final=done)
        if done:
            return early_exits
        stop.wait(min(REFRESH_SECONDS, seconds - elapsed))


def _snapshot(
    connection: Connection,
    workers: DemoWorkers,
    since: datetime,
    seconds: float,
    elapsed: float,
) -> Snapshot:
    return Snapshot(
        elapsed_seconds=min(elapsed, seconds),
        total_seconds=seconds,
        workers_alive=len(records.workers_alive(connection, workers.pids)),
        workers_started=len(workers.pids),
        jobs=records.job_figures(connection, JOB_NAMES, since),
        runs=records.latest_runs(connection, JOB_NAMES, since, LATEST_RUNS),
    )


def _wind_down(
    connection: Connection,
    exits: list[WorkerExit],
    early_exits: list[WorkerExit],
    screen: _Screen,
) -> list[str]:
    """Leave the database tidy after the workers exited; what went wrong, if anything."""
    problems = []
    early = {worker.pid for worker in early_exits}
    for worker in exits:
        if worker.pid in early:
            problems.append(
                f"worker {worker.name} (pid {worker.pid}) exited early "
                f"({_exit_status(worker.returncode)}); the end of {worker.log_path}:\n"
                f"{_tail(worker.log_path)}"
            )
        elif worker.killed:
            problems.append(
                f"worker {worker.name} (pid {worker.pid}) did not stop in time and was killed; "
                f"see {worker.log_path}"
            )
        elif worker.returncode not in (0, STOPPED_WHILE_STARTING):
            problems.append(
                f"worker {worker.name} (pid {worker.pid}) exited with "
                f"{_exit_status(worker.returncode)}; see {worker.log_path}"
            )
    disabled = records.disable_jobs(connection, JOB_NAMES)
    killed = [worker.pid for worker in exits if worker.killed or worker.pid in early]
    lost = records.recover_killed_workers(connection, killed) if killed else 0
    retired = retire_orphan_runs(connection)
    running = records.running_runs(connection, JOB_NAMES)
    if running:
        problems.append(f"{running} demo attempt(s) still recorded as running")
    stopped = sum(1 for worker in exits if not worker.killed and worker.pid not in early)
    screen.say(
        f"\nStopped: {stopped} of {len(exits)} workers exited cleanly; disabled "
        f"{len(disabled)} demo jobs; {lost} attempt(s) of killed workers recorded lost, "
        f"{retired} waiting attempt(s) recorded skipped."
    )
    return problems


def _exit_status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"status {returncode}"


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"  (cannot read it: {exc})"
    return "\n".join(f"  {line}" for line in lines[-LOG_TAIL_LINES:]) or "  (empty)"
