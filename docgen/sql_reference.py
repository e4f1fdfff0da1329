"""The SQL reference page, written from a migrated database's own catalog.

Every view and function of the schema ``pgsched`` is listed with its columns or
signature, who may use it, and its ``COMMENT ON``: the comment is the text, so what
``\\dv+`` and ``\\df+`` show in psql and what the docs say cannot drift apart.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgsched.db import embedded, migrations

# Set to a migrated database to build against it; otherwise a throwaway embedded
# server is started and migrated (about ten seconds).
DATABASE_ENV = "PGSCHED_DOCS_DATABASE_URL"
ROLES = ("pgsched_reader", "pgsched_admin")

VIEWS = """
SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment,
       array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                 ORDER BY a.attnum) AS columns,
       has_table_privilege('pgsched_reader', c.oid, 'SELECT') AS reader,
       has_table_privilege('pgsched_admin', c.oid, 'SELECT') AS admin
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
  JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'pgsched' AND c.relkind = 'v'
 GROUP BY c.oid, c.relname
 ORDER BY c.relname
"""

FUNCTIONS = """
SELECT p.proname AS name, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result, obj_description(p.oid, 'pg_proc') AS comment,
       p.prosecdef AS security_definer, p.prorettype = 'trigger'::regtype AS trigger,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public,
       has_function_privilege('pgsched_reader', p.oid, 'EXECUTE') AS reader,
       has_function_privilege('pgsched_admin', p.oid, 'EXECUTE') AS admin
  FROM pg_proc AS p
  JOIN pg_namespace AS n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pgsched'
 ORDER BY p.prorettype = 'trigger'::regtype, p.proname, pg_get_function_arguments(p.oid)
"""

INTRO = """# SQL views and functions

Everything in the schema `pgsched` that users read or call, generated from a migrated
database when the documentation is built: each entry's text is its `COMMENT ON`, which
psql shows too (`\\dv+ pgsched.*`, `\\df+ pgsched.*`). *Who may use it* follows the
grants the migrations make to the roles `pgsched_reader` and `pgsched_admin` (see
[Roles and least privilege](../how-to/roles.md)); functions marked *runs as its owner*
are `SECURITY DEFINER` with a fixed `search_path`, which is how a reader gets figures
from tables it may not read.
"""


def markdown(connection: psycopg.Connection[Any]) -> str:
    """The whole page, read from ``connection``'s database."""
    views = connection.execute(VIEWS).fetchall()
    functions = connection.execute(FUNCTIONS).fetchall()
    lines = [INTRO, "## Views", ""]
    for view in views:
        lines += [f"### `pgsched.{view['name']}`", "", _comment(view), ""]
        lines += [f"*Who may read it:* {_who(view)}.", ""]
        lines += ["| column | type |", "|---|---|"]
        lines += [f"| `{c.split(' ', 1)[0]}` | `{c.split(' ', 1)[1]}` |" for c in view["columns"]]
        lines.append("")
    for title, trigger in (("Functions", False), ("Trigger functions", True)):
        lines += [f"## {title}", ""]
        for function in (f for f in functions if f["trigger"] is trigger):
            signature = f"pgsched.{function['name']}({function['arguments']})"
            lines += [f"### `{function['name']}`", "", "```sql", signature]
            lines += [f"  RETURNS {function['result']}", "```", "", _comment(function), ""]
            runs_as = "; runs as its owner" if function["security_definer"] else ""
            if not trigger:
                lines += [f"*Who may call it:* {_who(function)}{runs_as}.", ""]
    return "\n".join(lines)


def _comment(row: dict[str, Any]) -> str:
    # Escaped: a comment is database content, and the page is rendered as HTML.
    if not row["comment"]:
        return "*(no comment: every view and function must have one)*"
    return html.escape(row["comment"], quote=False)


def _who(row: dict[str, Any]) -> str:
    if row.get("public"):
        return "any role"
    allowed = [f"`{role}`" for role in ROLES if row[role.removeprefix("pgsched_")]]
    return ", ".join(allowed) if allowed else "the schema owner and the workers' login"


@contextmanager
def migrated_database(url: str | None) -> Iterator[psycopg.Connection[Any]]:
    """A connection to ``url``, or to a throwaway embedded server migrated for the page."""
    if url:
        with psycopg.connect(url, row_factory=dict_row) as connection:
            yield connection
        return
    with embedded.throwaway_server(prefix="pgsched-docs-pg-") as server:
        migrations.upgrade(server)
        with psycopg.connect(server, row_factory=dict_row) as connection:
            yield connection
