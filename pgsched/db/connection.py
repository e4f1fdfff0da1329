"""Connections: which database to use, and driver errors turned into ours.

Runtime code uses psycopg directly; SQLAlchemy is used only to hand Alembic a
connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import psycopg
from psycopg.rows import DictRow, dict_row
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from pgsched.config import Settings
from pgsched.db.json_values import read_json_safely
from pgsched.errors import DatabaseUnavailable, QueryFailed
from pgsched.text import first_line

CONNECT_TIMEOUT_SECONDS = 5


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started if it is not running)."""
    if settings.database_url:
        return settings.database_url
    from pgsched.db import embedded  # optional dependency: imported only when needed

    return embedded.ensure_running(settings.home)


def connect(url: str, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """A psycopg connection to ``url``, or ``DatabaseUnavailable`` saying why not."""
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {redact(url)}: {first_line(exc)}. "
            "Check PGSCHED_DATABASE_URL, or run `pgsched db start` for the embedded server."
        ) from exc


def sqlalchemy_engine(url: str) -> Engine:
    """An engine whose connections come from ``connect``, so any libpq URL works."""
    return create_engine(
        "postgresql+psycopg://",
        creator=lambda: connect(url, prepare_threshold=None),
        poolclass=NullPool,
    )


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if "password" in info:
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


def query_error(exc: psycopg.Error) -> QueryFailed:
    """The database's refusal as one readable ``QueryFailed``: message, detail and hint."""
    diag = exc.diag
    parts = [diag.message_primary or first_line(exc)]
    parts += [text for text in (diag.message_detail, diag.message_hint) if text]
    return QueryFailed(" ".join(parts))


@contextmanager
def session(url: str, application_name: str) -> Iterator[psycopg.Connection[DictRow]]:
    """An autocommit connection returning dict rows; database errors become pgsched errors.

    For short-lived tools (the CLI, registration from Python), not the worker's hot path.
    Nothing is prepared: psycopg would prepare a statement run five times, which a
    transaction pooler would lose (here and in ``sqlalchemy_engine``).
    """
    connection = cast(
        psycopg.Connection[DictRow],
        connect(
            url,
            autocommit=True,
            row_factory=dict_row,
            application_name=application_name,
            prepare_threshold=None,
        ),
    )
    # A job row too deep to decode must not fail a whole listing.
    read_json_safely(connection)
    with connection:
        try:
            yield connection
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if connection.broken or connection.closed:
                raise DatabaseUnavailable(f"lost the connection to {redact(url)}: {exc}") from exc
            raise query_error(exc) from exc
        except psycopg.Error as exc:
            raise query_error(exc) from exc
