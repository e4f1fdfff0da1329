"""Worker hosts whose clocks are minutes off: the database clock rules, so nothing changes."""

from __future__ import annotations

import itertools
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, scalar, wait_for

pytestmark = pytest.mark.slow

SKEW_SECONDS = 7 * 60
SHIM_SOURCE = Path(__file__).parent / "clock" / "skew.c"


@pytest.fixture(scope="module")
def skew_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LD_PRELOAD library that shifts a process's wall clock, built with the system cc."""
    library = tmp_path_factory.mktemp("clock") / "skew.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(SHIM_SOURCE), "-ldl"],
        check=True,
    )
    return library


def skewed(shim: Path, seconds: int) -> dict[str, str]:
    return {"LD_PRELOAD": str(shim), "SKEW_SECONDS": str(seconds)}


def test_the_shim_really_moves_the_wall_clock(skew_shim: Path) -> None:
    script = "import time, datetime; print(time.time(), datetime.datetime.now().timestamp())"
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    moved = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=skewed(skew_shim, SKEW_SECONDS),
    )
    for before, after in zip(plain.stdout.split(), moved.stdout.split(), strict=True):
        assert SKEW_SECONDS - 5 < float(after) - float(before) < SKEW_SECONDS + 5


def test_workers_with_clocks_minutes_off_fire_every_slot_once_and_on_time(
    workers: Workers, db: psycopg.Connection[Any], skew_shim: Path
) -> None:
    db.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target) VALUES"
        " ('tick', '* * * * * *', 'python', 'tests.acceptance.jobs:noop'),"
        " ('every-2s', '@every 2s', 'python', 'tests.acceptance.jobs:noop')"
    )
    ahead = workers.start(environment=skewed(skew_shim, SKEW_SECONDS), concurrency=1)
    behind = workers.start(environment=skewed(skew_shim, -SKEW_SECONDS), concurrency=1)
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'tick'") >= 8,
        what="eight ticks",
    )
    assert ahead.poll() is None and behind.poll() is None
    assert workers.stop_all() == [0, 0]

    runs = db.execute(
        "SELECT job_name, scheduled_for, started_at, worker_id FROM pgsched.runs"
        " WHERE status = 'succeeded' ORDER BY job_name, scheduled_for"
    ).fetchall()
    ticks = [run for run in runs if run[0] == "tick"]
    slots = [run[1] for run in ticks]
    assert len(set(slots)) == len(slots), "a slot fired twice"
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots))
    for _, scheduled_for, started_at, _ in runs:
        # Never early, as a worker reading its own clock 7 minutes ahead would be, and
        # never minutes late, as one 7 minutes behind would be.
        assert timedelta(0) <= started_at - scheduled_for < timedelta(seconds=2)
    # Both skewed workers did take their share of the work.
    assert len({run[3] for run in runs}) == 2
    assert all(slot.timestamp() % 2 == 0 for name, slot, _, _ in runs if name == "every-2s")
