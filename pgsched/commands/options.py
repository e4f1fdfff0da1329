"""Options that many commands share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any, TypeVar

import click

from pgsched.config import Settings
from pgsched.logging import LOG_FORMATS, LOG_LEVELS, configure_logging

F = TypeVar("F", bound=Callable[..., Any])


def log_options(command: F) -> F:
    """``--log-level`` and ``--log-format``; configures structlog before the command runs."""

    @click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
    @click.option(
        "--log-format", type=click.Choice(LOG_FORMATS), default="console", show_default=True
    )
    @wraps(command)
    def wrapper(*args: Any, log_level: str, log_format: str, **kwargs: Any) -> Any:
        configure_logging(log_level, log_format)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def database_options(command: F) -> F:
    """``--database-url`` and ``--home`` for a command that needs a database."""

    @click.option(
        "--database-url",
        metavar="URL",
        help="libpq URL, e.g. postgresql://user@host:5432/db. "
        "Default: $PGSCHED_DATABASE_URL, else the embedded server.",
    )
    @click.option("--home", metavar="DIR", help="Embedded server home. Default: $PGSCHED_HOME.")
    @wraps(command)
    def wrapper(*args: Any, database_url: str | None, home: str | None, **kwargs: Any) -> Any:
        settings = Settings.load(database_url=database_url, home=home)
        return command(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


def read_database_options(command: F) -> F:
    """``database_options`` and ``--read-database-url``, for a command that only reads."""

    @database_options
    @click.option(
        "--read-database-url",
        metavar="URL",
        help="Read from this database instead, e.g. a hot standby (its lag is accounted "
        "for where liveness is judged). Default: $PGSCHED_READ_DATABASE_URL, else the "
        "database URL.",
    )
    @wraps(command)
    def wrapper(
        *args: Any, settings: Settings, read_database_url: str | None, **kwargs: Any
    ) -> Any:
        if read_database_url:
            settings = replace(settings, read_database_url=read_database_url)
        return command(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON for scripts: a list of objects (of one, for a single result).",
)
