"""The start of every transaction the web app runs for a request: whom it acts as."""

from __future__ import annotations

from pgsched.catalog.sessions import Connection, execute


def act_as(
    connection: Connection,
    *,
    database_role: str,
    actor: str,
    read_only: bool,
    statement_timeout_seconds: int,
) -> None:
    """In the caller's transaction: ``SET LOCAL ROLE database_role`` (the database then
    decides what the request may do), the audit trail's ``pgsched.actor``, read-only
    unless it writes, and a statement timeout. All of it ends with the transaction."""
    execute(
        connection,
        "dashboard_become",
        {
            "role": database_role,
            "actor": actor,
            "read_only": "on" if read_only else "off",
            "statement_timeout": f"{statement_timeout_seconds}s",
        },
    )
