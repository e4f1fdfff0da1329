"""Where pgsched's own files are: the repository's top-level folders, or their copies in a wheel.

Kept apart from ``migrations`` so that reading SQL files does not import Alembic.
"""

from __future__ import annotations

from pathlib import Path

from pgsched.errors import PgschedError

# This module sits in pgsched/db/; the wheel puts the folders in pgsched/.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _resource_dir(name: str) -> Path:
    """A top-level folder of the repository, or its copy inside an installed wheel."""
    for candidate in (_PACKAGE_DIR / f"_{name}", _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise PgschedError(f"pgsched is installed without its {name}/ folder; reinstall the package")


def alembic_dir() -> Path:
    """The folder with Alembic's env.py and revisions."""
    return _resource_dir("alembic")


def sql_dir() -> Path:
    """The folder of SQL files that migrations apply."""
    return _resource_dir("sql")
