"""Errors as RFC 9457 problem details (``application/problem+json``), and the
database's refusals turned into them.

A value the database refuses (a schedule, a time zone, a count) is a 422 whose
``detail`` is the database's own message and whose ``column`` names the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import errors as pg

from pgsched.catalog.definitions import IdempotencyKeyReused
from pgsched.catalog.tokens import TokenError
from pgsched.errors import DatabaseUnavailable, JobRunning, PgschedError
from pgsched.text import first_line

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:pgsched:problem:"


class Problem(Exception):
    """An HTTP error with a problem document: status, a short title, the detail, and
    extension members (``column``, ``hint``, ``errors``...)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind
        self.headers = dict(headers or {})
        self.extensions = {key: value for key, value in extensions.items() if value is not None}

    def document(self, instance: str | None = None) -> dict[str, Any]:
        """The problem as JSON members."""
        body: dict[str, Any] = {
            "type": f"{TYPE_PREFIX}{self.kind}" if self.kind else "about:blank",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        return body | self.extensions


def unauthorized(detail: str) -> Problem:
    """401 with the challenge a client needs."""
    return Problem(
        401,
        "Authentication required",
        detail,
        kind="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="pgsched"'},
    )


def forbidden(detail: str) -> Problem:
    """403: the principal may not do this."""
    return Problem(403, "Forbidden", detail, kind="forbidden")


def column_of(error: psycopg.Error) -> str | None:
    """The column a refusal is about: named by the trigger, else by the constraint
    (``jobs_timeout_seconds_check`` is about ``timeout_seconds``)."""
    diag = error.diag
    if diag.column_name:
        return diag.column_name
    constraint, table = diag.constraint_name, diag.table_name
    if constraint and table and constraint.startswith(f"{table}_"):
        for suffix in ("_check", "_key", "_not_null"):
            if constraint.endswith(suffix):
                return constraint[len(table) + 1 : -len(suffix)] or None
    return None


def from_database_error(error: psycopg.Error) -> Problem:
    """The problem a database error stands for, with the database's message."""
    diag = error.diag
    message = diag.message_primary or first_line(error)
    members: dict[str, Any] = {"hint": diag.message_hint, "sqlstate": diag.sqlstate}
    if isinstance(error, pg.InsufficientPrivilege):
        return Problem(403, "The database refused", message, kind="forbidden", **members)
    if isinstance(
        error,
        pg.CheckViolation
        | pg.NotNullViolation
        | pg.InvalidParameterValue
        | pg.InvalidTextRepresentation
        | pg.NumericValueOutOfRange
        | pg.InvalidDatetimeFormat
        | pg.DatetimeFieldOverflow,
    ):
        return Problem(
            422,
            "The database refused the value",
            message,
            kind="invalid-value",
            column=column_of(error),
            database_detail=diag.message_detail,
            **members,
        )
    if isinstance(error, pg.UniqueViolation):
        return Problem(409, "Already exists", message, kind="conflict", **members)
    if isinstance(error, pg.NoDataFound):
        return Problem(404, "Not found", message, kind="not-found", **members)
    if isinstance(error, pg.ObjectNotInPrerequisiteState):
        return Problem(409, "Not possible now", message, kind="conflict", **members)
    if isinstance(error, pg.QueryCanceled | psycopg.OperationalError | psycopg.InterfaceError):
        return Problem(503, "Database unavailable", message, kind="unavailable")
    return Problem(500, "Database error", message, kind="database-error", **members)


def from_pgsched_error(error: PgschedError) -> Problem:
    """The problem one of pgsched's own errors stands for."""
    if isinstance(error, LookupError):
        return Problem(404, "Not found", str(error), kind="not-found")
    if isinstance(error, JobRunning):
        return Problem(409, "Running now", str(error), kind="conflict")
    if isinstance(error, ValueError | TokenError | IdempotencyKeyReused):
        return Problem(422, "Invalid", str(error), kind="invalid-value")
    if isinstance(error, DatabaseUnavailable):
        return Problem(503, "Database unavailable", str(error), kind="unavailable")
    return Problem(400, "Refused", str(error), kind="refused")
