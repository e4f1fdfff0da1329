"""What a module logged, seen through a stand-in for its structlog logger.

structlog's ``capture_logs`` misses a module's logger that was cached under an earlier
configuration: a test that set logging up (loggers cached on first use), used that
logger, then reset structlog (``tests/unit/test_logging.py`` does the last two). Which
module the test process ran first then decided whether a capture saw anything."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


class Logged:
    """Stands in for a module's ``log``: keeps each event with its fields."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda event, **fields: self.events.append({"event": event, **fields})


def logged(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> list[dict[str, Any]]:
    """The events ``modules`` log from now on, in order, through one stand-in."""
    stand_in = Logged()
    for module in modules:
        monkeypatch.setattr(module, "log", stand_in)
    return stand_in.events
