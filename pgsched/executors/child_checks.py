"""What a python child sends, checked before the worker acts on it.

A job's code runs in its child and can write to the child's message pipe as well as
pgsched's code there can: a frame on that pipe is a claim, not a fact. Each result,
checkpoint and withdrawal must fit what the worker knows of the child (the attempt
it may be running, the withdrawals it asked for, its own clock, which the child
shares); one that does not stops that child, failing the attempt it was running and
sending the ones behind it to another (``ChildPool._refuse``). Without these checks a
NaN time reached the running averages every claim is sized by, and a result or a
checkpoint could name another job's attempt queued in the same child.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

# What a child's own code reports (a timeout or a death is the worker's to record).
CHILD_STATUSES = frozenset({"succeeded", "failed"})


class Head(Protocol):
    """What is known of the attempt a child may be running (``python_children.Ticket``)."""

    key: int
    # When it could begin (the monotonic clock), once it was the child's first.
    began: float | None
    # When it was given to the executor: no later than it could begin.
    since: float


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal asked of a child and not yet answered."""

    answer: asyncio.Future[list[int]]
    # The tickets asked for: the answer may hand back these only.
    keys: frozenset[int]
    # When it was sent (the monotonic clock): the answer's "at" is no earlier.
    sent: float


def result_problem(
    head: Head | None,
    key: int,
    started: float | None,
    ended: float,
    gap: float | None,
    now: float,
) -> str | None:
    """What is wrong with a result for ticket ``key`` read at ``now``, or None. A child
    answers its attempts in order, so a result is the head's (``head``); its times lie
    between the moment the head could begin and ``now``, in order; NaN and the
    infinities fail every comparison, so they are refused with the rest."""
    if head is None or key != head.key:
        return f"a result for ticket {key!r}, which it was not running"
    since = head.began if head.began is not None else head.since
    if not (since <= (ended if started is None else started) <= ended <= now):
        return f"a result with impossible times (started {started!r}, ended {ended!r})"
    if gap is not None and not 0.0 <= gap <= ended:
        return f"a result with an impossible pace (gap {gap!r})"
    return None


def message_problem(message: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a JSON result ``message``, or None; its times
    are ``result_problem``'s to check."""
    try:
        status, output, error = message["status"], message["output"], message["error"]
        fields = (message["ticket"], message["retryable"], message["started"], message["ended"])
        ticket, retryable, started, ended = fields
        gap = message["gap"]
    except KeyError as exc:
        return f"a result without {exc}"
    if status not in CHILD_STATUSES:
        return f"a result of status {str(status)[:40]!r}"
    if not all(text is None or type(text) is str for text in (output, error)):
        return "a result whose output or error is not text"
    if type(ticket) is not int or type(retryable) is not bool:
        return "a result with a ticket that is not a number, or retryable not true or false"
    if not all(_number(value) for value in (started, gap) if value is not None):
        return "a result with times that are not numbers"
    if not _number(ended):
        return "a result with an end that is not a number"
    return None


def withdrawn_problem(withdrawal: Withdrawal, tickets: Any, at: Any, now: float) -> str | None:
    """What is wrong with a child's answer to ``withdrawal`` handing back ``tickets`` at
    ``at``, read at ``now``, or None."""
    if type(tickets) is not list or not all(type(key) is int for key in tickets):
        return "a withdrawal's answer whose tickets are not numbers"
    if not withdrawal.keys.issuperset(tickets):
        return "a withdrawal's answer handing back tickets it was not asked for"
    if not _number(at) or not withdrawal.sent <= at <= now:
        return f"a withdrawal's answer at an impossible time ({at!r})"
    return None


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int
