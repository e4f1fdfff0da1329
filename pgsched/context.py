"""The run context a python job receives when it has a parameter named ``context``.

```python
def sync_orders(since: str, context: RunContext) -> None:
    start = context.checkpoint or since
    ...
    context.save_checkpoint(last_order_id)
```
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger


class RunContext:
    """What a python job knows about the attempt it runs as.

    ``checkpoint`` is the value the last attempt or run of this job saved (None when
    none did); ``logger`` writes to the job's output like ``print`` does, with the
    run's identity bound to every event.

    A job declared with ``shards = N`` runs each slot as N attempts side by side:
    ``shard`` (0..N-1) says which part of the work this one does, ``shards`` is N.
    Each shard has its own retries and its own checkpoint. Without shards they are
    0 and 1.
    """

    def __init__(
        self,
        *,
        job_name: str,
        run_id: int,
        scheduled_for: datetime,
        attempt: int,
        checkpoint: Any,
        save: Callable[[Any], None],
        shard: int = 0,
        shards: int = 1,
    ) -> None:
        self.job_name = job_name
        self.run_id = run_id
        self.scheduled_for = scheduled_for
        self.attempt = attempt
        self.checkpoint = checkpoint
        self.shard = shard
        self.shards = shards
        self.logger: FilteringBoundLogger = structlog.get_logger("pgsched.job").bind(
            job_name=job_name,
            run_id=run_id,
            attempt=attempt,
            scheduled_for=scheduled_for.isoformat(),
            **({"shard": shard} if shards > 1 else {}),
        )
        self._save = save

    def save_checkpoint(self, value: Any) -> None:
        """Store ``value`` as this job's checkpoint (this shard's, for a job with
        shards); it is durable once this returns.

        The next attempt or run (of this shard) sees it as ``context.checkpoint``. ``value`` must be
        JSON-serialisable (TypeError otherwise); RuntimeError means it was not stored.
        """
        try:
            # NaN and Infinity are not JSON and PostgreSQL's jsonb rejects them.
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a checkpoint must be JSON-serialisable: {exc}") from exc
        self._save(value)
        self.checkpoint = value
