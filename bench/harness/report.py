"""Figures, their targets, and how they are printed (a table) and saved (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pgsched import text


@dataclass(frozen=True)
class Figure:
    """One measured value; ``target`` and ``met`` are set where a target exists."""

    key: str
    phase: str
    name: str
    value: float | None
    unit: str
    target: str | None = None
    met: bool | None = None


def at_least(value: float | None, bound: float) -> bool | None:
    """Whether ``value`` reaches ``bound`` (None when it was not measured)."""
    return None if value is None else value >= bound


def cpu_ms_per_run(cpu: dict[str, float | None], runs_per_second: float) -> float | None:
    """The workers' and the whole PostgreSQL server's CPU per succeeded run, in ms.

    Both halves of a run's cost, summed: on a machine whose speed drifts, a ratio of
    these moves far less than a ratio of runs/s measured minutes apart.
    """
    workers, server = cpu["workers_cpu_pct"], cpu["postgres_server_cpu_pct"]
    if workers is None or server is None or runs_per_second <= 0:
        return None
    return (workers + server) * 10 / runs_per_second


def below(value: float | None, bound: float) -> bool | None:
    """Whether ``value`` stays under ``bound`` (None when it was not measured)."""
    return None if value is None else value < bound


# Decimal places per unit; counts and ratios get two unless they are whole.
DECIMALS = {"runs/s": 0, "req/s": 0, "ms": 1, "ms/run": 4, "s": 1, "% core": 2}


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    decimals = DECIMALS.get(unit, 0 if float(value).is_integer() else 2)
    return f"{value:,.{decimals}f} {unit}".strip()


def _verdict(figure: Figure) -> str:
    if figure.target is None:
        return ""
    return {True: "met", False: "NOT MET", None: "not measured"}[figure.met]


def table(figures: Sequence[Figure]) -> str:
    """The figures as pgsched's plain-text table, values aligned right."""
    rows = [
        (f.phase, f.name, _format_value(f.value, f.unit), f.target or "", _verdict(f))
        for f in figures
    ]
    return "\n".join(text.table(("phase", "figure", "value", "target", "verdict"), rows, right={2}))


def write_json(path: Path, figures: Sequence[Figure], about: dict[str, Any]) -> None:
    """Save the figures and the run's circumstances as one JSON object."""
    document = {**about, "figures": [asdict(figure) for figure in figures]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
