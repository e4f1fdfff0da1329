"""Job targets of the chaos run; workers' python children import them from the repository."""

from __future__ import annotations

import time


def nap(seconds: float) -> None:
    """Take a while, so that kills and pauses catch attempts in flight."""
    time.sleep(seconds)
