"""The runtime SQL: named blocks from ``sql/queries/*.sql``, loaded once.

A block starts with a line ``-- name: <name>`` and runs to the next such line.
Its comments are for readers of the file: the text sent is the block without its
whole-line comments, after one line naming it (``-- claim_due_jobs``), which is what
``pg_stat_statements`` and ``pg_stat_activity`` show. Sent with them, the claim
(7,000 characters, 4,000 without) was past the 4,096 up to which psycopg keeps a
query's conversion to PostgreSQL's form: it was converted again at every claim
(~21 us), and a block sent unprepared made the server read its comments each time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from psycopg import sql

from pgsched.db.resources import sql_dir

NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
PARAMETER = re.compile(r"%\((\w+)\)s")


@cache
def all_queries() -> dict[str, str]:
    """Every named block of every file under ``sql/queries``, by name."""
    blocks: dict[str, str] = {}
    for path in sorted((sql_dir() / "queries").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parts = NAME_LINE.split(text)
        # parts: [preamble, name1, body1, name2, body2, ...]
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in blocks:
                raise ValueError(f"query {name!r} is defined twice (second time in {path.name})")
            blocks[name] = sent_text(name, body)
    return blocks


def sent_text(name: str, body: str) -> str:
    """Block ``name`` as sent: a comment naming it, then its lines but whole-line
    comments (no block holds a string literal over several lines, where one could
    start with ``--``: ``tests/unit/test_query_text.py``)."""
    lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
    return f"-- {name}\n" + "\n".join(lines).rstrip(";")


def query(name: str) -> str:
    """The SQL of the block called ``name``."""
    return all_queries()[name]


def pasteable(name: str, parameters: Mapping[str, Any]) -> str:
    """Block ``name`` with its parameters written in as SQL literals: what a user can
    paste into psql to see what the dashboard saw."""
    text = query(name)

    def literal(match: re.Match[str]) -> str:
        return sql.quote(parameters[match.group(1)])

    return PARAMETER.sub(literal, text).replace("%%", "%") + ";"
