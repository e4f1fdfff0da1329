"""Hooks of the per-slot lag trace (see ``sitecustomize``); records, one JSON per line:

- ``sent`` (worker): a held ticket written to a child: ``key``, ``run``, ``child``
  (pid), ``pos`` (its place in the child's queue), ``t`` (monotonic), ``start_at``,
  ``slot`` (``scheduled_for``, epoch seconds);
- ``wake`` (child): ``next_attempt`` returned ``key`` at ``t``, the child's CPU
  ``cpu`` (``process_time``) then, and whether it ``waited``;
- ``result`` (worker): the child's ``started`` and ``ended`` of ``key``, read at ``t``;
- ``began`` (child): the ``started`` (the job's call) of ``key`` it reports;
- ``stamp`` (worker): ``HoldClock.database_time(m)`` answered ``db`` (epoch seconds);
  ``off`` is the true offset (``time.time() - time.monotonic()``: the database runs on
  this host, on the same CLOCK_REALTIME);
- ``clock`` (worker): after each ``HoldClock.observe``, its lower and upper bound of
  the offset as of ``t``, the sample's own round trip ``rtt``, the true offset ``off``;
- ``claim`` (worker): a ``claim_due_jobs`` sent at ``t0`` and answered at ``t1`` (both
  monotonic), asking ``limit`` slots up to ``ahead`` seconds ahead, took ``n`` slots of
  the instants ``slots`` (epoch seconds);
- ``finish`` (worker): a batch of ``n`` outcomes written from ``t0`` to ``t1``;
- ``gc`` (worker): a garbage collection of generation ``n`` from ``t0`` to ``t1``.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import sys
import threading
import time
from typing import Any

_records: list[Any] = []
_path = ""


def _flush() -> None:
    # In place: the hooks hold _records.append.
    count = len(_records)
    taken = _records[:count]
    del _records[:count]
    if taken:
        with open(_path, "a") as out:
            out.write("".join(json.dumps(record) + "\n" for record in taken))


def _flusher() -> None:
    while True:
        time.sleep(1.0)
        _flush()


def install(directory: str) -> None:
    global _path
    # python -m X: argv[0] is the module's path once it runs; the module name is in
    # the original command line only.
    original = " ".join(getattr(sys, "orig_argv", sys.argv))
    child = "pgsched.executors.python_child" in original
    worker = "pgsched" in original and " worker" in original
    if not child and not worker:
        return
    os.makedirs(directory, exist_ok=True)
    _path = os.path.join(directory, f"{os.getpid()}.jsonl")
    atexit.register(_flush)
    threading.Thread(target=_flusher, daemon=True).start()
    if child:
        _hook_child()
    else:
        _hook_worker()


def _hook_child() -> None:
    from pgsched.executors.child_channel import ChildChannel

    next_attempt = ChildChannel.next_attempt
    now, cpu, add = time.monotonic, time.process_time, _records.append

    def traced(self: ChildChannel) -> Any:
        request = next_attempt(self)
        if request is not None:
            add(
                {
                    "e": "wake",
                    "key": request.ticket,
                    "t": now(),
                    "cpu": cpu(),
                    "waited": self.waited,
                }
            )
        return request

    ChildChannel.next_attempt = traced  # type: ignore[method-assign]

    # The child imports result_frame by name when it starts, after this: the job's
    # call instant, whatever way the worker reads results.
    from pgsched.executors import child_channel

    result_frame = child_channel.result_frame

    def traced_frame(result: dict[str, Any]) -> bytes:
        add({"e": "began", "key": result["ticket"], "started": result["started"]})
        return result_frame(result)

    child_channel.result_frame = traced_frame

    def terminated(signum: int, frame: Any) -> None:
        _flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, terminated)


def _hook_worker() -> None:
    from pgsched.engine.holding import HoldClock
    from pgsched.executors.python import PythonExecutor
    from pgsched.executors.python_pool import ChildPool

    now, add = time.monotonic, _records.append
    send = PythonExecutor._send
    collecting: list[float] = []

    def collected(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collecting[:] = [now()]
        elif collecting:
            add({"e": "gc", "t0": collecting[0], "t1": now(), "n": info["generation"]})

    gc.callbacks.append(collected)

    def traced_send(self: Any, child: Any, tickets: list[Any]) -> None:
        t = now()
        position = len(child.queued)
        for ticket in tickets:
            if ticket.abandoned or not ticket.start_at:
                continue
            add(
                {
                    "e": "sent",
                    "key": ticket.key,
                    "run": ticket.run_id,
                    "child": child.pid,
                    "pos": position,
                    "t": t,
                    "start_at": ticket.start_at,
                    "slot": ticket.attempt.scheduled_for.timestamp(),
                }
            )
            position += 1
        send(self, child, tickets)

    PythonExecutor._send = traced_send  # type: ignore[method-assign]

    on_result = ChildPool._on_result

    def traced_result(self: Any, child: Any, message: dict[str, Any]) -> None:
        add(
            {
                "e": "result",
                "key": message["ticket"],
                "child": child.pid,
                "started": message["started"],
                "ended": message["ended"],
                "t": now(),
            }
        )
        on_result(self, child, message)

    ChildPool._on_result = traced_result  # type: ignore[method-assign]

    database_time = HoldClock.database_time

    def traced_time(self: Any, monotonic: float, clock: Any) -> Any:
        answer = database_time(self, monotonic, clock)
        add({"e": "stamp", "m": monotonic, "db": answer.timestamp(), "off": time.time() - now()})
        return answer

    HoldClock.database_time = traced_time  # type: ignore[method-assign]

    observe = HoldClock.observe

    def traced_observe(self: Any, clock: Any) -> None:
        observe(self, clock)
        t = now()
        add(
            {
                "e": "clock",
                "t": t,
                "lower": self._kept(t),
                "upper": self._ceiling_kept(t),
                "rtt": clock.received - clock.sent,
                "off": time.time() - now(),
            }
        )

    HoldClock.observe = traced_observe  # type: ignore[method-assign]

    from pgsched.engine.claims import Claims

    claim_due_jobs = Claims.claim_due_jobs

    async def traced_claim(
        self: Any, worker_id: str, queues: Any, limit: int, plan: Any, ahead_seconds: float = 0.0
    ) -> Any:
        begun = now()
        result = await claim_due_jobs(self, worker_id, queues, limit, plan, ahead_seconds)
        instants = sorted({a.scheduled_for.timestamp() for a in result.attempts})
        add(
            {
                "e": "claim",
                "t0": begun,
                "t1": now(),
                "limit": limit,
                "ahead": ahead_seconds,
                "n": len(result.attempts),
                "slots": instants,
            }
        )
        return result

    Claims.claim_due_jobs = traced_claim  # type: ignore[method-assign]

    from pgsched.engine.finisher import Finisher

    record = Finisher._record

    async def traced_record(self: Any, batch: list[Any]) -> None:
        begun = now()
        await record(self, batch)
        add({"e": "finish", "t0": begun, "t1": now(), "n": len(batch)})

    Finisher._record = traced_record  # type: ignore[method-assign]

    from pgsched.engine.holding import Holds
    from pgsched.executors.child_pipes import Inbox

    call_all = Holds._call_all

    def traced_call_all(self: Any, at: float) -> None:
        begun, count = now(), len(self._calls.get(at, ()))
        call_all(self, at)
        add({"e": "instant", "at": at, "t0": begun, "t1": now(), "n": count})

    Holds._call_all = traced_call_all  # type: ignore[method-assign]

    data_received = Inbox.data_received

    def traced_data(self: Any, data: bytes) -> None:
        begun = now()
        data_received(self, data)
        add({"e": "read", "t0": begun, "t1": now(), "bytes": len(data)})

    Inbox.data_received = traced_data  # type: ignore[method-assign]
