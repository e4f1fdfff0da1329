"""Per-slot trace of held python slots, for ``python -m bench.lag_trace`` (bench only).

``python -m bench.lag_trace run`` puts this directory first on ``PYTHONPATH`` and sets
``BENCH_LAG_TRACE`` to a directory: every process of the run (its workers and their
python children inherit both) imports this file at start-up and, in a pgsched worker or
python child, ``trace_hooks`` wraps a few of pgsched's functions to write what they see
to ``$BENCH_LAG_TRACE/<pid>.jsonl``. pgsched itself holds no trace code.
"""

import os

if os.environ.get("BENCH_LAG_TRACE"):
    import trace_hooks  # type: ignore[import-not-found]  # on PYTHONPATH, not a package

    trace_hooks.install(os.environ["BENCH_LAG_TRACE"])
