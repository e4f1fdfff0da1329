"""A job's circuit breaker with real workers: consecutive failed slots open it, its
slots are then recorded skipped (saying why) through the cool-down, one probe slot
runs, a failed probe re-opens it and a good one closes it; the log, the metrics, the
failure hooks and job_health tell each transition."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered
from tests.acceptance.test_worker_operations import log_events, metrics_port, samples, scrape
from tests.failure_hooks_for_tests import REPORTS_FILE_ENV

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
JOB = "payments"
FAILURES = 3
COOLDOWN = 4


def breaker(db: Connection) -> tuple[Any, ...] | None:
    return db.execute(
        "SELECT b.state, b.failed_slots, b.opened_at, b.open_until, b.probe_slot"
        " FROM pgsched.job_breakers AS b JOIN pgsched.jobs AS j ON j.id = b.job_id"
        " WHERE j.name = %s",
        [JOB],
    ).fetchone()


def health(db: Connection) -> tuple[Any, ...] | None:
    return db.execute(
        "SELECT breaker_state, breaker_failed_slots, breaker_open_until"
        " FROM pgsched.job_health WHERE job_name = %s",
        [JOB],
    ).fetchone()


def opened_after(db: Connection, instant: datetime | None) -> tuple[Any, ...] | None:
    row = breaker(db)
    if row and row[0] == "open" and (instant is None or row[2] > instant):
        return row
    return None


def test_consecutive_failed_slots_open_the_breaker_a_probe_reopens_or_closes_it(
    workers: Workers, db: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports_file = tmp_path / "reports.jsonl"
    monkeypatch.setenv(REPORTS_FILE_ENV, str(reports_file))
    down = tmp_path / "dependency-down"
    down.touch()
    add_job(
        db,
        JOB,
        "tests.acceptance.jobs:fail_while_file_exists",
        schedule="* * * * * *",
        args={"path": str(down)},
        breaker_failures=FAILURES,
        breaker_cooldown_seconds=COOLDOWN,
    )
    for _ in range(2):
        workers.start(
            "--metrics-port",
            "0",
            "--metrics-host",
            "127.0.0.1",
            "--on-failure",
            "tests.failure_hooks_for_tests:append_to_file",
        )
    wait_until_registered(db)

    # 1. Three final failures of slots in a row open it, with a cool-down.
    _, failed_slots, opened_at, open_until, _ = wait_for(
        lambda: opened_after(db, None), what="the breaker to open"
    )
    assert failed_slots == FAILURES
    assert (open_until - opened_at).total_seconds() == COOLDOWN
    first_opened = opened_at
    assert health(db) == ("open", FAILURES, open_until)
    failed_before = db.execute(
        "SELECT status FROM pgsched.runs WHERE job_name = %s AND finished_at <= %s"
        " AND status <> 'skipped' ORDER BY scheduled_for DESC LIMIT %s",
        [JOB, opened_at, FAILURES],
    ).fetchall()
    assert failed_before == [("failed",)] * FAILURES

    # Every worker serving the queue says so, not only the one that opened it.
    wait_for(
        lambda: all(
            samples(scrape(port)[1], "pgsched_circuit_open")
            == {(("job", JOB), ("queue", "default")): 1.0}
            for port in metrics_ports(workers)
        ),
        timeout=15,
        what="pgsched_circuit_open 1 on both workers",
    )

    # 2. Through the cool-down no slot starts; they are one record of skipped slots.
    wait_for(
        lambda: opened_after(db, first_opened) or (breaker(db) or ("",))[0] == "half_open",
        timeout=COOLDOWN + 10,
        what="the cool-down to end and the probe to start",
    )
    assert (
        scalar(
            db,
            "SELECT count(*) FROM pgsched.runs WHERE job_name = %s AND started_at > %s"
            " AND scheduled_for < %s",
            [JOB, opened_at, open_until],
        )
        == 0
    )
    skipped = db.execute(
        "SELECT scheduled_for, missed_until, missed_slots, error FROM pgsched.runs"
        " WHERE job_name = %s AND status = 'skipped' AND scheduled_for < %s",
        [JOB, open_until],
    ).fetchall()
    assert len(skipped) == 1, skipped
    _, last, count, error = skipped[0]
    assert error.startswith("circuit breaker open until ")
    assert count >= COOLDOWN - 2 and last < open_until, skipped

    # 3. The probe fails: the breaker opens again for another cool-down.
    _, _, reopened_at, reopen_until, _ = wait_for(
        lambda: opened_after(db, first_opened), timeout=COOLDOWN + 10, what="the probe to fail"
    )
    assert (reopen_until - reopened_at).total_seconds() == COOLDOWN
    probes = db.execute(
        "SELECT scheduled_for, status FROM pgsched.runs WHERE job_name = %s"
        " AND scheduled_for >= %s AND status <> 'skipped' ORDER BY scheduled_for",
        [JOB, open_until],
    ).fetchall()
    assert probes[0][1] == "failed" and probes[0][0] < reopened_at

    # 4. The dependency is back: the next probe succeeds and closes the breaker.
    down.unlink()
    wait_for(lambda: breaker(db) is None, timeout=COOLDOWN + 10, what="the breaker to close")
    assert health(db) == ("closed", 0, None)
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE job_name = %s AND status = 'succeeded'",
                [JOB],
            )
            >= 3
        ),
        what="slots running again once closed",
    )
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE name = %s", [JOB])

    # The log, the metrics and the hooks tell the same transitions.
    events = [e for e in log_events(workers) if e["event"].startswith("circuit_")]
    # Two workers' logs, in the order the events happened.
    told = [e["event"] for e in sorted(events, key=lambda e: e["timestamp"])]
    assert told.count("circuit_opened") == 2 and told.count("circuit_closed") == 1, told
    assert told.count("circuit_half_open") == 2, told
    assert told[-1] == "circuit_closed"
    transitions: dict[str, float] = {}
    gauges: list[float] = []
    for port in metrics_ports(workers):
        text = scrape(port)[1]
        for labels, value in samples(text, "pgsched_circuit_transitions_total").items():
            label = dict(labels)
            assert (label["job"], label["queue"]) == (JOB, "default")
            transitions[label["to"]] = transitions.get(label["to"], 0) + value
        gauges += samples(text, "pgsched_circuit_open").values()
    assert transitions == {"open": 2, "half_open": 2, "closed": 1}
    assert len(gauges) == 2 and set(gauges) == {0.0}
    reports = [json.loads(line) for line in reports_file.read_text().splitlines()]
    circuit = [r["event"] for r in reports if r["event"].startswith("circuit_")]
    assert circuit == ["circuit_opened", "circuit_opened", "circuit_closed"]
    assert sum(r["event"] == "run_failed" for r in reports) == FAILURES + 1


def metrics_ports(workers: Workers) -> list[int]:
    metrics_port(workers)
    return [int(e["port"]) for e in log_events(workers) if e["event"] == "metrics_serving"]
