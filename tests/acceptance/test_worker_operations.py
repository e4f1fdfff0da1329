"""Operating a real worker: its /metrics agree with pgsched.runs, /healthz answers, JSON
log lines carry the run's keys, and failure hooks hear of each final failure once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered
from tests.failure_hooks_for_tests import REPORTS_FILE_ENV

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
RUN_KEYS = {"job_name", "run_id", "attempt", "scheduled_for", "worker_id"}
NEVER = "0 0 1 1 *"


def log_events(workers: Workers) -> list[dict[str, Any]]:
    events = []
    for line in workers.logs().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def metrics_port(workers: Workers) -> int:
    """The port the worker bound for ``--metrics-port 0``, from its log."""
    serving = wait_for(
        lambda: [e for e in log_events(workers) if e["event"] == "metrics_serving"],
        what="the metrics server",
    )
    return int(serving[0]["port"])


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_metrics_logs_and_failure_hooks_tell_what_the_runs_table_holds(
    workers: Workers, db: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports_file = tmp_path / "failure-reports.jsonl"
    monkeypatch.setenv(REPORTS_FILE_ENV, str(reports_file))
    add_job(db, "tick", "tests.acceptance.jobs:noop", schedule="* * * * * *")
    add_job(
        db,
        "fails-then-gives-up",
        "tests.jobs_for_tests:fail",
        schedule=NEVER,
        max_attempts=2,
        retry_delay_seconds=0,
        args={"message": "no luck"},
    )
    add_job(
        db,
        "fails-permanently",
        "tests.jobs_for_tests:fail_permanently",
        schedule=NEVER,
        max_attempts=3,
        args={"message": "will never work"},
    )
    workers.start(
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--on-failure",
        "tests.failure_hooks_for_tests:explode",
        "--on-failure",
        "tests.failure_hooks_for_tests:append_to_file",
    )
    wait_until_registered(db)
    port = metrics_port(workers)
    assert scrape(port, "/healthz")[0] == 200

    wait_for(lambda: scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status = 'succeeded'"))
    for job in ("fails-then-gives-up", "fails-permanently"):
        db.execute("SELECT pgsched.run_now(%s)", [job])
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE status = 'failed'"
                " AND job_name IN ('fails-then-gives-up', 'fails-permanently')",
            )
            == 3
        ),
        what="two attempts of one job and one of the other failed",
    )
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE name = 'tick'")
    wait_for(
        lambda: (
            scalar(db, "SELECT count(*) FROM pgsched.runs WHERE status IN ('running', 'pending')")
            == 0
        ),
        what="no run in flight",
    )

    expected = {
        (("job", job), ("status", status)): float(count)
        for job, status, count in db.execute(
            "SELECT job_name, status, count(*) FROM pgsched.runs"
            " WHERE status IN ('succeeded', 'failed') GROUP BY 1, 2"
        ).fetchall()
    }
    text = wait_for(
        lambda: (
            (t := scrape(port)[1]) and samples(t, "pgsched_runs_finished_total") == expected and t
        ),
        what=f"finished counters equal to the runs table: {expected}",
    )
    started = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE started_at IS NOT NULL")
    assert sum(samples(text, "pgsched_claim_batch_size_sum").values()) == started
    assert sum(samples(text, "pgsched_runs_started_total").values()) == started
    first_attempts = scalar(
        db, "SELECT count(*) FROM pgsched.runs WHERE started_at IS NOT NULL AND attempt = 1"
    )
    assert sum(samples(text, "pgsched_run_lag_seconds_count").values()) == first_attempts
    assert samples(text, "pgsched_runs_running") == {(): 0.0}
    assert samples(text, "pgsched_outcomes_unrecorded") == {(): 0.0}
    assert 0 <= samples(text, "pgsched_heartbeat_age_seconds")[()] < 5

    # One report per final failure; none for the first attempt, which was retried.
    reports = [json.loads(line) for line in reports_file.read_text().splitlines()]
    final = db.execute(
        "SELECT job_name, id, attempt FROM pgsched.runs WHERE status = 'failed'"
        " AND NOT EXISTS (SELECT 1 FROM pgsched.runs AS n WHERE n.job_id = runs.job_id"
        "                  AND n.scheduled_for = runs.scheduled_for AND n.attempt > runs.attempt)"
        " ORDER BY job_name"
    ).fetchall()
    assert sorted((r["job_name"], r["run_id"], r["attempt"]) for r in reports) == final
    assert [r["status"] for r in reports] == ["failed", "failed"]
    assert all(r["worker_id"] and r["scheduled_for"] and r["error"] for r in reports)

    assert workers.stop_all() == [0], workers.logs()[-3000:]
    events = log_events(workers)
    assert any(e["event"] == "failure_hook_failed" for e in events)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_event.setdefault(event["event"], []).append(event)
    assert len(by_event["run_started"]) == started
    assert len(by_event["run_finished"]) == started
    for event in by_event["run_started"] + by_event["run_finished"]:
        assert event.keys() >= RUN_KEYS, event
    assert all("duration_ms" in e and "status" in e for e in by_event["run_finished"])
    failures = [e for e in by_event["run_finished"] if e["status"] == "failed"]
    assert sorted((e["level"], e["retry_run_id"] is None) for e in failures) == [
        ("info", False),
        ("warning", True),
        ("warning", True),
    ]
