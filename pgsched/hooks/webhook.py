"""Failure hook that POSTs each final failure, as JSON, to a URL (``--on-failure-webhook``).

The connection follows the http jobs' address rules (``http_address``): the host is
resolved when the connection opens, link-local and metadata addresses are always
refused, loopback and private ones unless the worker's ``--http-allow`` opens them.
Each POST has ``TIMEOUT_SECONDS`` to connect and for each read or write, and runs
on the failure hooks' thread: an endpoint slow, down or hanging delays no run, and
a failed delivery is logged and dropped, never retried (reports waiting behind a
hung endpoint are bounded by ``pgsched.hooks.MAX_WAITING_REPORTS``).

The body (``Content-Type: application/json``)::

    {"event": "run_failed", "job_name": "payments-sync", "run_id": 4182,
     "attempt": 3, "max_attempts": 3, "status": "failed", "error": "...",
     "scheduled_for": "2026-03-01T09:00:00+00:00", "worker_id": "host-1234-ab12"}

Any 2xx answer is a delivery; anything else is logged (``failure_webhook_failed``).
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import asdict
from urllib.parse import urlsplit

import structlog

from pgsched.executors.http_address import AddressRules, checked_connection
from pgsched.hooks import FailureReport

TIMEOUT_SECONDS = 5.0
# The error is the run's whole error text; a webhook wants the gist, not megabytes.
MAX_ERROR_CHARS = 4000

log = structlog.get_logger(__name__)


class WebhookUrlError(ValueError):
    """The ``--on-failure-webhook`` value is not an http(s) URL with a host."""


def payload(report: FailureReport) -> bytes:
    """The JSON body sent for ``report``."""
    body = {"event": "run_failed", **asdict(report)}
    body["scheduled_for"] = report.scheduled_for.isoformat()
    if report.error is not None:
        body["error"] = report.error[:MAX_ERROR_CHARS]
    return json.dumps(body).encode()


class Webhook:
    """A failure hook posting to one URL under ``rules``."""

    def __init__(self, url: str, rules: AddressRules, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookUrlError(f"{url!r}: expected an http:// or https:// URL with a host")
        try:
            self._port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise WebhookUrlError(f"{url!r}: {exc}") from exc
        self._scheme, self._host = parts.scheme, parts.hostname
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._rules = rules
        self._timeout = timeout
        self._tls = ssl.create_default_context()
        # The path or query may hold a token: logs name the host only.
        self.name = f"webhook {parts.scheme}://{parts.hostname}"

    def __call__(self, report: FailureReport) -> None:
        """POST ``report``; log, never raise, when it does not arrive."""
        connection = checked_connection(
            self._scheme, self._host, self._port, self._rules, self._tls
        )
        connection.timeout = self._timeout
        try:
            connection.request(
                "POST",
                self._path,
                body=payload(report),
                headers={"Content-Type": "application/json", "User-Agent": "pgsched"},
            )
            response = connection.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                raise http.client.HTTPException(f"answered {response.status} {response.reason}")
        except (OSError, http.client.HTTPException) as exc:
            log.warning(
                "failure_webhook_failed",
                webhook=self.name,
                error=f"{type(exc).__name__}: {exc}",
                job_name=report.job_name,
                run_id=report.run_id,
            )
        finally:
            connection.close()
