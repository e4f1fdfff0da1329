"""Which sessions SQL jobs may run on: the rules, read from ``sql_job_session``'s facts.

Whoever writes ``pgsched.jobs`` chooses the SQL, so a session that could reach further
than any job may (a superuser, CREATEROLE, the server-file roles; pgsched's objects;
its database's settings or schemas) is refused, and the refusal says what to do.
"""

from __future__ import annotations

import psycopg

Connection = psycopg.AsyncConnection[psycopg.rows.TupleRow]

DEDICATED_LOGIN = (
    "give the worker --sql-database-url with a login of its own that holds only the "
    "privileges jobs need (docs/security.md)"
)


async def role_problem(connection: Connection, role: str) -> str:
    """Why ``SET ROLE role`` fails on ``connection``; empty when it works."""
    try:
        await connection.execute(
            psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role))
        )
    except psycopg.errors.Error as exc:
        return f"SQL jobs cannot run as role {role!r}: {exc.diag.message_primary or exc}"
    return ""


def session_refusal(
    login: str,
    reach: list[str],
    owns: list[str],
    database: str,
    owns_database: bool,
    creates_in_database: bool,
) -> str:
    """Why SQL jobs may not run on a session of ``login`` (``sql_job_session``'s facts)."""
    if reach:
        return (
            f"SQL jobs may not run as the login {login!r}: it can act as {', '.join(reach)}, "
            "so a job's SQL could do whatever the database server can (SET ROLE, and so "
            f"--sql-role, is undone by RESET ROLE); {DEDICATED_LOGIN}"
        )
    if owns:
        return (
            f"SQL jobs may not run as the login {login!r}: it owns pgsched's objects "
            f"({', '.join(owns)}...), or is a member of their owner, so a job could replace "
            f"the functions pgsched runs on other people's writes; {DEDICATED_LOGIN}"
        )
    if owns_database:
        return (
            f"SQL jobs may not run as the login {login!r}: it owns the database {database!r}, "
            "or is a member of its owner, so a job could set what every session of that "
            "database starts with, a superuser's included (ALTER DATABASE ... SET "
            f"search_path); {DEDICATED_LOGIN}"
        )
    if creates_in_database:
        return (
            f"SQL jobs may not run as the login {login!r}: it may create schemas in the "
            f"database {database!r}, so a job could create one named after another login, "
            f"which comes first on that login's search path; {DEDICATED_LOGIN}"
        )
    return ""
