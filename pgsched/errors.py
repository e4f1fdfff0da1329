"""The exceptions pgsched raises. Each docstring is the default message.

Every error a user can cause ends up as one of these, so the CLI can print one
clear line instead of a traceback.
"""

from __future__ import annotations


class PgschedError(Exception):
    """pgsched failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.__class__.__name__)


class ConfigurationError(PgschedError):
    """pgsched is configured in a way it cannot work with."""


class ScheduleError(PgschedError, ValueError):
    """The schedule expression is not valid."""


class TimezoneError(PgschedError, ValueError):
    """The time zone is not a known IANA zone name."""


class DatabaseError(PgschedError):
    """A database operation failed."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached: check PGSCHED_DATABASE_URL or run `pgsched db start`."""


class QueryFailed(DatabaseError):
    """The database refused a pgsched query; the connection is still usable."""


class SchemaNotMigrated(PgschedError):
    """The pgsched schema is missing or out of date: run `pgsched migrate`."""


class EmbeddedDatabaseError(PgschedError):
    """The embedded PostgreSQL server could not be managed."""


class Permanent(Exception):
    """The job failed in a way a retry cannot fix; pgsched records it and does not retry."""


class JobNotFound(PgschedError, LookupError):
    """No job has that name."""


class InvalidJob(PgschedError, ValueError):
    """The job definition is not valid."""


class JobsFileError(PgschedError, ValueError):
    """The jobs file cannot be read or does not describe jobs."""


class JobRunning(PgschedError):
    """The job has an attempt running now; wait for it, or force the change."""
