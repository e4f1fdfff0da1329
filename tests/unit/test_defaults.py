"""Defaults have one source: the flags of ``pgsched worker`` are ``WorkerOptions``'."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pgsched.cli import cli
from pgsched.engine import process
from pgsched.engine.options import WorkerOptions


def test_a_worker_started_without_flags_runs_with_the_options_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[str, WorkerOptions]] = []
    monkeypatch.setattr(process, "run_worker", lambda url, options: started.append((url, options)))
    url = "postgresql://worker@db.example:5432/app"
    result = CliRunner().invoke(cli, ["worker", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert started == [(url, WorkerOptions())]
