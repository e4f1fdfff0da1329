"""The worker keeps its /proc entries from processes of its own user."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import ctypes
from pgsched.engine.hardening import keep_environment_private
libc = ctypes.CDLL(None)
before = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
keep_environment_private()
print(before, libc.prctl(3, 0, 0, 0, 0))
"""


def test_keep_environment_private_makes_the_process_undumpable() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["1", "0"]
