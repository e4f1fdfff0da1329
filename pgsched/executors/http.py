"""HTTP jobs: one request per attempt, over pooled keep-alive connections.

What a job's row asks for is ``http_request``'s to read and check (URL, method,
headers and the secrets they may carry, body, expected statuses); which addresses a
request may reach is ``http_address``'s to decide, when each connection is opened.
Redirects are not followed: a 3xx fails unless ``expect_status`` lists it. The
worker's timeout bounds the whole request. The output is the response's status line
and the head of its body; errors show the URL as ``scheme://host/path`` only.

Requests run on ``http.client`` in threads. Each host gets at most
``per_host_limit`` connections at once; idle ones are kept for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import select
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.executors.http_address import AddressRefused, AddressRules, checked_connection
from pgsched.executors.http_request import (
    HostKey,
    HttpRequest,
    InvalidJob,
    SecretHosts,
    request_for,
)
from pgsched.models import Attempt, Outcome

# Statuses that a later attempt may not see again: timeouts and rate limits.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 429})
READ_CHUNK_BYTES = 64 * 1024
# Requests waiting on slow servers hold a thread each.
MAX_THREADS = 64


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    body: str
    dropped_bytes: int


@dataclass
class _HostPool:
    slots: asyncio.Semaphore
    idle: list[http.client.HTTPConnection]


class HttpExecutor:
    """Runs ``http`` jobs, reaching only what ``rules`` allow and sending only the
    secrets ``secrets`` name, each to its own hosts."""

    def __init__(
        self,
        per_host_limit: int = 8,
        rules: AddressRules | None = None,
        secrets: SecretHosts | None = None,
    ) -> None:
        self._per_host_limit = per_host_limit
        self._rules = rules or AddressRules()
        self._secrets = secrets or SecretHosts()
        self._pools: dict[HostKey, _HostPool] = {}
        self._in_flight: set[_Exchange] = set()
        self._threads = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="pgsched-http")
        self._tls = ssl.create_default_context()

    async def start(self) -> None:
        """Nothing to acquire: connections are opened on demand."""

    async def close(self) -> None:
        """Abort requests still running and close idle connections."""
        for exchange in self._in_flight:
            exchange.abort()
        for pool in self._pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def execute(self, attempt: Attempt) -> Outcome:
        """Send the request ``attempt`` describes; close its socket if cancelled."""
        try:
            request = request_for(attempt, self._secrets)
        except InvalidJob as exc:
            return Outcome.failed(str(exc), retryable=False)
        pool = self._pools.get(request.key)
        if pool is None:
            pool = self._pools[request.key] = _HostPool(asyncio.Semaphore(self._per_host_limit), [])
        try:
            async with pool.slots:
                response = await self._send(pool, request)
        except AddressRefused as exc:
            return Outcome.failed(f"request to {request.shown_url} refused: {exc}", retryable=False)
        except (OSError, http.client.HTTPException) as exc:
            return Outcome.failed(f"request to {request.shown_url} failed: {_describe(exc)}")
        return _outcome(request, response)

    async def _send(self, pool: _HostPool, request: HttpRequest) -> _Response:
        connection = _reusable(pool) or self._connection(request)
        exchange = _Exchange(connection)
        self._in_flight.add(exchange)
        running = self._threads.submit(exchange.run, request)
        try:
            response = await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            if running.cancel():  # still queued: it never touched the connection
                connection.close()
            else:
                exchange.abort()
            raise
        finally:
            self._in_flight.discard(exchange)
        if connection.sock is not None:  # the server keeps it open for another request
            pool.idle.append(connection)
        return response

    def _connection(self, request: HttpRequest) -> http.client.HTTPConnection:
        return checked_connection(
            request.scheme, request.host, request.port, self._rules, self._tls
        )


class _Exchange:
    """One request on one connection, run in a thread and abortable from the event loop.

    Whichever side finishes with the connection last closes it: the thread when
    the exchange was aborted while it ran, ``abort`` when the thread was done.
    """

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._aborted = False
        self._finished = False

    def run(self, request: HttpRequest) -> _Response:
        """Send ``request`` and read the whole response; runs in a worker thread."""
        try:
            response = self._exchange(request)
        except BaseException:
            self._connection.close()
            raise
        with self._lock:
            self._finished = True
            if self._aborted:  # nobody waits for this response any more
                self._connection.close()
        return response

    def abort(self) -> None:
        """Make the thread's blocked socket call fail at once; the request has no later effect."""
        with self._lock:
            self._aborted = True
            if self._finished:
                self._connection.close()
                return
            sock = self._connection.sock
        if sock is not None:
            # shutdown, unlike close, wakes a thread blocked on the socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _exchange(self, request: HttpRequest) -> _Response:
        connection = self._connection
        connection.timeout = request.timeout_seconds
        if connection.sock is None:
            connection.connect()
        else:
            connection.sock.settimeout(request.timeout_seconds)
        # A connection being opened has no socket to shut down yet: once it has
        # one, look whether the attempt was cancelled meanwhile, before sending.
        with self._lock:
            if self._aborted:
                raise ConnectionAbortedError("the attempt was cancelled")
        connection.request(request.method, request.path, request.body, request.headers)
        response = connection.getresponse()
        kept = bytearray()
        dropped = 0
        # Read to the end even past the limit, so the connection can be reused.
        while chunk := response.read(READ_CHUNK_BYTES):
            room = OUTPUT_LIMIT_CHARS - len(kept)
            kept += chunk[:room]
            dropped += max(0, len(chunk) - room)
        charset = response.headers.get_content_charset() or "utf-8"
        try:
            body = kept.decode(charset, errors="replace")
        except LookupError:
            body = kept.decode("utf-8", errors="replace")
        return _Response(response.status, response.reason, body, dropped)


def _reusable(pool: _HostPool) -> http.client.HTTPConnection | None:
    """An idle connection the server has not closed meanwhile, if there is one."""
    while pool.idle:
        connection = pool.idle.pop()
        poller = select.poll()
        poller.register(connection.sock, select.POLLIN)
        # An idle connection is readable only when the server closed it (or broke
        # protocol): reusing it would fail the request for no fault of the job's.
        if not poller.poll(0):
            return connection
        connection.close()
    return None


def _outcome(request: HttpRequest, response: _Response) -> Outcome:
    """Success when the status is expected; otherwise a failure retried only if it may pass."""
    output = f"HTTP {response.status} {response.reason}"
    if response.body:
        output += f"\n\n{response.body}"
    if response.dropped_bytes:
        output += f"\n... [{response.dropped_bytes} more bytes of the body dropped]"
    if request.expected is None:
        expected = 200 <= response.status <= 299
        expectation = "2xx"
    else:
        expected = response.status in request.expected
        expectation = ", ".join(map(str, request.expected))
    if expected:
        return Outcome.succeeded(output)
    return Outcome.failed(
        f"HTTP {response.status} from {request.shown_url} (expected {expectation})",
        output=output,
        retryable=response.status >= 500 or response.status in TRANSIENT_CLIENT_STATUSES,
    )


def _describe(exc: OSError | http.client.HTTPException) -> str:
    """What went wrong on the connection; these errors quote no part of the request."""
    return str(exc) or type(exc).__name__
