"""The one "keep running despite errors" loop every worker loop is built on.

A step runs, says how long to wait before the next one (or None: the loop is
done), and the loop waits. A database error is expected (an outage, a restart):
it is logged as ``failed_event`` and the step is tried again after a jittered,
growing delay. Any other exception is a bug: it is logged with its traceback as
``crashed_event`` and retried the same way, so that one bug cannot stop the
cluster's work on this worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from pgsched.engine.backoff import Backoff
from pgsched.errors import DatabaseError

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[float | None]]


async def keep_running(
    step: Step,
    failed_event: str,
    crashed_event: str,
    *,
    max_retry_seconds: float | None = None,
    wait: Callable[[float], Awaitable[None]] = asyncio.sleep,
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``step`` until it returns None, ``stopped()`` is true, or the task is cancelled.

    ``wait`` sleeps between steps (a worker's wakeable sleep); retries after an
    error wait at most ``max_retry_seconds`` when given.
    """
    backoff = Backoff()
    while not stopped():
        try:
            delay = await step()
        except DatabaseError as exc:
            delay = _retry_delay(backoff, max_retry_seconds)
            log.warning(failed_event, error=str(exc), retry_in_s=round(delay, 2))
        except Exception:
            delay = _retry_delay(backoff, max_retry_seconds)
            log.exception(crashed_event, retry_in_s=round(delay, 2))
        else:
            backoff.reset()
            if delay is None:
                return
        await wait(delay)


def _retry_delay(backoff: Backoff, cap: float | None) -> float:
    delay = backoff.next_delay()
    return delay if cap is None else min(delay, cap)
