"""Printing results: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

# A table cell longer than this is cut, so one long error does not wrap every row.
MAX_CELL = 60


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
        click.echo(empty)
        return
    names = list(columns or rows[0].keys())
    cells = [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    click.echo("  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True)))
    click.echo("  ".join("-" * width for width in widths))
    for line in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def print_record(row: Mapping[str, Any], as_json: bool) -> None:
    """Print one object: ``key  value`` lines for people; for scripts, as every ``--json``
    does, a JSON list of objects (of one, here)."""
    if as_json:
        print_rows([row], as_json)
        return
    width = max(len(key) for key in row)
    for key, value in row.items():
        click.echo(f"{key.ljust(width)}  {_text(value)}")


def _cell(value: Any) -> str:
    text = " ".join(_text(value).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


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
