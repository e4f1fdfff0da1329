"""The database connection a maintenance command works on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import DictRow

from pgsched.config import Settings
from pgsched.db import migrations
from pgsched.db.connection import resolve_database_url, resolve_read_database_url, session

APPLICATION_NAME = "pgsched-cli"


@contextmanager
def command_session(
    settings: Settings, read_only: bool = False
) -> Iterator[psycopg.Connection[DictRow]]:
    """A session on the configured database (``read_only``: on the read URL, if one is
    configured), whose schema must be current."""
    url = resolve_read_database_url(settings) if read_only else resolve_database_url(settings)
    with session(url, APPLICATION_NAME) as connection:
        migrations.require_current_on(connection)
        yield connection
