"""Migrations: up, down, idempotent, concurrent, and in step with the schema module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pgsched.db import (
    breaker_schema,  # noqa: F401  (adds its tables to metadata)
    migrations,
    runs_schema,  # noqa: F401  (adds its tables to metadata)
)
from pgsched.db.connection import session, sqlalchemy_engine
from pgsched.db.schema import SCHEMA, metadata
from pgsched.errors import SchemaNotMigrated

PGSCHED_OBJECTS = """
    SELECT 'table:' || relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE nspname = 'pgsched' AND relkind IN ('r', 'v', 'm', 'p') AND relname <> 'alembic_version'
    UNION ALL
    SELECT 'function:' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE nspname = 'pgsched'
    ORDER BY 1
"""


def objects(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [row[0] for row in connection.execute(PGSCHED_OBJECTS)]


def test_upgrade_creates_the_schema_and_is_idempotent(empty_database_url: str) -> None:
    assert migrations.current_revision(empty_database_url) is None
    migrations.upgrade(empty_database_url)
    created = objects(empty_database_url)
    migrations.upgrade(empty_database_url)
    assert migrations.current_revision(empty_database_url) == migrations.head_revision()
    assert objects(empty_database_url) == created
    assert {"table:jobs", "table:runs", "table:workers", "function:schedule_error"} <= set(created)


def test_downgrade_to_base_removes_every_object_and_upgrade_restores_them(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url)
    created = objects(empty_database_url)
    migrations.downgrade(empty_database_url, "base")
    assert objects(empty_database_url) == []
    assert migrations.current_revision(empty_database_url) is None
    migrations.upgrade(empty_database_url)
    assert objects(empty_database_url) == created


def test_concurrent_migrate_commands_all_succeed(empty_database_url: str) -> None:
    environment = {**os.environ, "PGSCHED_DATABASE_URL": empty_database_url}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pgsched", "migrate"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert migrations.current_revision(empty_database_url) == migrations.head_revision()


def test_schema_module_matches_what_migrations_build(database_url: str) -> None:
    engine = sqlalchemy_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, type_, _: type_ != "schema" or name == SCHEMA,
                    "include_object": lambda obj, name, type_, *_: name != "alembic_version",
                    "compare_server_default": True,
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_every_sql_file_is_applied_by_a_revision() -> None:
    revisions = "\n".join(
        path.read_text() for path in (migrations.alembic_dir() / "versions").glob("*.py")
    )
    applied = set(re.findall(r'"([\w/.-]+\.sql)"', revisions))
    on_disk = {
        str(path.relative_to(migrations.sql_dir()))
        for path in migrations.sql_dir().rglob("*.sql")
        if "queries" not in path.parts
    }
    assert on_disk == applied


def test_sql_and_alembic_folders_sit_at_the_top_level() -> None:
    top = Path(__file__).resolve().parents[2]
    assert migrations.alembic_dir() == top / "alembic"
    assert migrations.sql_dir() == top / "sql"


def test_the_revision_read_on_a_session_agrees_with_alembics(empty_database_url: str) -> None:
    def on_session() -> str | None:
        with session(empty_database_url, "test") as connection:
            return migrations.revision_on(connection)

    assert on_session() is None
    assert migrations.current_revision(empty_database_url) is None
    migrations.upgrade(empty_database_url, "0003")
    assert on_session() == migrations.current_revision(empty_database_url) == "0003"
    with (
        session(empty_database_url, "test") as connection,
        pytest.raises(SchemaNotMigrated, match="is at 0003, this pgsched needs"),
    ):
        migrations.require_current_on(connection)
    migrations.upgrade(empty_database_url)
    assert on_session() == migrations.head_revision()
