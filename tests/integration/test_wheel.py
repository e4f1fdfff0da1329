"""The wheel carries alembic/ and sql/, so `pgsched migrate` works from an installed package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pgsched.db import migrations

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(out),
            str(REPOSITORY),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("pgsched-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_migrations_and_sql_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "pgsched/_alembic/env.py",
        "pgsched/_alembic/versions/0001_initial_schema.py",
        *(
            f"pgsched/_sql/{path.relative_to(REPOSITORY / 'sql')}"
            for path in (REPOSITORY / "sql").rglob("*.sql")
        ),
    }
    assert expected <= names


@pytest.mark.slow
def test_installed_package_migrates_from_any_directory(
    wheel: Path, tmp_path: Path, empty_database_url: str
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {
        **os.environ,
        "PYTHONPATH": str(site),
        "PGSCHED_DATABASE_URL": empty_database_url,
    }
    check = subprocess.run(
        [sys.executable, "-c", "import pgsched.db.migrations as m; print(m.alembic_dir())"],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == str(site / "pgsched" / "_alembic")
    migrated = subprocess.run(
        [sys.executable, "-m", "pgsched", "migrate"],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert f"schema at revision {migrations.head_revision()}" in migrated.stdout


@pytest.mark.slow
def test_wheel_carries_every_asset_of_the_dashboard(wheel: Path) -> None:
    """No CDN: htmx, the styles, Swagger UI and the templates ship in the package."""
    names = set(zipfile.ZipFile(wheel).namelist())
    web = REPOSITORY / "pgsched" / "web"
    shipped = {
        f"pgsched/web/{path.relative_to(web).as_posix()}"
        for folder in ("static", "templates")
        for path in (web / folder).rglob("*")
        if path.is_file()
    }
    assert {"pgsched/web/static/htmx.min.js", "pgsched/web/templates/layout.html"} <= shipped
    assert shipped <= names
