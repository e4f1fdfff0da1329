"""Reading ``json`` and ``jsonb`` values that Python may not be able to decode.

The database bounds what is written to ``pgsched.jobs`` (args and checkpoint nest at
most 32 levels deep and hold no number longer than 500 characters), but rows written
before those bounds, or with the triggers disabled, may nest thousands of levels, or
hold a number of thousands of digits: Python's decoder then runs out of recursion, or
refuses to convert the number. Decoded by psycopg as rows arrive, such a value would
fail the whole fetch, and with it every claim that met the row, or ``pgsched jobs
list``. Connections that read job rows decode with ``safe_loads`` instead, which
stands in an ``UndecodableJson`` for that value alone, so the row's job can be failed
with a clear error and the others go on.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_loads

from pgsched.text import first_line

# An undecodable value's description quotes at most this much of Python's reason.
ERROR_LIMIT_CHARS = 200


class UndecodableJson(str):
    """Stands for a JSON value Python cannot read (too deeply nested, a number too
    long); its text says why."""


def safe_loads(data: bytes | str) -> Any:
    """``json.loads``, with an ``UndecodableJson`` for a value Python cannot read."""
    if data == b"{}":
        # Most jobs' args: a claim reads one per job, thousands a second.
        return {}
    try:
        # Decoded here: json.loads would first guess the encoding of bytes (psycopg
        # hands jsonb over as UTF-8 bytes, one value per claimed job).
        return json.loads(data.decode() if isinstance(data, bytes) else data)
    except RecursionError:
        why = "nested too deeply to be read (over 32 levels are refused when written)"
    except ValueError as exc:
        # An integer of more digits than Python converts (sys.get_int_max_str_digits).
        why = f"that Python cannot read ({first_line(exc, ERROR_LIMIT_CHARS)})"
    return UndecodableJson(f"a JSON value of {len(data)} bytes {why}; rewrite it")


def read_json_safely(context: AdaptContext) -> None:
    """Make ``context`` (a connection or cursor) decode JSON with ``safe_loads``."""
    set_json_loads(safe_loads, context)


def undecodable(**values: Any) -> str | None:
    """Why one of ``values`` (column name to decoded value) could not be read, or None."""
    for column, value in values.items():
        if isinstance(value, UndecodableJson):
            return f"{column}: {value}"
    return None
