"""Which executor runs which job kind, built from a worker's options, each held to what
the worker's flags allow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pgsched.db.pooling import PoolMode
from pgsched.engine.options import WorkerOptions, python_processes
from pgsched.errors import ConfigurationError
from pgsched.executors.base import Executor
from pgsched.executors.http import HttpExecutor
from pgsched.executors.http_address import AddressRules
from pgsched.executors.http_request import SecretHosts
from pgsched.executors.job_user import JobUser, job_user
from pgsched.executors.python import PythonExecutor
from pgsched.executors.python_children import timed_out
from pgsched.executors.shell import ShellExecutor
from pgsched.executors.sql import SqlExecutor
from pgsched.models import Attempt, Outcome


@dataclass(frozen=True)
class JobLimits:
    """What a worker's flags let its jobs be and reach."""

    user: JobUser | None
    rules: AddressRules
    secrets: SecretHosts


def job_limits(options: WorkerOptions) -> JobLimits:
    """The limits ``options`` set, or ``ConfigurationError`` for a configuration that
    cannot be honoured: python or shell jobs on a root worker without ``--run-as`` or
    ``--allow-root``, an ``--http-allow`` or ``--http-secret`` value it cannot read."""
    user = job_user(
        options.run_as, options.allow_root, bool(options.allow_python or options.allow_shell)
    )
    try:
        rules = AddressRules.allowing(options.http_allow)
        secrets = SecretHosts.parse(options.http_secrets)
    except ValueError as exc:
        raise ConfigurationError(f"--http-allow or --http-secret: {exc}") from exc
    return JobLimits(user, rules, secrets)


class SideBySide:
    """An executor of a kind whose attempts run side by side in the worker (shell, http,
    sql), sharing ``slots`` (``--concurrency`` of them) with the others of these kinds.

    Claims of due work stay within --concurrency, and slots of these kinds claimed
    ahead beyond it are handed back (``release.hand_back_surplus``); when the database
    could not take them back, those beyond it wait here until one ends, and begin then
    (their ``started_at``, and their timeout counts from then: a wait for a slot is
    not the job's time).
    """

    def __init__(self, executor: Executor, slots: asyncio.Semaphore) -> None:
        self._executor = executor
        self._slots = slots

    async def start(self) -> None:
        """Start the executor it gates."""
        await self._executor.start()

    async def execute(self, attempt: Attempt) -> Outcome:
        """Run ``attempt`` once fewer than --concurrency of these kinds run, stopped
        at its timeout."""
        async with self._slots:
            began = time.monotonic()
            try:
                async with asyncio.timeout(attempt.timeout_seconds):
                    outcome = await self._executor.execute(attempt)
            except TimeoutError:
                return timed_out(attempt, began)
        if outcome.started_monotonic is not None:
            return outcome
        return replace(outcome, started_monotonic=began)

    async def close(self) -> None:
        """Close the executor it gates."""
        await self._executor.close()


def executors_for(
    options: WorkerOptions,
    database_url: str,
    save_checkpoint: Callable[[Attempt, Any], Awaitable[None]],
    sql_pool_mode: PoolMode = PoolMode.AUTO,
) -> tuple[PythonExecutor, dict[str, Executor]]:
    """The python executor, and every executor by job kind, within ``options``' limits
    (``job_limits``); ``sql_pool_mode`` is how the sql jobs' URL reaches PostgreSQL."""
    limits = job_limits(options)
    user, rules, secrets = limits.user, limits.rules, limits.secrets
    # A variable bound to the hosts it may be sent to is the worker's alone: a shell or
    # python job that could read it could send it anywhere.
    hidden_env = (*options.hidden_env, *secrets.hosts)
    python = PythonExecutor(
        options.allow_python,
        python_processes(options),
        save_checkpoint,
        hidden_env,
        # Without --python-processes, the pool grows while its processes are busy.
        max_processes=options.concurrency if options.python_processes is None else None,
        user=user,
    )
    side_by_side: dict[str, Executor] = {
        "shell": ShellExecutor(options.allow_shell, hidden_env, user),
        "http": HttpExecutor(options.http_per_host, rules, secrets),
        "sql": SqlExecutor(
            options.sql_database_url or database_url,
            options.sql_pool_size,
            options.sql_role,
            options.sql_allow_superuser,
            allowed=options.allow_sql,
            pool_mode=sql_pool_mode,
        ),
    }
    slots = asyncio.Semaphore(options.concurrency)
    gated = {kind: SideBySide(executor, slots) for kind, executor in side_by_side.items()}
    return python, {"python": python, **gated}


async def execute(executors: Mapping[str, Executor], attempt: Attempt) -> Outcome:
    """Run ``attempt`` in its kind's executor; one whose job row could not be read
    (``Attempt.refusal``) fails without running."""
    if attempt.refusal is not None:
        return Outcome.failed(attempt.refusal, retryable=False)
    return await executors[attempt.kind].execute(attempt)
