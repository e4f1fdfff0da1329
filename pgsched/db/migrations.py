"""Schema migrations: Alembic driven from Python, safe to run from many containers at once."""

from __future__ import annotations

import psycopg
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.rows import DictRow
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from alembic import command
from pgsched.db.connection import query_error, redact, sqlalchemy_engine
from pgsched.db.queries import query
from pgsched.db.resources import alembic_dir, sql_dir
from pgsched.db.schema import SCHEMA
from pgsched.errors import DatabaseUnavailable, SchemaNotMigrated

VERSION_TABLE = "alembic_version"
# Serialises concurrent `pgsched migrate` runs; the number is 'pgsc' in ASCII.
MIGRATION_LOCK_KEY = 0x70677363


def apply_sql_file(bind: Connection, relative_path: str) -> None:
    """Run one file under ``sql/`` on ``bind``, in the migration's transaction.

    The raw driver connection runs it: SQLAlchemy would read ``:name`` and ``%L``
    in plpgsql bodies as parameters.
    """
    statement = (sql_dir() / relative_path).read_text(encoding="utf-8")
    driver_connection = bind.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(statement)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest)."""
    _run(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Take the schema down to ``revision`` (``base`` removes every pgsched object)."""
    _run(url, lambda config: command.downgrade(config, revision))


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = sqlalchemy_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table_schema": SCHEMA, "version_table": VERSION_TABLE}
            )
            return context.get_current_revision()
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.OperationalError):
            raise DatabaseUnavailable(f"lost the connection to {redact(url)}: {exc.orig}") from exc
        if isinstance(exc.orig, psycopg.Error):
            # e.g. a login without the pgsched roles may not read the version table
            raise query_error(exc.orig) from exc
        raise
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision this version of pgsched ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(alembic_dir()))
    return config


def _run(url: str, action: object) -> None:
    engine = sqlalchemy_engine(url)
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection
            assert callable(action)
            action(config)
    finally:
        engine.dispose()


def lock_and_prepare(connection: Connection) -> None:
    """Called by env.py inside the migration transaction, before any revision runs."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))


def revision_on(connection: psycopg.Connection[DictRow]) -> str | None:
    """``current_revision``, read on a session the caller holds rather than on a
    connection of its own."""
    migrated = connection.execute(query("schema_migrated")).fetchone()
    if not (migrated and migrated["migrated"]):
        return None
    row = connection.execute(query("schema_revision")).fetchone()
    return row["revision"] if row else None


def require_current_on(connection: psycopg.Connection[DictRow]) -> None:
    """Raise ``SchemaNotMigrated`` unless the database ``connection`` holds is at this
    version's head."""
    _require_head(revision_on(connection))


def _require_head(current: str | None) -> None:
    head = head_revision()
    if current != head:
        raise SchemaNotMigrated(
            f"the pgsched schema is at {current or 'nothing'}, this pgsched needs "
            f"{head}: run `pgsched migrate`"
        )
