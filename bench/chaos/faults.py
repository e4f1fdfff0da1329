"""The faults, when they strike, and the log of what was done.

During the window the harness, on a fixed timeline:

- SIGKILLs a random worker every ``kill_every`` seconds and starts another in its seat;
- SIGSTOPs a worker that holds running attempts until the cluster has declared it
  dead and taken its attempts (past the lease), then SIGCONTs it: its late results
  must be dropped;
- restarts PostgreSQL once (stop, a few seconds down, start);
- terminates every client connection once.

Instants are the host's clock, which is also the embedded server's: the audit
compares them with the rows' timestamps.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.chaos.audit import Paused
from bench.chaos.database import Database
from bench.chaos.fleet import Fleet
from bench.chaos.server import EmbeddedServer

# Where in the window each one-off fault strikes (fractions of its length): apart
# from one another, and early enough that recovery is seen inside the window.
PAUSE_AT = 0.2
RESTART_AT = 0.55
DROP_AT = 0.8
POSTGRES_DOWN_SECONDS = 2.0
# The pause retries this often to catch a worker with attempts to take over.
PAUSE_TRIES = 20
TICK_SECONDS = 0.2


@dataclass(frozen=True)
class FaultEvent:
    """One thing the harness did, and when."""

    at: datetime
    offset_seconds: float
    kind: str
    detail: str


@dataclass
class FaultLog:
    """What the faults did, as the audit and the report need it."""

    events: list[FaultEvent] = field(default_factory=list)
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    paused: Paused | None = None
    paused_label: str | None = None
    kills: int = 0
    terminated_connections: int = 0


def timeline(seconds: float, kill_every: float) -> list[tuple[float, str]]:
    """The faults of a window of ``seconds``, as (offset, kind), in order."""
    kills = [(kill_every * n, "kill") for n in range(1, int(seconds / kill_every) + 1)]
    kills = [(offset, kind) for offset, kind in kills if offset < seconds]
    one_offs = [
        (seconds * PAUSE_AT, "pause"),
        (seconds * RESTART_AT, "restart"),
        (seconds * DROP_AT, "drop"),
    ]
    return sorted(kills + one_offs)


@dataclass
class _Pause:
    seat: int
    label: str
    worker_id: str
    run_ids: list[int]
    started: float


class Chaos:
    """Runs the timeline against a fleet, a server and its database."""

    def __init__(
        self,
        fleet: Fleet,
        database: Database,
        server: EmbeddedServer,
        rng: random.Random,
        lease_seconds: float,
        on_event: Callable[[FaultEvent], None],
    ) -> None:
        self.fleet = fleet
        self.on_event = on_event
        self.database = database
        self.server = server
        self.rng = rng
        # The pause lasts longer than the lease even when the worker's last heartbeat
        # was well before the SIGSTOP and it is reaped sooner. Past the limit it ends
        # whether or not its runs were taken (the fencing check reports those).
        self.pause_least = lease_seconds + 1.0
        self.pause_limit = lease_seconds * 3 + 10
        # A resumed worker is not killed for a lease, so that it is seen dropping its
        # late results and rejoining.
        self.spare_seconds = float(lease_seconds)
        self.log = FaultLog()
        self._pause: _Pause | None = None
        self._spared: dict[int, float] = {}
        self._started = 0.0

    def run(self, seconds: float, kill_every: float) -> FaultLog:
        """Strike the faults over ``seconds``; returns once the paused worker resumed."""
        self._started = time.monotonic()
        pending = timeline(seconds, kill_every)
        actions = {
            "kill": self._kill,
            "pause": self._start_pause,
            "restart": self._restart,
            "drop": self._drop,
        }
        while self._elapsed() < seconds or self._pause is not None:
            if self._pause is not None:
                self._maybe_resume()
            while pending and pending[0][0] <= self._elapsed():
                _, kind = pending.pop(0)
                try:
                    actions[kind]()
                except psycopg.OperationalError as exc:
                    self._note(kind, f"could not strike: {str(exc).strip()}")
            time.sleep(TICK_SECONDS)
        return self.log

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _note(self, kind: str, detail: str) -> None:
        event = FaultEvent(datetime.now(UTC), self._elapsed(), kind, detail)
        self.log.events.append(event)
        self.on_event(event)

    def _holdings(self) -> dict[int, dict[str, Any]]:
        """Live workers by pid, with their ids and running attempts (empty if unreachable)."""
        try:
            return {row["pid"]: row for row in self.database.rows("worker_holdings")}
        except psycopg.OperationalError:
            return {}

    def _kill(self) -> None:
        now = time.monotonic()
        spared = {seat for seat, until in self._spared.items() if until > now}
        if self._pause is not None:
            spared.add(self._pause.seat)
        seat = self.rng.choice([s for s in range(len(self.fleet.seats)) if s not in spared])
        held = self._holdings().get(self.fleet.seats[seat].pid)
        victim, successor = self.fleet.kill(seat)
        self.log.kills += 1
        what = f"{held['id']} holding {held['running']} run(s)" if held else "not registered"
        self._note(
            "kill",
            f"SIGKILL {victim.label} (pid {victim.pid}, {what}); "
            f"started {successor.label} (pid {successor.pid})",
        )

    def _start_pause(self) -> None:
        seats = {worker.pid: seat for seat, worker in enumerate(self.fleet.seats)}
        for _ in range(PAUSE_TRIES):
            busy = [row for row in self._holdings().values() if row["running"]]
            candidates = [row for row in busy if row["pid"] in seats]
            if candidates:
                chosen = candidates[0]
                seat = seats[chosen["pid"]]
                self.fleet.pause(seat)
                try:
                    # Read after the stop: everything it committed before is there.
                    run_ids = [row["id"] for row in self._held(chosen["id"])]
                except psycopg.OperationalError:
                    run_ids = []
                if run_ids:
                    label = self.fleet.seats[seat].label
                    self._pause = _Pause(seat, label, chosen["id"], run_ids, time.monotonic())
                    self.log.paused_label = label
                    self._note(
                        "pause",
                        f"SIGSTOP {label} ({chosen['id']}) holding run(s) "
                        f"{', '.join(map(str, run_ids))}",
                    )
                    return
                self.fleet.resume(seat)
            time.sleep(TICK_SECONDS)
        self._note("pause", "no worker held running attempts: nothing paused")

    def _held(self, worker_id: str) -> list[dict[str, Any]]:
        return self.database.rows("held_runs", worker_id=worker_id)

    def _maybe_resume(self) -> None:
        pause = self._pause
        assert pause is not None
        waited = time.monotonic() - pause.started
        try:
            reaped = self.database.value(
                "worker_reaped", worker_id=pause.worker_id, run_ids=pause.run_ids
            )
        except psycopg.OperationalError:
            reaped = False
        if (not reaped or waited < self.pause_least) and waited < self.pause_limit:
            return
        try:
            # The rows as the reaper left them: nothing may change them from here on.
            rows = self.database.rows("runs_by_id", run_ids=pause.run_ids)
        except psycopg.OperationalError:
            return  # the next tick tries again
        self.log.paused = Paused(pause.worker_id, {row["id"]: row for row in rows})
        self.fleet.resume(pause.seat)
        self._spared[pause.seat] = time.monotonic() + self.spare_seconds
        self._pause = None
        outcome = "reaped" if reaped else "NOT reaped"
        self._note("resume", f"SIGCONT {pause.label} after {waited:.1f} s ({outcome})")

    def _restart(self) -> None:
        self._note("restart", "stopping PostgreSQL")
        down_at, up_at = self.server.restart(POSTGRES_DOWN_SECONDS)
        self.log.outages.append((down_at, up_at))
        self._note("restart", f"PostgreSQL back after {(up_at - down_at).total_seconds():.1f} s")

    def _drop(self) -> None:
        terminated = int(self.database.value("terminate_clients") or 0)
        self.log.terminated_connections += terminated
        self._note("drop", f"pg_terminate_backend: {terminated} client connection(s)")
