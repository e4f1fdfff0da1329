"""What a python job's target may name, and which of it a worker will run.

One rule, here, for everything that reads a python target: the python executor and
its child process, ``pgsched validate`` and its probe, ``pgsched.Job``, and the
database, whose ``pgsched.python_target_error`` (the INSERT trigger's check) holds the
same pattern (``tests/integration/test_target_rules.py`` keeps the two identical).

A target is ``package.module:function`` or ``package.module:Class.method``. After the
colon come one or two plain names, none starting with an underscore, so a target
cannot walk from an allowed module through what it imported
(``myapp.tasks:logging.os.system``) or through dunder attributes
(``myapp.tasks:__loader__.get_data``). Once resolved, the object must itself come from
an allowed module (its ``__module__``): ``from os import system`` in ``myapp.tasks``
does not make ``myapp.tasks:system`` runnable. A class is judged by what calling it
runs: ``class Launcher(subprocess.Popen)`` in ``myapp.tasks`` is defined there, but
calling it runs ``Popen.__init__``, which would start whatever its args name; so the
constructor (``__new__``, ``__init__``, the metaclass's ``__call__``) must come from
an allowed module too, or be ``object``'s and ``type``'s own.

Light on purpose: the child process imports it before any job.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType
from typing import Any

from pgsched.text import KEPT_TEXT_MAX

PYTHON_TARGET = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$"
)
ANY_MODULE = "*"


class NotRunnable(Exception):
    """The target cannot be run as asked; a retry would fail the same way."""


def target_problem(target: str) -> str | None:
    """Why ``target`` is not a python target a worker would look up, or None."""
    # fullmatch: in Python, $ would also match before a trailing newline.
    if PYTHON_TARGET.fullmatch(target):
        return None
    return (
        f"python target {target!r} is not of the form package.module:function or "
        "package.module:Class.method (the names after the colon may not start with _)"
    )


def is_allowed(module: str, prefixes: Sequence[str]) -> bool:
    """Whether ``module`` falls under one of ``prefixes``; ``*`` allows every module.

    Prefixes match whole module names: ``myapp`` and ``myapp.`` allow ``myapp`` and
    ``myapp.jobs``, not ``myapplication``.
    """
    for prefix in prefixes:
        if prefix == ANY_MODULE:
            return True
        base = prefix.rstrip(".")
        # An empty prefix would otherwise allow the relative names ".x".
        if base and (module == base or module.startswith(base + ".")):
            return True
    return False


def allowance_problem(target: str, prefixes: Sequence[str]) -> str | None:
    """Why a worker allowing ``prefixes`` refuses ``target`` before importing it, or None."""
    problem = target_problem(target)
    if problem is not None:
        return problem
    if not is_allowed(target.partition(":")[0], prefixes):
        allowed = ", ".join(prefixes) or "none"
        return (
            f"python target {target!r} is not allowed on this worker (allowed prefixes: "
            f"{allowed}; start the worker with --allow-python PREFIX)"
        )
    return None


def remembered_allowance_problem(target: str, prefixes: tuple[str, ...]) -> str | None:
    """``allowance_problem``, remembered for short targets: the executor asks it for
    every attempt."""
    # A job author writes targets of up to 65,536 characters, and 4,096 of those (each
    # kept twice: the key, and the problem that quotes it) would be half a gigabyte of
    # their text in the worker.
    if len(target) > KEPT_TEXT_MAX:
        return allowance_problem(target, prefixes)
    return _remembered(target, prefixes)


@lru_cache(maxsize=4096)
def _remembered(target: str, prefixes: tuple[str, ...]) -> str | None:
    return allowance_problem(target, prefixes)


def lookup(module: ModuleType, target: str, prefixes: Sequence[str]) -> Any:
    """The callable ``target`` names in its imported ``module``, or ``NotRunnable``.

    ``target`` has passed ``allowance_problem``: at most ``Class.method`` deep, no
    underscore names. The object found must be defined under ``prefixes``.
    """
    module_name, _, attribute = target.partition(":")
    names = attribute.split(".")
    found: Any = module
    for depth, name in enumerate(names):
        if depth and not isinstance(found, type):
            raise NotRunnable(f"'{target}': {names[0]} is not a class, so it has no methods")
        try:
            found = getattr(found, name)
        except AttributeError:
            raise NotRunnable(f"module '{module_name}' has no attribute '{attribute}'") from None
    if not callable(found):
        raise NotRunnable(f"'{target}' is not callable")
    defined_in = getattr(found, "__module__", None)
    if not isinstance(defined_in, str) or not is_allowed(defined_in, prefixes):
        where = f"module '{defined_in}'" if isinstance(defined_in, str) else "no module"
        raise NotRunnable(
            f"'{target}' is defined in {where}, outside the allowed prefixes "
            f"({', '.join(prefixes)}): a job runs only what those modules define"
        )
    if isinstance(found, type):
        _check_constructor(found, target, prefixes)
    return found


def _check_constructor(cls: type, target: str, prefixes: Sequence[str]) -> None:
    """``NotRunnable`` unless calling ``cls`` runs only code of allowed modules (or
    ``type``'s and ``object``'s own construction)."""
    for ancestry, method, builtin in (
        (inspect.getmro(type(cls)), "__call__", type),
        (inspect.getmro(cls), "__new__", object),
        (inspect.getmro(cls), "__init__", object),
    ):
        owner = next(klass for klass in ancestry if method in vars(klass))
        if owner is builtin or is_allowed(owner.__module__, prefixes):
            continue
        raise NotRunnable(
            f"'{target}' is a class whose {method} is defined in module '{owner.__module__}' "
            f"({owner.__qualname__}), outside the allowed prefixes ({', '.join(prefixes)}): "
            "calling it would run that code"
        )
