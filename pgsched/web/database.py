"""The web server's connections: pools, and one transaction per request as the
principal's database role.

Every request's SQL runs in a transaction that starts with ``dashboard_become``:
``SET LOCAL ROLE pgsched_reader`` or ``pgsched_admin`` (so the database, not only
the route, decides what a token may do), the audit trail's actor, read-only for
reads, and a statement timeout. All of it ends with the transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from pgsched.catalog import requests, tokens
from pgsched.catalog.tokens import TokenPrincipal
from pgsched.db import migrations
from pgsched.db.json_values import read_json_safely
from pgsched.text import first_line
from pgsched.web.principals import Principal
from pgsched.web.settings import WebSettings

APPLICATION_NAME = "pgsched-web"
Connection = psycopg.Connection[DictRow]
# Unknown tokens are remembered too, so random ones cost no query each; the cache
# is emptied when it grows past this.
MAX_CACHED_TOKENS = 10_000
# /readyz answers within about this long when the database does not.
READY_TIMEOUT_SECONDS = 2.0


class TokenCache:
    """What the database said about each token digest, trusted for a few seconds."""

    def __init__(self, lifetime_seconds: float) -> None:
        self._lifetime = lifetime_seconds
        self._entries: dict[bytes, tuple[float, TokenPrincipal | None]] = {}
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> tuple[bool, TokenPrincipal | None]:
        """(known, principal): known is False when the database must be asked."""
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, digest: bytes, principal: TokenPrincipal | None) -> None:
        """Remember the database's answer about ``digest``."""
        with self._lock:
            if len(self._entries) >= MAX_CACHED_TOKENS:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self._lifetime, principal)


class WebDatabase:
    """The pools of one web application, opened by its lifespan."""

    def __init__(self, settings: WebSettings) -> None:
        self._settings = settings
        self.write_pool = self._pool(settings.database_url, "write")
        self.read_pool = (
            self._pool(settings.read_database_url, "read")
            if settings.read_database_url
            else self.write_pool
        )
        self._tokens = TokenCache(settings.token_cache_seconds)
        self._tokens_active: tuple[float, bool] = (0.0, False)
        self._opened = False
        self._opening = threading.Lock()

    def _pool(self, url: str, purpose: str) -> ConnectionPool[Connection]:
        return ConnectionPool(
            url,
            min_size=1,
            max_size=self._settings.pool_size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "application_name": APPLICATION_NAME,
                "connect_timeout": 5,
            },
            connection_class=cast(type[Connection], psycopg.Connection),
            open=False,
            name=f"pgsched-web-{purpose}",
            # A job row Python cannot read (too deep, a number too long) shows as what
            # it is, in its own job's page, instead of failing every page listing it.
            configure=read_json_safely,
        )

    def open(self) -> None:
        """Open the pools without waiting for the database: /readyz tells when it answers.

        The application's lifespan calls it; a host application that mounts this one
        may not run that lifespan, so the first request opens them too."""
        with self._opening:
            if self._opened:
                return
            self.write_pool.open(wait=False)
            if self.read_pool is not self.write_pool:
                self.read_pool.open(wait=False)
            self._opened = True

    def close(self) -> None:
        """Close the pools."""
        self.write_pool.close()
        if self.read_pool is not self.write_pool:
            self.read_pool.close()

    @contextmanager
    def transaction(self, principal: Principal, *, write: bool) -> Iterator[Connection]:
        """A transaction acting as ``principal``: read-only and on the read pool
        unless ``write``. Commits when the block ends, rolls back if it raises."""
        self.open()
        pool = self.write_pool if write else self.read_pool
        with pool.connection() as connection, connection.transaction():
            requests.act_as(
                connection,
                database_role=principal.database_role,
                actor=principal.actor,
                read_only=not write,
                statement_timeout_seconds=self._settings.statement_timeout_seconds,
            )
            yield connection

    def cached_token(self, digest: bytes) -> tuple[bool, TokenPrincipal | None]:
        """(known, principal) from the cache alone: known is False on a miss."""
        return self._tokens.get(digest)

    def token_principal(self, digest: bytes) -> TokenPrincipal | None:
        """Who the token with this digest stands for, or None; cached for seconds."""
        known, principal = self._tokens.get(digest)
        if known:
            return principal
        # The lookup marks the token used, so it goes to the primary.
        self.open()
        with self.write_pool.connection() as connection:
            principal = tokens.principal_for_digest(connection, digest)
        self._tokens.put(digest, principal)
        return principal

    def tokens_active(self) -> bool:
        """Whether any token could sign in; cached like the tokens themselves."""
        checked_at, active = self._tokens_active
        if time.monotonic() - checked_at < self._settings.token_cache_seconds:
            return active
        self.open()
        with self.write_pool.connection() as connection:
            active = tokens.tokens_active(connection)
        self._tokens_active = (time.monotonic(), active)
        return active

    def readiness(self) -> str | None:
        """None when both databases answer and the schema is current, else why not."""
        self.open()
        try:
            for pool in {id(p): p for p in (self.write_pool, self.read_pool)}.values():
                with pool.connection(timeout=READY_TIMEOUT_SECONDS) as connection:
                    migrations.require_current_on(connection)
        except Exception as exc:  # any failure means "not ready", said in one line
            return first_line(exc)
        return None
