"""Imports one python job target in a throwaway process, for ``pgsched validate``.

``python -m pgsched.registration.target_probe`` reads one JSON object on stdin:
``sys_path`` (the parent's), ``allowed`` (the ``--allow-python`` prefixes), ``target``
(``package.module:function``) and ``args_list`` (the args of each job naming that
target). It resolves the target exactly as the python executor does, then answers
with one JSON object on the stdout it started with: ``problem`` (why the target
cannot be called, or null) and ``args_problems`` (per entry of ``args_list``, why
those args do not fit the function, or null).

A module's import runs arbitrary code: it may print, hang or end the process. Its
output goes to stderr, and the parent bounds the wait and kills what is left.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from typing import Any

from pgsched.executors.python_child import bind_arguments, die_with_parent, load_target
from pgsched.executors.python_target import NotRunnable
from pgsched.text import first_line


def probe(target: str, allowed: list[str], args_list: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether ``target`` resolves to a callable ``allowed`` lets run, and whether each
    args binds to it."""
    try:
        _, signature = load_target(target, tuple(allowed))
    except NotRunnable as exc:
        return {"problem": first_line(exc), "args_problems": [None] * len(args_list)}
    return {
        "problem": None,
        "args_problems": [_args_problem(target, signature, args) for args in args_list],
    }


def _args_problem(
    target: str, signature: inspect.Signature | None, args: dict[str, Any]
) -> str | None:
    """Why calling the function with ``args`` would fail, as the executor binds them."""
    if signature is None:
        return None  # a builtin without a signature: only a call can tell
    try:
        bind_arguments(signature, target, args, lambda: None)
    except NotRunnable as exc:
        return str(exc)
    return None


def main() -> None:
    """Answer one request from stdin, keeping the module's own output off the answer."""
    die_with_parent()
    request = json.load(sys.stdin)
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    parent_path = request["sys_path"]
    sys.path[:] = parent_path + [entry for entry in sys.path if entry not in parent_path]
    answer = probe(request["target"], request["allowed"], request["args_list"])
    with os.fdopen(answer_fd, "w") as answer_file:
        json.dump(answer, answer_file)
    # Threads a module started must not keep the process (and the parent) waiting.
    os._exit(0)


if __name__ == "__main__":
    main()
