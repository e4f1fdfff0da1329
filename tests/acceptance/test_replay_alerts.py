"""Replay and alerts with real workers: a failed slot replayed succeeds as a manual
attempt of the same slot, a slow attempt is flagged past warn_after_seconds (view,
log, metrics), and a failure webhook hears of a final failure even beside a hung one."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from tests.acceptance.conftest import Workers, add_job, scalar, wait_for, wait_until_registered
from tests.acceptance.test_worker_operations import log_events, metrics_port, samples, scrape
from tests.commands import invoke

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
NEVER = "0 0 1 1 *"


def status_of(db: Connection, run_id: int) -> str:
    return str(scalar(db, "SELECT status FROM pgsched.runs WHERE id = %s", [run_id]))


def test_a_failed_slot_replayed_succeeds_as_a_manual_attempt_of_the_same_slot(
    workers: Workers, db: Connection, tmp_path: Path
) -> None:
    ready = tmp_path / "dependency-is-back"
    add_job(
        db,
        "flaky",
        "tests.acceptance.jobs:fail_unless_exists",
        schedule=NEVER,
        args={"path": str(ready)},
    )
    workers.start()
    wait_until_registered(db)
    failed = scalar(db, "SELECT pgsched.run_now('flaky')")
    wait_for(lambda: status_of(db, failed) == "failed", what="the first attempt to fail")
    ready.touch()

    # Two replays asked for at once give one attempt.
    with db.transaction():
        first = scalar(db, "SELECT pgsched.retry_run(%s)", [failed])
        second = scalar(db, "SELECT pgsched.retry_run(%s)", [failed])
    assert first == second
    wait_for(lambda: status_of(db, first) == "succeeded", what="the replay to succeed")
    slot = db.execute(
        "SELECT attempt, status, trigger FROM pgsched.runs"
        " WHERE job_id = (SELECT job_id FROM pgsched.runs WHERE id = %s)"
        "   AND scheduled_for = (SELECT scheduled_for FROM pgsched.runs WHERE id = %s)"
        " ORDER BY attempt",
        [failed, failed],
    ).fetchall()
    assert slot == [(1, "failed", "manual"), (2, "succeeded", "manual")]
    # The slot is no dead letter any more: a bulk replay finds nothing to replay.
    bulk = invoke(workers.database_url, "runs", "retry", "--failed-since", "1h", "--job", "flaky")
    assert bulk.exit_code == 0 and "(no failed slots)" in bulk.output


def test_a_slow_attempt_is_flagged_once_in_running_runs_the_log_and_the_metrics(
    workers: Workers, db: Connection
) -> None:
    add_job(
        db,
        "slow",
        "tests.acceptance.jobs:sleep",
        schedule=NEVER,
        args={"seconds": 4},
        warn_after_seconds=1,
    )
    add_job(db, "quick", "tests.acceptance.jobs:sleep", schedule=NEVER, args={"seconds": 3})
    workers.start("--metrics-port", "0")
    wait_until_registered(db)
    port = metrics_port(workers)
    slow = scalar(db, "SELECT pgsched.run_now('slow')")
    quick = scalar(db, "SELECT pgsched.run_now('quick')")
    wait_for(
        lambda: scalar(db, "SELECT over_warning FROM pgsched.running_runs WHERE id = %s", [slow]),
        what="the slow attempt flagged in running_runs",
    )
    assert db.execute(
        "SELECT id, warn_after_seconds, over_warning FROM pgsched.running_runs ORDER BY id"
    ).fetchall() == [(slow, 1, True), (quick, None, False)]
    flagged = wait_for(
        lambda: samples(scrape(port)[1], "pgsched_runs_running_over_warning"),
        what="the gauge",
    )
    assert flagged == {(("job", "slow"),): 1.0}
    wait_for(lambda: status_of(db, slow) == "succeeded", what="the slow attempt to end")
    text = scrape(port)[1]
    assert samples(text, "pgsched_runs_running_over_warning") == {(("job", "slow"),): 0.0}
    assert samples(text, "pgsched_runs_over_warning_total") == {(("job", "slow"),): 1.0}
    warnings = [e for e in log_events(workers) if e["event"] == "run_over_warning"]
    assert [(e["run_id"], e["job_name"], e["warn_after_seconds"]) for e in warnings] == [
        (slow, "slow", 1)
    ]


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiving() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    handler = type("ThisReceiver", (Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], handler.received
    finally:
        server.shutdown()
        server.server_close()


def test_the_failure_webhook_receives_a_final_failure_beside_a_hung_one(
    workers: Workers, db: Connection
) -> None:
    add_job(
        db,
        "broken",
        "tests.jobs_for_tests:fail",
        schedule=NEVER,
        args={"message": "the provider said no"},
    )
    add_job(db, "tick", "tests.acceptance.jobs:noop", schedule="* * * * * *")
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # accepts, never answers
    with receiving() as (port, received), contextlib.closing(hung):
        workers.start(
            "--http-allow",
            "127.0.0.1",
            "--on-failure-webhook",
            f"http://127.0.0.1:{hung.getsockname()[1]}/hangs",
            "--on-failure-webhook",
            f"http://127.0.0.1:{port}/hooks/pgsched?token=t0ken",
        )
        wait_until_registered(db)
        run_id = scalar(db, "SELECT pgsched.run_now('broken')")
        wait_for(lambda: status_of(db, run_id) == "failed", what="the failure")
        ticks = scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'tick'")
        [report] = wait_for(lambda: list(received), timeout=20, what="the webhook's POST")
        # The hung endpoint held the hooks' thread for its timeout; runs went on.
        assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'tick'") > ticks
    row = db.execute(
        "SELECT job_name, attempt, status, scheduled_for, worker_id FROM pgsched.runs"
        " WHERE id = %s",
        [run_id],
    ).fetchone()
    assert row is not None
    assert report["event"] == "run_failed" and report["run_id"] == run_id
    assert (report["job_name"], report["attempt"], report["status"]) == row[:3]
    assert report["scheduled_for"] == row[3].isoformat() and report["worker_id"] == row[4]
    assert "the provider said no" in report["error"]
    failed = [e for e in log_events(workers) if e["event"] == "failure_webhook_failed"]
    assert [e["webhook"] for e in failed] == ["webhook http://127.0.0.1"]
    assert workers.stop_all() == [0]
