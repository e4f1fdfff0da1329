"""Connection poolers between pgsched and PostgreSQL: which kind a URL goes through.

A pooler in *transaction* mode (PgBouncer ``pool_mode = transaction``, Supavisor,
Neon's pooler, RDS Proxy) lends a server connection for one transaction and then
gives it to another client. Whatever outlives a transaction on a server connection
is then lost to its client, or leaks to the next one: protocol-level prepared
statements (unless the pooler keeps them itself, as PgBouncer >= 1.21 does with
``max_prepared_statements``), ``SET`` and ``SET ROLE``, temporary tables, advisory
locks, and ``LISTEN``. A *session* pooler lends a connection for the whole client
session, so none of that changes.

What can be detected is that a pooler answers at all: it gives the client a cancel
key of its own, so the backend process id the client was told is not the one the
server reports. Which mode it pools in cannot be asked, so a detected pooler is
taken to pool transactions, the mode that allows the least.
"""

from __future__ import annotations

from enum import StrEnum

from pgsched.db.queries import query


class PoolMode(StrEnum):
    """How a database URL reaches PostgreSQL (``--pool-mode``)."""

    AUTO = "auto"
    DIRECT = "direct"
    SESSION = "session"
    TRANSACTION = "transaction"


class PreparedStatements(StrEnum):
    """Whether the worker prepares its queries (``--prepared-statements``); ``auto``
    decides from the pool mode (``prepares_statements``)."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


def server_pid_query() -> str:
    """The SQL asking which server process serves the connection (one column)."""
    return query("server_backend_pid")


def prepares_statements(pool_mode: PoolMode, setting: PreparedStatements) -> bool:
    """Whether the worker's queries run as prepared statements (the one place that decides;
    ``pgsched.engine.repository`` applies it to its connections).

    ``on`` and ``off`` are the operator's word. ``auto`` prepares unless the queries go
    through a transaction pooler: a statement prepared on one server connection is
    unknown to the next transaction's, unless the pooler keeps prepared statements
    itself (PgBouncer >= 1.21 with ``max_prepared_statements``), which only the
    operator can say, with ``on``.
    """
    if setting is PreparedStatements.AUTO:
        return keeps_sessions(pool_mode)
    return setting is PreparedStatements.ON


def answered_by_pooler(told_pid: int, server_pid: int) -> bool:
    """Whether a connection told ``told_pid`` at startup, whose server process is
    ``server_pid`` (``server_pid_query``'s answer), goes through a pooler: a pooler
    hands its clients cancel keys of its own."""
    return told_pid != server_pid


def session_reset_statement() -> str:
    """One statement undoing, inside the current transaction, the session state a
    statement may have left (DISCARD ALL, which may not run inside one, step by step)."""
    return query("sql_job_session_reset")


def resolved(mode: PoolMode, pooler_answered: bool) -> PoolMode:
    """``mode`` with ``auto`` decided: transaction pooling when a pooler answered."""
    if mode is not PoolMode.AUTO:
        return mode
    return PoolMode.TRANSACTION if pooler_answered else PoolMode.DIRECT


def keeps_sessions(mode: PoolMode) -> bool:
    """Whether session state (settings, roles, LISTEN) stays with pgsched's connection."""
    return mode in (PoolMode.DIRECT, PoolMode.SESSION)
