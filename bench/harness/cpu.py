"""CPU time of process trees, read from /proc (psutil is not a dependency).

A tree's time is each live process's own user + system time plus the time of the
children it has reaped (``cutime``/``cstime``), so a child that exits during a
window still counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (``[0]`` is the state)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    return text[text.rindex(")") + 2 :].split()


def _own_and_reaped_ticks(fields: list[str]) -> int:
    # utime, stime, cutime, cstime: fields 14-17 of stat(5), 11-14 here.
    return sum(int(value) for value in fields[11:15])


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid``, or None if it is gone or unreadable."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def command_name(pid: int) -> str | None:
    """``/proc/<pid>/comm``, or None if it is gone or unreadable."""
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, by parent pid, as /proc shows them now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            ppid = parent_pid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    """CPU seconds used so far by ``roots`` and all their descendants."""
    roots = list(roots)
    ticks = 0
    for pid in {*roots, *descendants(roots)}:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += _own_and_reaped_ticks(fields)
    return ticks / CLOCK_TICKS_PER_SECOND


def descendants(roots: Iterable[int]) -> list[int]:
    """The processes below ``roots`` (children, their children...), as /proc shows them."""
    children = children_by_parent()
    found: list[int] = []
    pending = [child for root in roots for child in children.get(root, ())]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, ()))
    return found


def processes_cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds of each of ``pids`` still alive (their descendants not included)."""
    seconds = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            seconds[pid] = _own_and_reaped_ticks(fields) / CLOCK_TICKS_PER_SECOND
    return seconds


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of a tree at one instant of the monotonic clock."""

    at: float
    cpu_seconds: float


def sample_tree(roots: Iterable[int]) -> CpuSample:
    """Sample the tree under ``roots`` now."""
    return CpuSample(time.monotonic(), tree_cpu_seconds(roots))


def percent_of_core(before: CpuSample, after: CpuSample) -> float:
    """CPU used between two samples, as % of one core."""
    return 100 * (after.cpu_seconds - before.cpu_seconds) / (after.at - before.at)
