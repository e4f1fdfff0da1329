"""HTTP jobs against a local server: statuses, secrets, cancellation, per-host limits.

The address rules and secret bindings have tests of their own (test_http_address.py).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.executors.http import HttpExecutor
from pgsched.executors.http_address import AddressRules
from pgsched.executors.http_request import SecretHosts
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt

SECRET = "s3cr3t-token-value"
BIG_BODY_BYTES = 200_000


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ServerState:
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    active: int = 0
    max_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    release_slow: threading.Event = field(default_factory=threading.Event)
    client_hung_up: threading.Event = field(default_factory=threading.Event)


class Server(ThreadingHTTPServer):
    state: ServerState


class Handler(BaseHTTPRequestHandler):
    """Routes: /status/N answers N, /slow waits, /concurrent counts overlap, /big is large."""

    protocol_version = "HTTP/1.1"  # keep-alive, so the executor can reuse connections
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections += 1

    def do_GET(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def handle_request(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with state.lock:
            state.requests.append(Received(self.command, self.path, dict(self.headers), body))
        route = urlsplit(self.path).path
        if route.startswith("/status/"):
            status = int(route.removeprefix("/status/"))
            self.reply(status, f"body of {status}".encode())
        elif route == "/slow":
            # Answer only once released, noticing meanwhile if the client hangs up.
            while not state.release_slow.wait(0.02):
                readable, _, _ = select.select([self.connection], [], [], 0)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    state.client_hung_up.set()
                    return
            self.reply(200, b"late")
        elif route == "/concurrent":
            with state.lock:
                state.active += 1
                state.max_active = max(state.max_active, state.active)
            time.sleep(0.2)
            with state.lock:
                state.active -= 1
            self.reply(200, b"done")
        elif route == "/big":
            self.reply(200, b"y" * BIG_BODY_BYTES)
        else:
            self.reply(200, b"hello")

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@dataclass
class Running:
    url: str
    state: ServerState


@pytest.fixture
def server() -> Iterator[Running]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.state = ServerState()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state)
    finally:
        httpd.state.release_slow.set()
        httpd.shutdown()
        httpd.server_close()


def attempt(url: str, **args: Any) -> Attempt:
    return make_attempt("http", url, args)


# The test server listens on loopback, which http jobs reach only when the worker allows it.
LOOPBACK = AddressRules.allowing(["127.0.0.1"])
SECRETS = SecretHosts.parse(["REPORT_API_TOKEN=127.0.0.1"])


def run(url: str, **args: Any) -> Outcome:
    async def once() -> Outcome:
        executor = HttpExecutor(rules=LOOPBACK, secrets=SECRETS)
        try:
            return await executor.execute(attempt(url, **args))
        finally:
            await executor.close()

    return asyncio.run(once())


def test_ok_response_succeeds_with_status_line_and_body(server: Running) -> None:
    outcome = run(f"{server.url}/hello")
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == "HTTP 200 OK\n\nhello"
    assert server.state.requests[0].method == "GET"


def test_json_body_is_posted_as_json(server: Running) -> None:
    outcome = run(f"{server.url}/hook", method="post", body={"answer": 42, "items": [1, 2]})
    assert outcome.status is RunStatus.SUCCEEDED
    received = server.state.requests[0]
    assert received.method == "POST"
    assert received.headers["Content-Type"] == "application/json"
    assert json.loads(received.body) == {"answer": 42, "items": [1, 2]}


def test_string_body_is_sent_as_is(server: Running) -> None:
    run(f"{server.url}/hook", method="POST", body="plain text", headers={"Content-Type": "text/x"})
    received = server.state.requests[0]
    assert received.body == b"plain text"
    assert received.headers["Content-Type"] == "text/x"


def test_env_references_in_headers_are_substituted_and_never_shown(
    server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORT_API_TOKEN", SECRET)
    headers = {"Authorization": "Bearer ${env:REPORT_API_TOKEN}"}
    succeeded = run(f"{server.url}/ok", headers=headers)
    failed = run(f"{server.url}/status/500?token={SECRET}", headers=headers)
    assert [request.headers["Authorization"] for request in server.state.requests] == [
        f"Bearer {SECRET}",
        f"Bearer {SECRET}",
    ]
    assert succeeded.status is RunStatus.SUCCEEDED
    assert failed.error == f"HTTP 500 from {server.url}/status/500 (expected 2xx)"
    for outcome in (succeeded, failed):
        assert SECRET not in f"{outcome.error} {outcome.output}"


def test_missing_env_variable_fails_permanently_without_sending(
    server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPORT_API_TOKEN", raising=False)
    outcome = run(f"{server.url}/ok", headers={"X-Key": "${env:REPORT_API_TOKEN}"})
    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable
    assert outcome.error is not None and "REPORT_API_TOKEN" in outcome.error
    assert server.state.requests == []


def test_header_injection_through_env_is_refused_without_quoting_it(
    server: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORT_API_TOKEN", f"{SECRET}\r\nX-Evil: 1")
    outcome = run(f"{server.url}/ok", headers={"X-Key": "${env:REPORT_API_TOKEN}"})
    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable
    assert SECRET not in str(outcome.error)
    assert server.state.requests == []


@pytest.mark.parametrize(
    ("status", "retryable"), [(404, False), (400, False), (408, True), (429, True), (503, True)]
)
def test_unexpected_status_fails_retryable_only_when_it_may_pass(
    server: Running, status: int, retryable: bool
) -> None:
    outcome = run(f"{server.url}/status/{status}")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == f"HTTP {status} from {server.url}/status/{status} (expected 2xx)"
    assert outcome.retryable is retryable
    assert outcome.output is not None and f"body of {status}" in outcome.output


def test_redirects_are_not_followed(server: Running) -> None:
    outcome = run(f"{server.url}/status/302")
    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable


def test_expect_status_is_honoured(server: Running) -> None:
    assert run(f"{server.url}/status/404", expect_status=404).status is RunStatus.SUCCEEDED
    outcome = run(f"{server.url}/status/200", expect_status=[201, 202])
    assert outcome.error == f"HTTP 200 from {server.url}/status/200 (expected 201, 202)"
    assert not outcome.retryable


def test_large_body_is_truncated(server: Running) -> None:
    outcome = run(f"{server.url}/big")
    assert outcome.output is not None
    assert outcome.output.endswith(
        f"[{BIG_BODY_BYTES - OUTPUT_LIMIT_CHARS} more bytes of the body dropped]"
    )


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("ftp://example.com/file", {}),
        ("http://user:password@example.com/", {}),
        ("http://example.com/a b", {}),
        ("http://example.com/", {"method": "GET /x"}),
        ("http://example.com/", {"headers": {"Bad Name": "x"}}),
        ("http://example.com/", {"body": 42}),
        ("http://example.com/", {"expect_status": "200"}),
    ],
)
def test_invalid_definitions_fail_permanently(url: str, args: dict[str, Any]) -> None:
    outcome = run(url, **args)
    assert outcome.status is RunStatus.FAILED
    assert not outcome.retryable
    assert "password" not in str(outcome.error)


def test_connection_refused_fails_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = run(f"http://127.0.0.1:{port}/ok?token={SECRET}")
    assert outcome.status is RunStatus.FAILED
    assert outcome.retryable
    assert outcome.error is not None
    assert outcome.error.startswith(f"request to http://127.0.0.1:{port}/ok failed: ")
    assert SECRET not in outcome.error


def test_cancelling_closes_the_connection_and_the_pool_stays_usable(server: Running) -> None:
    async def scenario() -> tuple[float, Outcome, Outcome]:
        executor = HttpExecutor(rules=LOOPBACK)
        try:
            warm_up = await executor.execute(attempt(f"{server.url}/ok"))  # leaves an idle one
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(executor.execute(attempt(f"{server.url}/slow")), 0.2)
            elapsed = time.monotonic() - started
            after = await executor.execute(attempt(f"{server.url}/ok"))
            return elapsed, warm_up, after
        finally:
            await executor.close()

    elapsed, warm_up, after = asyncio.run(scenario())
    assert elapsed < 1.2
    assert server.state.client_hung_up.wait(1.0)
    assert warm_up.status is RunStatus.SUCCEEDED
    assert after.status is RunStatus.SUCCEEDED
    # The slow request reused the warm-up connection, which was then discarded.
    assert server.state.connections == 2


def test_per_host_limit_bounds_concurrency_and_reuses_connections(server: Running) -> None:
    async def scenario() -> list[Outcome]:
        executor = HttpExecutor(per_host_limit=2, rules=LOOPBACK)
        try:
            return await asyncio.gather(
                *(executor.execute(attempt(f"{server.url}/concurrent")) for _ in range(6))
            )
        finally:
            await executor.close()

    outcomes = asyncio.run(scenario())
    assert [outcome.status for outcome in outcomes] == [RunStatus.SUCCEEDED] * 6
    assert server.state.max_active == 2
    assert server.state.connections == 2
