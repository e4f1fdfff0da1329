"""The chaos harness, small and short: workers killed, paused past their lease, the
database restarted and its connections dropped, and every recorded run audited."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.acceptance.conftest import REPOSITORY

pytestmark = pytest.mark.slow

# The names the audit table prints, one row per check.
CHECKS = [
    "exactly one first attempt (or recorded gap) per slot",
    "no two attempts running at once (per slot; per skip job)",
    "every lost attempt with attempts left retried in time",
    "nothing left running, or pending past due",
    "no result written by a fenced-off worker",
    "workers exit 0 on SIGTERM, and only then",
]


def test_workers_under_faults_keep_every_guarantee() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            *("--workers", "2", "--jobs", "20", "--seconds", "40", "--kill-every", "15"),
            *("--seed", "7"),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    table = output[output.index("check ") :]
    for name in CHECKS:
        row = next((line for line in table.splitlines() if line.startswith(name)), None)
        assert row is not None, f"audit table lacks {name!r}:\n{table}"
        assert row.rstrip().endswith("OK"), row
    for fault in ("kill", "pause", "resume", "restart", "drop"):
        assert f" {fault} " in output, f"no {fault} fault in the log:\n{output[:3000]}"
