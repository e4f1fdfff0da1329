"""Claim sizing: how many attempts a claim takes, and how many slots a worker holds.

The half of the claim loop's pacing (``pacing.ClaimPacer``) that counts rather than
times: the room --concurrency and the python processes leave, the share of shell,
http and sql slots a claim is sized for, and the bounds of a claim ahead. Pure, as
the pacing is: callers pass the counts and the monotonic ``now``.
"""

from __future__ import annotations

# A claimed python attempt should begin within about this long: a claim takes no
# more python slots than the python processes can begin in it, at their own recent
# time per attempt, so that under overload slots wait in the database (and are
# skipped or queued there, by the overlap rules) rather than as "running" rows that
# have not started. Python attempts waiting for a process do not run, so they do not
# count against --concurrency: this wait bounds them instead.
MAX_WAIT_SECONDS = 0.05
# The most python attempts a worker keeps waiting for its processes, whatever their
# pace: jobs of microseconds would otherwise make the wait's bound thousands, and a
# claim that large takes long while the processes idle. Bounds their memory, and
# with --concurrency's room the size of one claim.
PYTHON_ROOM_MAX = 500
# The share of shell, http and sql slots a claim is sized for (``side_share``) is the
# largest of the recent claims': it rises to a claim's share at once and falls by
# this fraction per claim; below SIDE_SHARE_MIN it is taken for none.
SIDE_SHARE_FADING = 0.05
SIDE_SHARE_MIN = 0.01
# A claim ahead takes at most this many slots: a big one takes long (the window must
# cover it) while other workers' claims find its locked rows and skip them; smaller
# ones let every worker take its share of an instant side by side.
FIRE_AHEAD_CLAIM_MAX = 500
# How many slots a worker holds for their instants: as many as its python processes,
# each beginning held attempts back to back at its measured pace, begin within
# HOLD_LAG_SECONDS of the instant (more would begin later anyway, where another worker
# could have begun them sooner); never more than HOLD_MAX, which bounds their memory
# and how many slots a killed worker leaves to recovery (they wait for its lease).
HOLD_LAG_SECONDS = 0.02
HOLD_MAX = 1000


class ClaimSizing:
    """The sizing rules of ``ClaimPacer``, which holds the state they read and set."""

    concurrency: int
    full: bool
    within_concurrency_until: float
    side_share: float
    side_room: int
    python_room: int
    pending_room: int

    def room(
        self,
        running: int,
        processes: int,
        seconds: float,
        waiting: int,
        now: float,
        in_flight: int,
    ) -> int:
        """How many attempts to claim at ``now``. Shell, http and sql ones:
        --concurrency less ``running`` (those of these kinds held, and python attempts
        running in a process). Python ones: what ``processes`` python processes, taking
        ``seconds`` an attempt (0: not timed yet, then --concurrency), begin within
        ``MAX_WAIT_SECONDS`` after the ``waiting`` ones, at most ``PYTHON_ROOM_MAX``,
        and all the worker holds but slots held for a later instant (``in_flight``)
        within --concurrency unless that is more.
        A claim brings both kinds, in about ``side_share``: it is sized so that neither
        kind's part exceeds its room, and never beyond the larger room; for a
        while after one brought shell, http or sql slots beyond --concurrency, within
        --concurrency's room alone (``surplus_seen``)."""
        side = self.concurrency - running
        can_wait = int(processes * MAX_WAIT_SECONDS / seconds) if seconds > 0 else self.concurrency
        begin = min(PYTHON_ROOM_MAX, can_wait)
        # Beyond what they begin within the wait, one for each process may queue behind
        # its attempt (no gap between slow ones); but the worker holds no more in all
        # than --concurrency unless its processes begin more than that within the wait:
        # slow jobs queued behind running ones would wait here while other workers idle.
        python = min(max(processes, begin) - waiting, max(self.concurrency, begin) - in_flight)
        self.pending_room = self.concurrency - in_flight
        self.side_room = side
        self.python_room = python
        share = self.side_share
        if share >= 1.0:
            free = side
        elif share <= 0.0:
            free = python
        else:
            # Never more than either room: should the claim bring one kind only, it
            # waits no longer than a claim of that kind alone would.
            free = int(min(side / share, python / (1.0 - share), max(side, python)))
        if now < self.within_concurrency_until:
            free = min(free, side)
        self.full = free <= 0
        return free

    def kinds_claimed(self, side_by_side: int, claimed: int) -> None:
        """A claim of due slots brought ``claimed`` attempts, ``side_by_side`` of them
        shell, http or sql: ``side_share`` rises to its share at once (a claim sized
        by the lower share would take more of these kinds than they have room for,
        and hand them back) and falls slowly while claims bring fewer."""
        if not claimed:
            return
        faded = self.side_share * (1.0 - SIDE_SHARE_FADING)
        share = max(side_by_side / claimed, faded)
        self.side_share = share if share >= SIDE_SHARE_MIN else 0.0

    def ahead_limit(self, hold: int, due: int, room: int, now: float) -> int:
        """How many slots a claim ahead takes: of ``hold`` (``hold_room``), and of
        ``due`` (``python_room``): any of its slots may be due already (a worker that
        woke late, slots handed back, an instant just passed), and python ones then
        wait for a process within the python room's bounds as a claim of due work's
        would; shell, http and sql ones beyond --concurrency go back
        (``hand_back_surplus``). Of ``room`` (what --concurrency leaves) too, for a
        while after one brought shell, http or sql slots beyond it (``surplus_seen``)."""
        free = min(hold, due)
        if now < self.within_concurrency_until:
            free = min(free, room)
        return min(free, FIRE_AHEAD_CLAIM_MAX)

    def hold_room(self, held: int, processes: int, pace: float) -> int:
        """How many more slots to hold for their instants, ``held`` being held: no
        more than ``processes`` python processes, beginning one every ``pace`` seconds
        (0: not known), begin within ``HOLD_LAG_SECONDS``; at least one each, at most
        ``HOLD_MAX``. Not ``--concurrency``: held slots are not running, and attempts
        of other kinds wait at their instant while that many run (``kinds.py``)."""
        can_begin = int(processes * HOLD_LAG_SECONDS / pace) if pace > 0 else processes
        return min(HOLD_MAX, max(processes, can_begin)) - held
