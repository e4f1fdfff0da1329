"""The database connection a maintenance command works on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import DictRow

from pgsched.config import Settings
from pgsched.db import migrations
from pgsched.db.connection import resolve_database_url, session

APPLICATION_NAME = "pgsched-cli"


@contextmanager
def command_session(settings: Settings) -> Iterator[psycopg.Connection[DictRow]]:
    """A session on the configured database, whose schema must be current."""
    with session(resolve_database_url(settings), APPLICATION_NAME) as connection:
        migrations.require_current_on(connection)
        yield connection
