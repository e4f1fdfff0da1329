"""The python targets of the demo's jobs (``pgsched.demo.jobs:...``).

Workers import this module in their python child processes, so it stays small.
"""

from __future__ import annotations

import time

from pgsched.context import RunContext

# The flaky job fails its first attempts and succeeds on this one, so the demo
# shows failures, retries with backoff and a late success within a few seconds.
FLAKY_SUCCEEDS_ON_ATTEMPT = 3


def hello(context: RunContext) -> str:
    """Succeeds at once; its return value becomes the run's output."""
    return f"hello from {context.job_name}, slot {context.scheduled_for:%H:%M:%S}"


def flaky(context: RunContext) -> str:
    """Fails until attempt ``FLAKY_SUCCEEDS_ON_ATTEMPT``, like a service that needs a moment."""
    if context.attempt < FLAKY_SUCCEEDS_ON_ATTEMPT:
        raise ConnectionError(
            f"attempt {context.attempt} failed on purpose; "
            f"attempt {FLAKY_SUCCEEDS_ON_ATTEMPT} will succeed"
        )
    return f"succeeded on attempt {context.attempt}"


def slow(seconds: float) -> str:
    """Sleeps longer than its job's timeout allows, so the worker stops it."""
    time.sleep(seconds)
    return f"slept {seconds} s"
