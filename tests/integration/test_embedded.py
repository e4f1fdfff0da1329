"""The embedded PostgreSQL: start, reuse, migrate and stop through the CLI, as any user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgsched.db import embedded, migrations
from pgsched.errors import EmbeddedDatabaseError


def pgsched(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PGSCHED_DATABASE_URL"}
    environment["PGSCHED_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "pgsched", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def home() -> Iterator[Path]:
    # pytest's tmp_path is private (0700), which pgsched rightly refuses as root.
    path = Path(tempfile.mkdtemp(prefix="pgsched-home-"))
    path.chmod(0o755)
    yield path
    pgsched(path, "db", "stop")
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_db_start_url_migrate_twice_and_stop(home: Path) -> None:
    started = pgsched(home, "db", "start")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("postgresql://") and str(home) in url

    again = pgsched(home, "db", "url")
    assert (again.returncode, again.stdout.strip()) == (0, url)

    for _ in range(2):
        migrated = pgsched(home, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert f"schema at revision {migrations.head_revision()}" in migrated.stdout

    status = pgsched(home, "db", "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["running"] is True

    stopped = pgsched(home, "db", "stop")
    assert (stopped.returncode, stopped.stdout.strip()) == (0, "embedded database stopped")
    after = pgsched(home, "db", "status")
    assert after.returncode == 3
    assert "stopped" in after.stdout
    assert pgsched(home, "db", "stop").stdout.strip() == "embedded database was not running"


@pytest.mark.slow
def test_commands_without_a_url_start_the_embedded_server_themselves(home: Path) -> None:
    migrated = pgsched(home, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert embedded.status(home).running


def test_home_under_a_private_directory_is_refused_for_root(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(EmbeddedDatabaseError, match="not world-traversable"):
        embedded._refuse_private_parents(private / "pgsched")
    assert private.stat().st_mode & 0o777 == 0o700


def test_default_home_for_root_is_under_var_lib() -> None:
    from pgsched.config import ROOT_DEFAULT_HOME, default_home

    if os.geteuid() == 0:
        assert default_home() == ROOT_DEFAULT_HOME
    else:
        assert default_home().parts[-1] == "pgsched"
        assert not str(default_home()).startswith("/root")
