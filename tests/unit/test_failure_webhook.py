"""The webhook failure hook against real local HTTP servers: one that answers, one
that hangs, one that is down, and addresses the worker does not allow."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

import pgsched.hooks
import pgsched.hooks.webhook
from pgsched.executors.http_address import AddressRules
from pgsched.hooks import FailureHooks, FailureReport
from pgsched.hooks.webhook import Webhook, WebhookUrlError
from tests.logs import logged

LOCAL = AddressRules.allowing(["127.0.0.1"])


def report(run_id: int = 7) -> FailureReport:
    return FailureReport(
        job_name="payments",
        run_id=run_id,
        attempt=3,
        max_attempts=3,
        status="timed_out",
        error="timed out after 30 s",
        scheduled_for=datetime(2030, 1, 1, 9, tzinfo=UTC),
        worker_id="w1",
    )


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], Any]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiver(status: int = 204) -> Iterator[tuple[int, list[Any]]]:
    handler = type("ThisReceiver", (Receiver,), {"received": [], "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_the_webhook_posts_the_report_as_json() -> None:
    with receiver() as (port, received):
        Webhook(f"http://127.0.0.1:{port}/hooks/pgsched?token=abc", LOCAL)(report())
    [(path, headers, body)] = received
    assert path == "/hooks/pgsched?token=abc"
    assert headers["Content-Type"] == "application/json"
    assert body == {
        "event": "run_failed",
        "job_name": "payments",
        "run_id": 7,
        "attempt": 3,
        "max_attempts": 3,
        "status": "timed_out",
        "error": "timed out after 30 s",
        "scheduled_for": "2030-01-01T09:00:00+00:00",
        "worker_id": "w1",
    }


def test_a_circuit_breaker_event_is_posted_with_its_event_name() -> None:
    opened = replace(report(), event="circuit_opened", error="circuit breaker opened after 3")
    with receiver() as (port, received):
        Webhook(f"http://127.0.0.1:{port}/hooks", LOCAL)(opened)
    [(_, _, body)] = received
    assert (body["event"], body["job_name"], body["error"]) == (
        "circuit_opened",
        "payments",
        "circuit breaker opened after 3",
    )
    assert next(iter(body)) == "event"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the failure hooks log, through their modules' own loggers (tests/logs.py)."""
    return logged(monkeypatch, pgsched.hooks, pgsched.hooks.webhook)


def test_an_endpoint_answering_an_error_is_logged_without_the_urls_token(
    logs: list[dict[str, Any]],
) -> None:
    with receiver(status=500) as (port, received):
        Webhook(f"http://127.0.0.1:{port}/x?token=secret", LOCAL)(report())
    assert len(received) == 1
    [entry] = [e for e in logs if e["event"] == "failure_webhook_failed"]
    assert "500" in entry["error"] and "secret" not in json.dumps(entry)


def test_a_hanging_endpoint_costs_the_timeout_and_is_logged(logs: list[dict[str, Any]]) -> None:
    with hanging_server() as port:
        began = time.monotonic()
        Webhook(f"http://127.0.0.1:{port}/", LOCAL, timeout=0.5)(report())
        took = time.monotonic() - began
    assert 0.4 < took < 3
    assert [e["event"] for e in logs] == ["failure_webhook_failed"]
    assert "timed out" in logs[0]["error"]


def test_a_hanging_endpoint_never_blocks_whoever_submits_reports(
    logs: list[dict[str, Any]],
) -> None:
    with hanging_server() as port:
        webhook = Webhook(f"http://127.0.0.1:{port}/", LOCAL, timeout=0.1)
        hooks = FailureHooks([], [(webhook.name, webhook)])
        began = time.monotonic()
        for run_id in range(20):
            hooks.submit(report(run_id))
        assert time.monotonic() - began < 0.1
        hooks.close(timeout=10)  # each delivery gives up after its timeout
    assert [e["run_id"] for e in logs if e["event"] == "failure_webhook_failed"] == list(range(20))


def test_a_down_endpoint_is_logged(logs: list[dict[str, Any]]) -> None:
    with hanging_server() as port:
        pass  # closed: nothing listens on the port now
    Webhook(f"http://127.0.0.1:{port}/", LOCAL)(report())
    assert "ConnectionRefusedError" in logs[0]["error"]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://127.0.0.1:{port}/", "--http-allow"),
        ("http://169.254.169.254/latest", "metadata"),
        ("http://metadata.google.internal/", "metadata"),
    ],
)
def test_the_webhook_obeys_the_http_jobs_address_rules(
    url: str, complaint: str, logs: list[dict[str, Any]]
) -> None:
    with receiver() as (port, received):
        Webhook(url.format(port=port), AddressRules())(report())
    assert received == []
    assert "AddressRefused" in logs[0]["error"] and complaint in logs[0]["error"]


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com/hook", "http:///x"])
def test_a_webhook_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(WebhookUrlError):
        Webhook(url, AddressRules())
