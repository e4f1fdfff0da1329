"""Plain text for people: counts with their noun, the first line of an error.

Shared by the commands, the catalog's checks, the demo and the benchmark, so that
each says things the same way. No I/O.
"""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``1 job``, ``2 jobs``: a count with its noun, for messages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
