"""Each job kind's rule for its target, as its executor enforces it, under one name.

``pgsched validate`` and ``pgsched.Job`` ask here, so they can never disagree with a
worker: each rule lives in its executor's module (the python grammar in
``python_target``, which the database's INSERT trigger mirrors). Imports are per
kind, so asking about one kind does not load the others' executors.
"""

from __future__ import annotations


def target_problem(kind: str, target: str) -> str | None:
    """Why a worker's ``kind`` executor would refuse ``target`` as written, or None."""
    if kind == "python":
        from pgsched.executors import python_target

        return python_target.target_problem(target)
    if kind == "shell":
        from pgsched.executors import shell

        return shell.target_problem(target)
    if kind == "http":
        from pgsched.executors import http_request

        return http_request.target_problem(target)
    if kind == "sql":
        from pgsched.executors import sql

        return sql.target_problem(target)
    return None
