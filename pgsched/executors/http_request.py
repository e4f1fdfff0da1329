"""What an http job's row asks for: the request to send, checked before anything is sent.

The target is an ``http://`` or ``https://`` URL without credentials. ``args`` may hold
``method`` (default GET), ``headers``, ``body`` (a string, or a JSON object or array
sent as ``application/json``) and ``expect_status`` (a status or a list of them;
default any 2xx).

Header values may say ``${env:NAME}``, replaced from the worker's environment when
the request is built, so secrets stay out of the jobs table. A job author chooses the
URL, so a reference is honoured only for a variable the worker names with
``--http-secret NAME=HOST``, and only in a request to one of the hosts named with it.
Refusals read the same whether the variable exists or not. Nothing a request carries
ever reaches a message: they show a URL as ``scheme://host/path`` without its query
string, which may hold a token, and name headers, never their values.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from pgsched.config import hidden_from_jobs
from pgsched.models import Attempt

ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 9110 tokens: what a method or a header name may be made of.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# http.client refuses these in a request line or header value, quoting the offender.
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
FORBIDDEN_IN_HEADER_VALUE = re.compile(r"[\r\n\x00]")
# Header names are quoted in messages; a longer one is cut.
SHOWN_NAME_CHARS = 100
# The socket timeout goes this far past the attempt's own, only so that a thread
# stuck connecting after its attempt was cancelled does not linger for ever.
SOCKET_GRACE_SECONDS = 30

HostKey = tuple[str, str, int]


class InvalidJob(Exception):
    """The job definition cannot be sent; the message says why and carries no secret."""


@dataclass(frozen=True)
class SecretHosts:
    """``--http-secret NAME=HOST``: which variables http jobs may send, and to which hosts."""

    hosts: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> SecretHosts:
        """From ``NAME=HOST[,HOST...]`` values (repeatable); ``ValueError`` saying what is wrong."""
        hosts: dict[str, set[str]] = {}
        for entry in entries:
            name, equals, listed = entry.partition("=")
            names = {host.strip().rstrip(".").lower() for host in listed.split(",")} - {""}
            if not equals or not ENV_REFERENCE.fullmatch(f"${{env:{name}}}") or not names:
                raise ValueError(f"{entry!r} is not NAME=HOST (e.g. API_TOKEN=api.example.com)")
            if hidden_from_jobs(name):
                raise ValueError(f"{name} is pgsched's own setting: it is never sent to jobs")
            hosts.setdefault(name, set()).update(names)
        return cls({name: frozenset(listed) for name, listed in hosts.items()})

    def value(self, header: str, name: str, host: str) -> str:
        """The value of variable ``name`` for a request to ``host``, or ``InvalidJob``."""
        allowed = self.hosts.get(name)
        shown = _shown(header)
        if allowed is None:
            raise InvalidJob(
                f"header {shown} refers to ${{env:{name}}}, which this worker does not give "
                f"to http jobs (the operator names such variables with --http-secret {name}=HOST)"
            )
        if host.rstrip(".").lower() not in allowed:
            raise InvalidJob(
                f"header {shown} refers to ${{env:{name}}}, which this worker sends only to the "
                f"hosts its --http-secret names, and {host} is not one of them"
            )
        try:
            return os.environ[name]
        except KeyError:
            raise InvalidJob(
                f"header {shown} refers to ${{env:{name}}}, which --http-secret names but "
                "which is not set on this worker"
            ) from None


@dataclass(frozen=True)
class HttpRequest:
    """One request, ready to send."""

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
        """The connection pool the request goes through."""
        return (self.scheme, self.host, self.port)


def target_problem(target: str) -> str | None:
    """Why ``target`` is not a URL an http job can be sent to, or None.

    Whether its host may be reached is decided when connecting (``http_address``).
    """
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"http target {target!r} is not an http:// or https:// URL with a host"
    if not target.isascii() or FORBIDDEN_CHARACTERS.search(target):
        return f"http target {target!r} has spaces, control or non-ASCII characters"
    if parts.username is not None or parts.password is not None:
        return (
            "http target carries credentials in the URL: send them in a header instead, "
            "e.g. Authorization: Bearer ${env:API_TOKEN}"
        )
    try:
        parts.port  # noqa: B018 - evaluated for the ValueError it raises on a bad port
    except ValueError:
        return f"http target {target!r} has an invalid port"
    return None


def request_for(attempt: Attempt, secrets: SecretHosts) -> HttpRequest:
    """The request ``attempt`` describes, with ``${env:NAME}`` references resolved."""
    problem = target_problem(attempt.target)
    if problem is not None:
        raise InvalidJob(problem)
    parts = urlsplit(attempt.target)
    assert parts.hostname is not None  # target_problem checked it
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    args = attempt.args
    headers = _headers(args.get("headers", {}), secrets, parts.hostname)
    body, content_type = _body(args.get("body"))
    if content_type and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return HttpRequest(
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
        raise InvalidJob('args "method" must be an HTTP method such as "GET" or "POST"')
    return method.upper()


def _headers(headers: Any, secrets: SecretHosts, host: str) -> dict[str, str]:
    """Headers with environment references substituted; messages name headers, never values."""
    if not isinstance(headers, Mapping):
        raise InvalidJob('args "headers" must be an object of header names to strings')
    resolved = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise InvalidJob(f"header name {_shown(str(name))} is not valid")
        if not isinstance(value, str):
            raise InvalidJob(f"header {_shown(name)} must have a string value")
        # Read at execution time, so a secret can be rotated without touching the job.
        value = ENV_REFERENCE.sub(partial(_secret, secrets, name, host), value)
        if FORBIDDEN_IN_HEADER_VALUE.search(value) or not value.isascii():
            raise InvalidJob(
                f"header {_shown(name)} has a value with line breaks or non-ASCII text"
            )
        resolved[name] = value
    if not any(name.lower() == "user-agent" for name in resolved):
        resolved["User-Agent"] = "pgsched"
    return resolved


def _secret(secrets: SecretHosts, header: str, host: str, reference: re.Match[str]) -> str:
    return secrets.value(header, reference[1], host)


def _shown(header: str) -> str:
    """A header name as messages quote it: ``repr``, cut when long."""
    if len(header) > SHOWN_NAME_CHARS:
        header = header[:SHOWN_NAME_CHARS] + "..."
    return repr(header)


def _body(body: Any) -> tuple[bytes | None, str | None]:
    """The body as bytes, and the content type it implies if any."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode(), None
    if isinstance(body, dict | list):
        return json.dumps(body).encode(), "application/json"
    raise InvalidJob('args "body" must be a string, a JSON object or a JSON array')


def _expected(expect_status: Any) -> tuple[int, ...] | None:
    if expect_status is None:
        return None
    statuses = expect_status if isinstance(expect_status, list) else [expect_status]
    if not statuses or not all(
        isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
        for status in statuses
    ):
        raise InvalidJob('args "expect_status" must be an HTTP status or a list of them')
    return tuple(statuses)
