"""The harness's view of the database: its named queries, run on short-lived connections.

The server is restarted and every client connection terminated on purpose, so the
harness holds no connection across a fault: each call connects, runs one query and
disconnects, and ``Database.wait`` treats a failed connection as "not yet".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from pgsched.db.queries import NAME_LINE

QUERIES = Path(__file__).with_name("queries.sql")
# Not 'pgsched-...': terminating "every pgsched backend" must not end the harness's own.
APPLICATION_NAME = "chaos-harness"
CONNECT_TIMEOUT_SECONDS = 5
POLL_SECONDS = 0.2

T = TypeVar("T")


class HarnessError(Exception):
    """The harness could not carry out a step (a wait timed out, a worker would not start)."""


@cache
def queries() -> dict[str, str]:
    """The named blocks of ``queries.sql``, by name."""
    parts = NAME_LINE.split(QUERIES.read_text(encoding="utf-8"))
    blocks = zip(parts[1::2], parts[2::2], strict=True)
    return {name: body.strip().rstrip(";") for name, body in blocks}


class Database:
    """Runs the named queries against one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(
            self.url,
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            row_factory=dict_row,
        )

    def execute(self, name: str, **params: Any) -> None:
        """Run query ``name`` for its effect."""
        with self._connect() as connection:
            connection.execute(queries()[name], params or None)

    def rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of query ``name``."""
        with self._connect() as connection:
            return connection.execute(queries()[name], params or None).fetchall()

    def value(self, name: str, **params: Any) -> Any:
        """The first column of the first row of query ``name`` (None when no row)."""
        found = self.rows(name, **params)
        return next(iter(found[0].values())) if found else None

    def wait(self, condition: Callable[[], T], timeout: float, what: str) -> T:
        """Poll ``condition`` until it is truthy; a lost connection counts as not yet."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
                if value:
                    return value
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(POLL_SECONDS)
