"""Looking at processes from a test: is one still running, or stopped?"""

from __future__ import annotations

from pathlib import Path


def _state(pid: int) -> str | None:
    """The state letter of ``pid`` in ``/proc`` (R, S, T, Z...), None if it is absent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (absent, or a zombie awaiting its reaper)."""
    return _state(pid) in (None, "Z")


def process_stopped(pid: int) -> bool:
    """True while ``pid`` is stopped by a signal (SIGSTOP, SIGTSTP)."""
    return _state(pid) == "T"
