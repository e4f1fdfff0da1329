"""What a worker's own jobs may not read of it."""

from __future__ import annotations

import ctypes
import sys

PR_SET_DUMPABLE = 4


def keep_environment_private() -> None:
    """Make this process's ``/proc`` entries, ``environ`` among them, readable by root alone.

    Jobs run as the worker's OS user, so without this a job could read the worker's
    environment, the database URL and every variable hidden from jobs among it, from
    ``/proc/<worker>/environ``. Root still can. It also turns off the worker's core
    dumps and ptrace by the same user (a profiler such as py-spy then needs root).
    Command-line flags stay visible to everyone (``ps``): give secrets through the
    environment, not ``--database-url``.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
