"""Job targets that misbehave in the ways real jobs do; each must be contained to its run."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def print_megabytes(megabytes: int) -> str:
    line = "x" * 1023 + "\n"
    for _ in range(megabytes * 1024):
        sys.stdout.write(line)
    return "printed"


def fork_and_exit(pid_file: str) -> str:
    """Leaves a grandchild behind that would run for a minute."""
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    Path(pid_file).write_text(str(pid))
    return "forked"


def unserialisable() -> object:
    return object()


def needs(count: int) -> int:
    return count


def spin() -> None:
    while True:
        pass
