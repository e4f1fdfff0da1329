"""The harness's own PostgreSQL: a throwaway embedded server it may stop and start.

Restarting a server other people use would break their work, so the harness never
touches a server it did not start: it creates an embedded one (``pgsched db start``)
in a fresh directory, restarts it with ``pgsched db stop`` / ``start`` as an operator
would, and deletes it at the end. Workers reach it by URL and so hold no handle on
it, which is what lets ``pgsched db stop`` stop it under them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from bench.chaos.database import HarnessError

# The embedded server runs as a system user when we are root: its home must be
# world-traversable, which /tmp is.
HOME_PARENT = "/tmp"
COMMAND_TIMEOUT_SECONDS = 60


class EmbeddedServer:
    """Start on enter, delete on exit; ``restart`` stops it for a while."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pgsched-chaos-pg-", dir=HOME_PARENT))
        self.home.chmod(0o755)
        self.url = ""

    def __enter__(self) -> EmbeddedServer:
        self.url = self._pgsched("start").strip()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._pgsched("stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

    def restart(self, down_seconds: float) -> tuple[datetime, datetime]:
        """Stop the server, leave it down ``down_seconds``, start it; returns the outage."""
        down_at = datetime.now(UTC)
        self._pgsched("stop")
        time.sleep(down_seconds)
        url = self._pgsched("start").strip()
        up_at = datetime.now(UTC)
        if url != self.url:
            raise HarnessError(f"the restarted server has a new URL {url!r}, not {self.url!r}")
        return down_at, up_at

    def _pgsched(self, action: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pgsched", "db", action, "--home", str(self.home)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise HarnessError(f"pgsched db {action} failed:\n{done.stdout}{done.stderr}")
        return done.stdout
