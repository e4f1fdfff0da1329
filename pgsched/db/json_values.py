"""Reading ``json`` and ``jsonb`` values that Python may not be able to decode.

The database bounds what is written to ``pgsched.jobs`` (args and checkpoint nest at
most 32 levels deep), but rows written before those bounds, or with the triggers
disabled, may nest thousands of levels: Python's decoder then runs out of recursion.
Decoded by psycopg as rows arrive, such a value would fail the whole fetch, and with
it every claim that met the row, or ``pgsched jobs list``. Connections that read job
rows decode with ``safe_loads`` instead, which stands in an ``UndecodableJson`` for
that value alone, so the row's job can be failed with a clear error and the others go on.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_loads


class UndecodableJson(str):
    """Stands for a JSON value too deeply nested for Python to read; its text says so."""


def safe_loads(data: bytes | str) -> Any:
    """``json.loads``, with an ``UndecodableJson`` for a value nested too deeply to read."""
    try:
        return json.loads(data)
    except RecursionError:
        return UndecodableJson(
            f"a JSON value of {len(data)} bytes nested too deeply to be read (over 32 levels "
            "are refused when written; rewrite it)"
        )


def read_json_safely(context: AdaptContext) -> None:
    """Make ``context`` (a connection or cursor) decode JSON with ``safe_loads``."""
    set_json_loads(safe_loads, context)


def undecodable(**values: Any) -> str | None:
    """Why one of ``values`` (column name to decoded value) could not be read, or None."""
    for column, value in values.items():
        if isinstance(value, UndecodableJson):
            return f"{column}: {value}"
    return None
