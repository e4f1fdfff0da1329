"""What a worker's loops share: its identity and the attempts it holds.

The claim loop adds attempts, the heartbeat and recovery take them away, the
listener wakes the claim loop, metrics read the counts. They all hold this one
object instead of a bundle of callbacks into the worker.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Protocol

from pgsched.engine.options import WorkerOptions
from pgsched.engine.repository import WorkerIdentity
from pgsched.models import Attempt


class Taken:
    """Cancellation reason: the attempt is no longer ours; record nothing."""


class Released:
    """Cancellation reason: the attempt never began and goes back to the database."""


TAKEN = Taken()
RELEASED = Released()


def new_identity(options: WorkerOptions) -> WorkerIdentity:
    """A fresh worker id (host name or ``--name``, pid, random suffix) and its row."""
    return WorkerIdentity(
        worker_id="-".join(
            (options.name or socket.gethostname(), str(os.getpid()), secrets.token_hex(3))
        ),
        host=socket.gethostname(),
        pid=os.getpid(),
        queues=options.queues,
        concurrency=options.concurrency,
        lease_seconds=options.lease_seconds,
    )


class Running(Protocol):
    """What runs an attempt: its task, or a python attempt's ``PythonRun``."""

    def cancel(self) -> object: ...


class Pacer(Protocol):
    """What decides whether an ended attempt should wake the claim loop."""

    def attempt_ended(self, in_flight: int) -> bool: ...


def ending(running: Running) -> asyncio.Future[None]:
    """A future done once ``running`` has left the worker (for ``asyncio.wait``)."""
    if isinstance(running, asyncio.Future):
        return running
    return running.wait()  # type: ignore[attr-defined,no-any-return]


@dataclass(eq=False)
class InFlight:
    """One attempt this worker holds: what runs it (a task, or on the python batch
    path a ``PythonRun``), whether it was claimed from its job's schedule (a claim that
    can be undone while it has not begun), and whether it has."""

    attempt: Attempt
    task: Running
    from_schedule: bool
    started: bool = False


@dataclass(eq=False)
class WorkerState:
    """One worker's identity and held attempts, shared by its loops."""

    identity: WorkerIdentity
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    # Why an attempt was cancelled, by run id, until its task has seen it.
    cancel_reasons: dict[int, object] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # True while a claim transaction is under way (its runs are not held yet).
    claiming: bool = False
    # A NOTIFY came (new or changed jobs, a manual run, a released slot): the claim
    # loop looks for pending attempts and unscheduled jobs on its next round.
    notified: bool = True
    # When the claim loop last completed a round, or had no room to claim (monotonic):
    # /healthz turns 503 when this is older than the lease, whatever the heartbeat says.
    claim_round_at: float = field(default_factory=time.monotonic)
    # Other live workers serve one of this worker's queues, as its last heartbeat read
    # (until the first one: assumed). Claims ahead leave them a share of an instant.
    peers: bool = True

    @property
    def worker_id(self) -> str:
        """This worker's id, as ``runs.worker_id`` and ``workers.id`` hold it."""
        return self.identity.worker_id

    @property
    def running(self) -> int:
        """Attempts held: running, waiting for a process, or held for their slot."""
        return len(self.in_flight)

    def held_runs(self) -> list[tuple[int, int]]:
        """``(run_id, fence)`` of every attempt held."""
        return [(held.attempt.run_id, held.attempt.fence) for held in self.in_flight.values()]

    def cancel(self, run_id: int, reason: object) -> None:
        """Cancel what runs ``run_id``, telling it why (an ``Outcome``, ``TAKEN``, ``RELEASED``)."""
        held = self.in_flight.get(run_id)
        if held is not None and run_id not in self.cancel_reasons:
            self.cancel_reasons[run_id] = reason
            held.task.cancel()

    def left(self, run_id: int, running: Running, pacer: Pacer) -> None:
        """``running`` let go of ``run_id``: free its place if it still holds it, and
        wake the claim loop when ``pacer`` says the room matters."""
        held = self.in_flight.get(run_id)
        if held is not None and held.task is running:
            del self.in_flight[run_id]
        if pacer.attempt_ended(self.running):
            self.wake_up()

    def take_away(self, run_ids: list[int]) -> list[int]:
        """The cluster gave these runs to others: stop them and record nothing. Returns
        those still held here: one that ended while the database was asked is not
        taken, its outcome (fence-checked) is simply recorded or dropped."""
        held = [run_id for run_id in run_ids if run_id in self.in_flight]
        for run_id in held:
            self.cancel(run_id, TAKEN)
        return held

    def claim_round_done(self) -> None:
        """The claim loop completed a round (or had no room to claim): it is alive."""
        self.claim_round_at = time.monotonic()

    def claim_round_age(self) -> float:
        """Seconds since the claim loop last completed a round."""
        return time.monotonic() - self.claim_round_at

    def wake_up(self, notified: bool = False) -> None:
        """End the claim loop's sleep; ``notified`` for a NOTIFY."""
        self.notified = self.notified or notified
        self.wake.set()
