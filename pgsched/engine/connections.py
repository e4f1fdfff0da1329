"""How a worker connects, once it knows whether a pooler stands in front of its database.

Decided once at start (``pgsched.engine.process``) and logged there: whether its
queries are prepared, where it listens for notifications, and how its sql jobs'
connections are judged. Without a place to listen (a transaction pooler and no
``--listen-database-url``) the worker polls: a pending attempt the poll finds due is
claimed at once (``ClaimPacer.idle_delay``), new jobs are scheduled within a tenth of
a second of the poll that finds them, and the side loop here checks every poll
interval that the attempts it runs are still its own; so ``run_now``, new jobs and
replaced attempts are each noticed within one poll interval instead of at once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from pgsched.db.pooling import PoolMode, keeps_sessions, prepares_statements
from pgsched.engine.heartbeat import Recovery
from pgsched.engine.listener import Listener
from pgsched.engine.options import WorkerOptions
from pgsched.engine.state import WorkerState

SideLoop = tuple[str, Callable[[], Coroutine[Any, Any, None]]]

log = structlog.get_logger("pgsched.engine.worker")


@dataclass(frozen=True)
class ConnectionPlan:
    """What a worker's connections may rely on, for its pool mode."""

    pool_mode: PoolMode
    prepare: bool
    # None: nowhere to LISTEN; the worker polls.
    listen_url: str | None
    poll_interval: float
    # A separate --sql-database-url is judged on its own when the executor connects.
    sql_pool_mode: PoolMode

    @classmethod
    def for_worker(cls, url: str, options: WorkerOptions, pool_mode: PoolMode) -> ConnectionPlan:
        """The plan for a worker on ``url``, which reaches PostgreSQL as ``pool_mode``
        (``auto`` decided): it listens on ``--listen-database-url`` if given, else on
        ``url`` when that keeps sessions."""
        listen_url = options.listen_database_url or (url if keeps_sessions(pool_mode) else None)
        return cls(
            pool_mode=pool_mode,
            prepare=prepares_statements(pool_mode, options.prepared_statements),
            listen_url=listen_url,
            poll_interval=options.poll_interval,
            sql_pool_mode=PoolMode.AUTO if options.sql_database_url else pool_mode,
        )

    def log_start(self) -> None:
        """Say once how the worker connects, and that it polls if it does."""
        log.info(
            "worker_connections",
            pool_mode=self.pool_mode.value,
            prepared_statements=self.prepare,
            listening=self.listen_url is not None,
        )
        if self.listen_url is None:
            log.info(
                "worker_poll_only",
                poll_interval_s=self.poll_interval,
                reason="transaction pooling and no --listen-database-url: new jobs, run_now "
                "and replaced attempts are noticed within one poll interval, not at once",
            )

    def notifications(self, state: WorkerState, recovery: Recovery) -> SideLoop:
        """The side loop that tells the worker of new work and of attempts taken from
        it: a listener, or without one the recovery's check every poll interval."""
        if self.listen_url is not None:
            return "listener", Listener(self.listen_url, state, recovery.check_hinted).run
        return "taken_away", lambda: recovery.watch_taken_away(self.poll_interval)
