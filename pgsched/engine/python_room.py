"""The python room's cap, sized by how long a claim's python attempts took to begin.

A claim of due python slots takes what the python processes begin within
``MAX_WAIT_SECONDS`` at their own time per attempt (``ClaimPacer.room``). That pace
leaves out what the claim itself costs: its statements, its rows made into attempts,
the hand-over to the processes, and the cores the processes share with the worker
and the database. Under 5x overload a claim of 500 no-ops took long enough that its
last attempt began 65 to 81 ms after the claim was sent (bench/README.md, Round 8:
--concurrency and python room). So the cap follows what a full claim's attempts
measured: the last of them began ``waited`` after the claim was sent, behind
``queued`` attempts in all (those already waiting too); the next claims take about
as many as begin within the wait, never fewer than ``PYTHON_ROOM_MIN``.
"""

from __future__ import annotations

from collections.abc import Callable

# A claimed python attempt should begin within about this long of its claim.
MAX_WAIT_SECONDS = 0.05
# The most python attempts a worker keeps waiting for its processes, whatever their
# pace: jobs of microseconds would otherwise make the wait's bound thousands, and a
# claim that large takes long while the processes idle. Bounds their memory, and
# with --concurrency's room the size of one claim.
PYTHON_ROOM_MAX = 500
# The least the measured waits shrink it to: a claim's statements and round trips
# cost much the same for 100 slots as for 10 (bench/README.md, Round 3), and on a
# host so loaded that a claim alone takes the whole wait, smaller claims would only
# cost more claims; 100 is the default --concurrency, the claims before round 8.
PYTHON_ROOM_MIN = 100
# Once claims begin within the wait, the cap grows by at most this factor a claim.
GROWTH = 1.25


class RoomCap:
    """The most python attempts a claim of due slots may bring (``cap``)."""

    def __init__(self) -> None:
        self.cap = PYTHON_ROOM_MAX

    def claim_begun(self, queued: int, waited: float) -> None:
        """A full claim's python attempts began, the last ``waited`` seconds after the
        claim was sent, behind ``queued`` attempts in all (those waiting before it
        included): past the wait, the cap falls to what would have begun within it;
        within it, it grows to that (at most by ``GROWTH``)."""
        if waited <= 0.0 or queued <= 0:
            return
        fits = int(queued * MAX_WAIT_SECONDS / waited)
        if waited > MAX_WAIT_SECONDS:
            self.cap = max(PYTHON_ROOM_MIN, min(self.cap, fits))
        else:
            grown = min(fits, int(self.cap * GROWTH))
            self.cap = min(PYTHON_ROOM_MAX, max(self.cap, grown))


class BeginWatch:
    """One claim's python attempts due at once, from the claim being sent (``sent``,
    monotonic) to the last of them beginning: ``report(queued, waited)`` then, if the
    claim was ``full`` (it took all it asked for: a claim that took less was not sized
    by the cap). ``queued``: those waiting before it and its own."""

    __slots__ = ("full", "latest", "left", "queued", "report", "sent")

    def __init__(self, sent: float, waiting: int, report: Callable[[int, float], None]) -> None:
        self.sent = sent
        self.queued = waiting
        self.report = report
        self.full = True
        self.latest = 0.0
        self.left = 0

    def add(self) -> None:
        """One more of the claim's attempts, due at once, to watch."""
        self.queued += 1
        self.left += 1

    def ended(self, began: float | None) -> None:
        """One of them ended, having begun at monotonic ``began`` (None: never began)."""
        if began is not None and began - self.sent > self.latest:
            self.latest = began - self.sent
        self.left -= 1
        if not self.left and self.full and self.latest > 0.0:
            self.report(self.queued, self.latest)
