"""What a python target may resolve to: code its allowed modules define, and only that."""

from __future__ import annotations

import importlib

import pytest

from pgsched.executors import python_target
from pgsched.executors.python_target import (
    NotRunnable,
    allowance_problem,
    lookup,
    remembered_allowance_problem,
)

MODULE = "tests.jobtargets.imports"
ALLOWED = ("tests.",)


def resolve(name: str) -> object:
    return lookup(importlib.import_module(MODULE), f"{MODULE}:{name}", ALLOWED)


@pytest.mark.parametrize("name", ["Defined", "Defined.greet", "Plain", "Record", "Pair"])
def test_functions_and_classes_built_by_the_module_itself_resolve(name: str) -> None:
    assert callable(resolve(name))


@pytest.mark.parametrize(
    ("name", "defined_in"),
    [
        # Defined here, but calling it runs Popen.__init__: a command line from args.
        ("Launcher", "__init__ is defined in module 'subprocess'"),
        # Defined here, but called through enum's metaclass.
        ("Level", "__call__ is defined in module 'enum'"),
        ("system", "defined in module 'posix'"),
        ("Popen", "defined in module 'subprocess'"),
        ("Popen.wait", "defined in module 'subprocess'"),
    ],
)
def test_what_runs_code_from_outside_the_allowed_modules_is_refused(
    name: str, defined_in: str
) -> None:
    with pytest.raises(NotRunnable, match="outside the allowed prefixes") as refused:
        resolve(name)
    assert defined_in in str(refused.value)


def test_long_targets_are_judged_but_not_remembered() -> None:
    # A job author writes targets of up to 65,536 characters: the worker answers each
    # but keeps none of that length (4,096 kept would be half a gigabyte).
    long_target = "app." + "m" * 65_000 + ":run"
    kept = python_target._remembered.cache_info().currsize
    problem = remembered_allowance_problem(long_target, ("other.",))
    assert problem == allowance_problem(long_target, ("other.",)) and problem is not None
    assert remembered_allowance_problem(long_target, ("app.",)) is None
    assert python_target._remembered.cache_info().currsize == kept
    remembered_allowance_problem("app.jobs:run", ("app.",))
    assert python_target._remembered.cache_info().currsize == kept + 1
