"""The benchmark's exception, and what a run found wrong along the way."""

from __future__ import annotations

from dataclasses import dataclass, field


class BenchError(Exception):
    """A phase could not be measured (a worker died, a wait timed out, a tool failed)."""


@dataclass
class Findings:
    """Errors fail the run (exit code 1); warnings are reported but do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
