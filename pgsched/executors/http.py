"""HTTP jobs: one request per attempt, over pooled keep-alive connections.

The target is an ``http://`` or ``https://`` URL. ``args`` may hold ``method``
(default GET), ``headers``, ``body`` (a string, or a JSON object or array sent as
``application/json``) and ``expect_status`` (a status or a list of them; default
any 2xx). Redirects are not followed: a 3xx fails unless ``expect_status`` lists
it. The worker's timeout bounds the whole request.

Header values may say ``${env:NAME}``, replaced from the worker's environment when
the request is sent, so secrets stay out of the jobs table. Nothing a request
carries ever reaches a run's error or output: the output is the response status
line and the head of its body, and messages show a URL as ``scheme://host/path``
without its query string, which may hold a token.

Requests run on ``http.client`` in threads. Each host gets at most
``per_host_limit`` connections at once; idle ones are kept for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import select
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pgsched.config import hidden_from_jobs
from pgsched.executors.base import OUTPUT_LIMIT_CHARS
from pgsched.models import Attempt, Outcome

ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 9110 tokens: what a method or a header name may be made of.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# http.client refuses these in a request line or header value, quoting the offender.
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
FORBIDDEN_IN_HEADER_VALUE = re.compile(r"[\r\n\x00]")

# Statuses that a later attempt may not see again: timeouts and rate limits.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 429})
# The socket timeout goes this far past the attempt's own, only so that a thread
# stuck connecting after its attempt was cancelled does not linger for ever.
SOCKET_GRACE_SECONDS = 30
READ_CHUNK_BYTES = 64 * 1024
# Requests waiting on slow servers hold a thread each.
MAX_THREADS = 64

HostKey = tuple[str, str, int]


class _InvalidJob(Exception):
    """The job definition cannot be sent; the message says why and carries no secret."""


@dataclass(frozen=True)
class _Request:
    scheme: str
    host: str
    port: int
    path: str  # with the query string: never put it in a message
    shown_url: str  # scheme://host/path, safe for messages
    method: str
    headers: dict[str, str]
    body: bytes | None
    expected: tuple[int, ...] | None  # None: any 2xx
    timeout_seconds: float

    @property
    def key(self) -> HostKey:
        return (self.scheme, self.host, self.port)


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
    """Runs ``http`` jobs."""

    def __init__(self, per_host_limit: int = 8, hidden_env: Sequence[str] = ()) -> None:
        self._per_host_limit = per_host_limit
        self._hidden_env = tuple(hidden_env)
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
            request = _request(attempt, self._hidden_env)
        except _InvalidJob as exc:
            return Outcome.failed(str(exc), retryable=False)
        pool = self._pools.get(request.key)
        if pool is None:
            pool = self._pools[request.key] = _HostPool(asyncio.Semaphore(self._per_host_limit), [])
        try:
            async with pool.slots:
                response = await self._send(pool, request)
        except (OSError, http.client.HTTPException) as exc:
            return Outcome.failed(f"request to {request.shown_url} failed: {_describe(exc)}")
        return _outcome(request, response)

    async def _send(self, pool: _HostPool, request: _Request) -> _Response:
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

    def _connection(self, request: _Request) -> http.client.HTTPConnection:
        if request.scheme == "https":
            return http.client.HTTPSConnection(request.host, request.port, context=self._tls)
        return http.client.HTTPConnection(request.host, request.port)


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

    def run(self, request: _Request) -> _Response:
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

    def _exchange(self, request: _Request) -> _Response:
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


def _request(attempt: Attempt, hidden_env: Sequence[str]) -> _Request:
    """The request ``attempt`` describes, with ``${env:NAME}`` references resolved."""
    url = attempt.target
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _InvalidJob("the target must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise _InvalidJob(
            "the URL must not carry credentials: send them in a header, "
            "e.g. Authorization: Bearer ${env:API_TOKEN}"
        )
    if not url.isascii() or FORBIDDEN_CHARACTERS.search(url):
        raise _InvalidJob("the URL must be ASCII without spaces or control characters")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _InvalidJob("the URL has an invalid port") from None
    path = parts.path or "/"
    args = attempt.args
    headers = _headers(args.get("headers", {}), hidden_env)
    body, content_type = _body(args.get("body"))
    if content_type and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return _Request(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        path=f"{path}?{parts.query}" if parts.query else path,
        shown_url=f"{parts.scheme}://{parts.netloc}{path}",
        method=_method(args.get("method", "GET")),
        headers=headers,
        body=body,
        expected=_expected(args.get("expect_status")),
        timeout_seconds=attempt.timeout_seconds + SOCKET_GRACE_SECONDS,
    )


def _method(method: Any) -> str:
    if not isinstance(method, str) or not TOKEN.fullmatch(method):
        raise _InvalidJob('args "method" must be an HTTP method such as "GET" or "POST"')
    return method.upper()


def _headers(headers: Any, hidden_env: Sequence[str]) -> dict[str, str]:
    """Headers with environment references substituted; messages name headers, never values."""
    if not isinstance(headers, Mapping):
        raise _InvalidJob('args "headers" must be an object of header names to strings')
    resolved = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise _InvalidJob(f"header name {name!r} is not valid")
        if not isinstance(value, str):
            raise _InvalidJob(f"header {name!r} must have a string value")
        value = _resolve(name, value, hidden_env)
        if FORBIDDEN_IN_HEADER_VALUE.search(value) or not value.isascii():
            raise _InvalidJob(f"header {name!r} has a value with line breaks or non-ASCII text")
        resolved[name] = value
    if not any(name.lower() == "user-agent" for name in resolved):
        resolved["User-Agent"] = "pgsched"
    return resolved


def _resolve(header: str, value: str, hidden_env: Sequence[str]) -> str:
    """``value`` with each ``${env:NAME}`` replaced by that variable of the worker's environment.

    Read at execution time, so a secret can be rotated without touching the job.
    """

    def variable(reference: re.Match[str]) -> str:
        if hidden_from_jobs(reference[1], hidden_env):
            raise _InvalidJob(
                f"header {header!r} refers to environment variable {reference[1]}, "
                "which this worker hides from jobs"
            )
        try:
            return os.environ[reference[1]]
        except KeyError:
            raise _InvalidJob(
                f"header {header!r} refers to environment variable {reference[1]}, "
                "which is not set on this worker"
            ) from None

    return ENV_REFERENCE.sub(variable, value)


def _body(body: Any) -> tuple[bytes | None, str | None]:
    """The body as bytes, and the content type it implies if any."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode(), None
    if isinstance(body, dict | list):
        return json.dumps(body).encode(), "application/json"
    raise _InvalidJob('args "body" must be a string, a JSON object or a JSON array')


def _expected(expect_status: Any) -> tuple[int, ...] | None:
    if expect_status is None:
        return None
    statuses = expect_status if isinstance(expect_status, list) else [expect_status]
    if not statuses or not all(
        isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
        for status in statuses
    ):
        raise _InvalidJob('args "expect_status" must be an HTTP status or a list of them')
    return tuple(statuses)


def _outcome(request: _Request, response: _Response) -> Outcome:
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
