"""Real worker processes: when more is due in a queue than a worker can take, the
higher priority starts first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]


def test_high_priority_jobs_start_before_a_backlog_of_older_low_priority_ones(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    # The low-priority jobs have been due longer: due order alone would start them first.
    for number in range(8):
        add_job(
            db,
            f"low-{number}",
            "tests.acceptance.jobs:note_start",
            schedule="0 0 1 1 *",
            priority=-1,
            args={"directory": str(notes), "label": f"low-{number}", "seconds": 0.2},
        )
    for number in range(3):
        add_job(
            db,
            f"high-{number}",
            "tests.acceptance.jobs:note_start",
            schedule="0 0 1 1 *",
            priority=10,
            args={"directory": str(notes), "label": f"high-{number}", "seconds": 0.2},
        )
    db.execute(
        "UPDATE pgsched.jobs SET next_run = now() - CASE WHEN priority < 0"
        " THEN interval '50 seconds' ELSE interval '10 seconds' END"
    )
    workers.start(concurrency=1)
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'") == 11,
        what="the backlog run",
    )
    started = [name.split("-", 1)[1] for name in sorted(p.name for p in notes.iterdir())]
    assert [label.split("-")[0] for label in started] == ["high"] * 3 + ["low"] * 8
