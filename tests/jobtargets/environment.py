"""Reports what a python job sees of the worker's environment."""

import os


def variable(name: str) -> str:
    return os.environ.get(name, "<unset>")


def listing() -> str:
    return "\n".join(f"{name}={value}" for name, value in sorted(os.environ.items()))
