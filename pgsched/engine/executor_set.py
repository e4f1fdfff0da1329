"""The executors a worker runs jobs with, each held to what the worker's flags allow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pgsched.engine.options import WorkerOptions
from pgsched.errors import ConfigurationError
from pgsched.executors.base import Executor
from pgsched.executors.http import HttpExecutor
from pgsched.executors.http_address import AddressRules
from pgsched.executors.http_request import SecretHosts
from pgsched.executors.job_user import job_user
from pgsched.executors.python import PythonExecutor
from pgsched.executors.shell import ShellExecutor
from pgsched.executors.sql import SqlExecutor
from pgsched.models import Attempt


def build_executors(
    database_url: str,
    options: WorkerOptions,
    save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
) -> dict[str, Executor]:
    """One executor per job kind, as ``options`` allow.

    Refuses a configuration it cannot honour (``ConfigurationError``): python or shell
    jobs on a root worker without ``--run-as`` or ``--allow-root``, an ``--http-allow``
    or ``--http-secret`` value it cannot read.
    """
    runs_code = bool(options.allow_python) or options.allow_shell
    user = job_user(options.run_as, options.allow_root, runs_code)
    try:
        rules = AddressRules.allowing(options.http_allow)
    except ValueError as exc:
        raise ConfigurationError(f"--http-allow {exc}") from exc
    try:
        secrets = SecretHosts.parse(options.http_secrets)
    except ValueError as exc:
        raise ConfigurationError(f"--http-secret {exc}") from exc
    return {
        "python": PythonExecutor(
            options.allow_python,
            options.python_processes or options.concurrency,
            save_checkpoint,
            options.hidden_env,
            user,
        ),
        "shell": ShellExecutor(options.allow_shell, options.hidden_env, user),
        "http": HttpExecutor(options.http_per_host, rules, secrets),
        "sql": SqlExecutor(
            options.sql_database_url or database_url,
            options.sql_pool_size,
            options.sql_role,
            options.sql_allow_superuser,
            allowed=options.allow_sql,
        ),
    }
