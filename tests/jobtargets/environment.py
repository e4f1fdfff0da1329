"""Reports what a python job sees of the worker's environment."""

import os


def variable(name: str) -> str:
    return os.environ.get(name, "<unset>")
