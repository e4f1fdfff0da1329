"""``pgsched demo``: example jobs of every kind, two workers and a live table.

Kept free of imports: the demo's python jobs live in ``pgsched.demo.jobs``, which
worker children import, and they should not pay for the demo's machinery.

- ``catalog``: the demo's jobs, one or more of each kind.
- ``jobs``: the python targets those jobs call.
- ``endpoint``: the tiny local HTTP server the http job calls.
- ``workers``: the two ``pgsched worker`` subprocesses.
- ``screen``: the live table and the final summary, as text.
- ``session``: the demo from start to clean stop; its reads and writes are
  ``pgsched.catalog.demo``.
"""
