"""Which executor runs which job kind, built from a worker's options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pgsched.db.pooling import PoolMode
from pgsched.engine.options import WorkerOptions, python_processes
from pgsched.executors.base import Executor
from pgsched.executors.http import HttpExecutor
from pgsched.executors.python import PythonExecutor
from pgsched.executors.shell import ShellExecutor
from pgsched.executors.sql import SqlExecutor
from pgsched.models import Attempt


def executors_for(
    options: WorkerOptions,
    database_url: str,
    save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
    sql_pool_mode: PoolMode = PoolMode.AUTO,
) -> tuple[PythonExecutor, dict[str, Executor]]:
    """The python executor, and every executor by job kind, within ``options``' limits;
    ``sql_pool_mode`` is how the sql jobs' URL reaches PostgreSQL."""
    python = PythonExecutor(
        options.allow_python,
        python_processes(options),
        save_checkpoint,
        options.hidden_env,
        # Without --python-processes, the pool grows while its processes are busy.
        max_processes=options.concurrency if options.python_processes is None else None,
    )
    return python, {
        "python": python,
        "shell": ShellExecutor(options.allow_shell, options.hidden_env),
        "http": HttpExecutor(options.http_per_host, options.hidden_env),
        "sql": SqlExecutor(
            options.sql_database_url or database_url,
            options.sql_pool_size,
            options.sql_role,
            options.sql_allow_superuser,
            sql_pool_mode,
        ),
    }
