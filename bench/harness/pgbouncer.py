"""A real PgBouncer in front of a PostgreSQL server, for tests and benchmarks.

Debian's ``pgbouncer`` package (``.ci/run`` installs it when missing). It listens on
a free port of 127.0.0.1 and pools every database of the server in the given mode,
with ``pool_size`` server connections per database and user at most (no reserve
pool), so the server connections pgsched makes through it are bounded by
``pool_size``. Its admin console (database ``pgbouncer``) answers ``SHOW POOLS``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import conninfo

from bench.harness.programs import free_port, hand_over, server_user

BINARY_PLACES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
SAMPLE_SECONDS = 0.1
# Client backends of one database, but the sampler's own and those it is told to skip.
BACKENDS = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend'
   AND pid <> pg_backend_pid() AND NOT pid = ANY(%(skipped)s)
"""
MISSING = (
    "pgbouncer is not installed: `apt-get install -y pgbouncer` (Debian's package; "
    ".ci/run installs it)"
)


class PgBouncerError(RuntimeError):
    """PgBouncer is missing or did not start."""


def binary() -> str:
    """The pgbouncer program, or ``PgBouncerError`` saying how to install it."""
    found = shutil.which("pgbouncer") or next(
        (place for place in BINARY_PLACES if Path(place).exists()), None
    )
    if found is None:
        raise PgBouncerError(MISSING)
    return found


class PgBouncer:
    """Start on enter, stop and delete its directory on exit."""

    def __init__(self, server_url: str, pool_size: int, pool_mode: str = "transaction") -> None:
        self.server = conninfo.conninfo_to_dict(server_url)
        self.pool_size = pool_size
        self.pool_mode = pool_mode
        self.port = free_port()
        self.user = str(self.server.get("user") or "postgres")
        self.directory = Path(tempfile.mkdtemp(prefix="pgsched-pgbouncer-", dir="/tmp"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """The URL of ``database`` through PgBouncer."""
        password = self.server.get("password")
        return conninfo.make_conninfo(
            host="127.0.0.1",
            port=str(self.port),
            dbname=database,
            user=self.user,
            **({"password": str(password)} if password else {}),
        )

    @property
    def log(self) -> str:
        """What PgBouncer logged so far."""
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> PgBouncer:
        program = binary()
        config = self._write_config()
        user = server_user()
        hand_over(self.directory, user)
        self.process = subprocess.Popen(
            [program, str(config)],
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_answering()
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
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PgBouncer's immediate shutdown
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _write_config(self) -> Path:
        host = self.server.get("host") or "127.0.0.1"
        target = f"host={host} port={self.server.get('port') or 5432}"
        if self.server.get("password"):
            target += f" password={self.server['password']}"
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = {target}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {self.directory / 'userlist.txt'}",
                    f"admin_users = {self.user}",
                    f"pool_mode = {self.pool_mode}",
                    f"default_pool_size = {self.pool_size}",
                    "reserve_pool_size = 0",
                    "max_client_conn = 500",
                    f"logfile = {self.directory / 'pgbouncer.log'}",
                    f"pidfile = {self.directory / 'pgbouncer.pid'}",
                    "",
                ]
            )
        )
        return config

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PgBouncerError(f"pgbouncer exited at start:\n{self.log[-2000:]}")
            try:
                psycopg.connect(self.url("pgbouncer"), autocommit=True, connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PgBouncerError(f"pgbouncer did not answer: {exc}\n{self.log}") from exc
                time.sleep(0.05)


class ServerConnections:
    """The most server connections to one database seen, sampled every 100 ms on a
    direct connection of its own (not counted, nor the ``skipped`` backend pids)."""

    def __init__(self, direct_url: str, skipped: Sequence[int] = ()) -> None:
        self.peak = 0
        self.samples = 0
        self._url = direct_url
        self._skipped = list(skipped)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="server-connections")

    def __enter__(self) -> ServerConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as connection:
            while not self._stop.is_set():
                row = connection.execute(BACKENDS, {"skipped": self._skipped}).fetchone()
                assert row is not None
                self.peak = max(self.peak, int(row[0]))
                self.samples += 1
                self._stop.wait(SAMPLE_SECONDS)
