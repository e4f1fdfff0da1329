"""Python attempts held for their slot's instant, and their hand-over to the children.

A slot claimed ahead (fire-ahead) reaches its python process before its instant, so
that at the instant nothing stands between it and its job but the child's own wake-up:
not the worker's event loop, not a message, not a batch being read. The child waits
for the instant with the attempt still in its queue, so it stays withdrawable, and is
not timed out while it waits (``Child.began``). Until ``HAND_OVER_LEAD_SECONDS`` before
its instant a held attempt waits here, in the executor: attempts due at once that come
meanwhile (a retry, a manual run) then never queue in a child behind one that waits
for its instant, and a withdrawal needs no message.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable, Iterator, Sequence

from pgsched.executors.python_children import Child, Ticket

# How long before its instant a held attempt is sent to a child: long enough that a
# busy worker (a claim, a burst of results) still hands the instant's attempts over,
# and each child has read them, before it comes; short enough that an attempt due at
# once rarely queues behind held ones (and then for no longer than this).
HAND_OVER_LEAD_SECONDS = 0.05
# While its children begin an instant's held attempts back to back, the worker leaves
# the cores to them: two cores shared by eight children, two workers and the database
# begin an instant's median attempt only once half the CPU the burst takes was spent,
# and the worker's own work then took cores they needed (reading a result costs it
# more than the child spent beginning and running a no-op; a batch of outcomes costs
# the database more again; bench/README.md, Round 8). So it reads no result, writes no
# outcome and claims nothing (``Quiet``) for about as long as the children take to
# begin them (QUIET_PER_ATTEMPT times their count at the children's pace), at most
# QUIET_MAX_SECONDS; then it reads every result waiting, in a few wake-ups. Not for an
# instant whose attempts begin within QUIET_MIN_SECONDS. From QUIET_LEAD_SECONDS before
# the instant: the event loop wakes for a timer up to a millisecond late, and reads
# what came meanwhile before it runs the timer.
QUIET_LEAD_SECONDS = 0.005
QUIET_MAX_SECONDS = 0.025
QUIET_MIN_SECONDS = 0.001
QUIET_PER_ATTEMPT = 4.0


class HeldTickets:
    """Tickets waiting in the executor for their hand-over, by instant; and every ticket
    not yet begun whose instant is still to come, wherever it waits."""

    def __init__(self, hand_over: Callable[[list[Ticket]], None]) -> None:
        self._hand_over = hand_over
        self._groups: dict[float, list[Ticket]] = {}
        self._later: set[Ticket] = set()

    def hold(self, ticket: Ticket) -> None:
        """Keep ``ticket`` until ``HAND_OVER_LEAD_SECONDS`` before its ``start_at``."""
        ticket.held = True
        self._later.add(ticket)
        group = self._groups.get(ticket.start_at)
        if group is None:
            group = self._groups[ticket.start_at] = []
            at = ticket.start_at - HAND_OVER_LEAD_SECONDS
            asyncio.get_running_loop().call_at(at, self._due, ticket.start_at)
        group.append(ticket)

    def take(self, ticket: Ticket) -> bool:
        """Take ``ticket`` back if it still waits here; whether it did."""
        # Left in its group, which its timer drops: withdrawing many costs no search.
        taken, ticket.held = ticket.held, False
        return taken

    def waiting(self) -> Iterator[Ticket]:
        """The tickets waiting here."""
        for group in self._groups.values():
            yield from (ticket for ticket in group if ticket.held)

    def later(self) -> int:
        """How many tickets, here or already handed over, wait for an instant still to
        come (neither answered nor given up)."""
        now = time.monotonic()
        self._later = {
            ticket
            for ticket in self._later
            if ticket.start_at > now and not ticket.abandoned and not ticket.settled
        }
        return len(self._later)

    def _due(self, start_at: float) -> None:
        tickets = [ticket for ticket in self._groups.pop(start_at, ()) if ticket.held]
        for ticket in tickets:
            ticket.held = False
        if tickets:
            self._hand_over(tickets)


class Quiet:
    """The windows in which a worker leaves the cores to children beginning an instant."""

    def __init__(self) -> None:
        self._windows: list[tuple[float, float]] = []

    def begin(self, children: Sequence[Child], start_at: float, count: int, pace: float) -> None:
        """``children`` begin ``count`` held attempts from ``start_at``, at about
        ``pace`` seconds each: leave their results unread meanwhile (``remaining``
        tells the worker's other loops)."""
        quiet = min(QUIET_MAX_SECONDS, QUIET_PER_ATTEMPT * count * pace)
        if quiet < QUIET_MIN_SECONDS or not children:
            return
        start, end = start_at - QUIET_LEAD_SECONDS, start_at + quiet
        self._windows.append((start, end))
        loop = asyncio.get_running_loop()
        loop.call_at(start, _leave_unread, list(children))
        loop.call_at(end, _read_again, list(children))

    def remaining(self) -> float:
        """How long the current window has still to run (0: none now)."""
        now = time.monotonic()
        self._windows = [window for window in self._windows if window[1] > now]
        ends = [end for start, end in self._windows if start <= now]
        return max(ends) - now if ends else 0.0


def _leave_unread(children: list[Child]) -> None:
    for child in children:
        child.inbox.leave_unread()


def _read_again(children: list[Child]) -> None:
    for child in children:
        child.inbox.read_again()


def spread(tickets: list[Ticket], children: list[Child]) -> list[tuple[Child, list[Ticket]]]:
    """``tickets`` (of one instant, in order) shared among ``children`` so that each
    ends with about as many queued as the others: the instant's last attempt begins
    when the busiest child gets to it."""
    heap = [(len(child.queued), index) for index, child in enumerate(children)]
    heapq.heapify(heap)
    shares: dict[int, list[Ticket]] = {}
    for ticket in tickets:
        queued, index = heapq.heappop(heap)
        shares.setdefault(index, []).append(ticket)
        heapq.heappush(heap, (queued + 1, index))
    return [(children[index], share) for index, share in shares.items()]
