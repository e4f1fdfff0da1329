"""Printing results: aligned tables for people, JSON for scripts.

Whatever a command prints may hold text a job author wrote, so everything for people
goes through ``printable`` (JSON escapes it by itself): a terminal escape sequence
shows as ``\\x1b[2J`` and never acts on the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from pgsched.text import cut, printable, table

# A table cell longer than this is cut, so one long error does not wrap every row.
MAX_CELL = 60


def say(text: str = "", err: bool = False) -> None:
    """Print one line (or several) for people, escaped with ``printable``; to stderr
    with ``err``."""
    click.echo(printable(text), err=err)


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    as_json: bool,
    columns: Sequence[str] | None = None,
    empty: str = "(none)",
) -> None:
    """Print ``rows`` as a table (only ``columns``, if given) or as a JSON list of objects."""
    if as_json:
        click.echo(json.dumps([dict(row) for row in rows], default=_json_value, indent=2))
        return
    if not rows:
        say(empty)
        return
    names = list(columns or rows[0].keys())
    for line in table(names, [[_cell(row.get(name)) for name in names] for row in rows]):
        say(line)


def print_record(row: Mapping[str, Any], as_json: bool) -> None:
    """Print one object: ``key  value`` lines for people; for scripts, as every ``--json``
    does, a JSON list of objects (of one, here)."""
    if as_json:
        print_rows([row], as_json)
        return
    width = max(len(key) for key in row)
    for key, value in row.items():
        say(f"{key.ljust(width)}  {_text(value)}")


def _cell(value: Any) -> str:
    # Escaped before it is cut, so a cell never ends in half an escape sequence.
    return cut(" ".join(printable(_text(value)).split()), MAX_CELL)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | float):
        return f"{value:.1f}" if value % 1 else f"{value:.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
