"""The catalog: what commands, the demo, registration and the web app ask of the database.

One module per area, each a set of typed functions over the named SQL blocks of
``sql/queries/`` (the worker's own hot path is ``pgsched.engine.repository``):

- ``sessions``: which database a command's reads and writes go to, and the session.
- ``jobs``: list, show, insert, change, enable, run now and remove jobs.
- ``runs``: run history, a job's stats and timeline, a manual run's outcome.
- ``workers``: the workers table as the ``workers`` command shows it.
- ``maintenance``: cleanup, reaping lost runs, the rows ``validate`` checks.
- ``health``: ``doctor``'s checks, their facts and their rules.
- ``demo``: the reads and writes of ``pgsched demo``.
- ``tokens``: the API tokens of ``pgsched web``: create, list, revoke, look up.
- ``dashboard``: what the web app's pages and API read, with the SQL behind each.
- ``definitions``: job definitions the database validates (the HTTP API, the edit
  form), idempotent manual runs.
- ``requests``: the first statement of each web request's transaction (its role).

Every function takes an open dict-row connection and returns plain values,
``TypedDict`` rows or frozen dataclasses; none commits on its own beyond what the
connection's mode does, so a caller may run several inside one transaction (the
web app does, after ``SET LOCAL ROLE``). Functions that must hold a lock across
statements open a transaction (a savepoint inside the caller's).
"""
