"""The documentation site builds with ``mkdocs build --strict``: a broken link or a page
missing from the build fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from docgen import sql_reference

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_documentation_site_builds_strictly(database_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        env={**os.environ, sql_reference.DATABASE_ENV: database_url, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "reference" / "cli" / "index.html").exists()
    assert 'id="job_stats"' in (tmp_path / "reference" / "sql" / "index.html").read_text()


def test_the_sql_reference_shows_every_view_and_function_with_its_comment(
    database_url: str,
) -> None:
    with psycopg.connect(database_url, row_factory=dict_row) as connection:
        page = sql_reference.markdown(connection)
        names = connection.execute(
            "SELECT c.relname AS name FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'pgsched' AND c.relkind = 'v'"
            " UNION SELECT p.proname FROM pg_proc AS p"
            " JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = 'pgsched'"
        ).fetchall()
    for row in names:
        assert f"`{row['name']}`" in page or f"`pgsched.{row['name']}`" in page, row["name"]
    assert "no comment" not in page


def test_a_comment_cannot_put_markup_into_the_sql_reference(database_url: str) -> None:
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as connection:
        connection.execute("COMMENT ON VIEW pgsched.failed_runs IS '<script>alert(1)</script>'")
        page = sql_reference.markdown(connection)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
