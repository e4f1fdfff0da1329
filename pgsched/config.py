"""Settings read from the environment and command-line flags.

This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

ENV_DATABASE_URL = "PGSCHED_DATABASE_URL"
ENV_READ_DATABASE_URL = "PGSCHED_READ_DATABASE_URL"
# Where a worker's sql jobs run (``--sql-database-url``), a login of their own.
ENV_SQL_DATABASE_URL = "PGSCHED_SQL_DATABASE_URL"
ENV_HOME = "PGSCHED_HOME"
# pgsched's own settings, the database URL and its password among them (also libpq's
# PGPASSWORD), are not for jobs: a job could print them into runs.output. Operators
# add their own patterns.
HIDDEN_FROM_JOBS = ("PGSCHED_*", "PGPASSWORD")

# As root the embedded server runs as a dedicated system user, and the library
# makes every parent of its data directory world-readable so that user can reach
# it. /var/lib is public already; a default under /root would open up /root.
ROOT_DEFAULT_HOME = Path("/var/lib/pgsched")


@dataclass(frozen=True)
class Settings:
    """Where pgsched finds its database (and a replica for reads) and keeps its local files."""

    database_url: str | None
    home: Path
    # Read-only work (read commands, dashboard reads, metrics) may go to a replica.
    read_database_url: str | None = None

    @classmethod
    def load(
        cls,
        database_url: str | None = None,
        home: str | Path | None = None,
        read_database_url: str | None = None,
    ) -> Settings:
        """Build settings from flags, falling back to ``PGSCHED_*`` variables and defaults."""
        url = database_url or os.environ.get(ENV_DATABASE_URL) or None
        read_url = read_database_url or os.environ.get(ENV_READ_DATABASE_URL) or None
        home_value = home or os.environ.get(ENV_HOME) or None
        return cls(
            database_url=url,
            home=Path(home_value).expanduser() if home_value else default_home(),
            read_database_url=read_url,
        )


def default_home() -> Path:
    """``PGSCHED_HOME``'s default: ``/var/lib/pgsched`` as root, else under XDG data home."""
    if os.geteuid() == 0:
        return ROOT_DEFAULT_HOME
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "pgsched"


def hidden_from_jobs(name: str, patterns: Sequence[str] = ()) -> bool:
    """Whether jobs must not see the environment variable ``name``.

    pgsched's own ``PGSCHED_*`` variables and ``PGPASSWORD`` are always hidden;
    ``patterns`` are shell-style globs (``AWS_*``, ``*_TOKEN``) the operator adds.
    """
    return any(fnmatchcase(name, pattern) for pattern in (*HIDDEN_FROM_JOBS, *patterns))


def job_environment(patterns: Sequence[str] = ()) -> dict[str, str]:
    """The worker's environment without the variables hidden from jobs."""
    return {
        name: value for name, value in os.environ.items() if not hidden_from_jobs(name, patterns)
    }
