"""A job module that imports what a job author would like to reach through it.

A worker allowing ``tests.`` runs what this module defines, and nothing it imported:
``imports:system`` is ``os.system``, ``imports:logging.os.system`` walks through an
import, ``imports:__loader__.get_data`` through a dunder attribute.
"""

import logging  # noqa: F401 - reachable as an attribute, which a target may not walk
from os import system  # noqa: F401 - defined in posix, not under an allowed prefix
from subprocess import Popen  # noqa: F401 - a class from elsewhere, with methods


class Defined:
    """A class of this module: its own methods may run."""

    @staticmethod
    def greet() -> str:
        return "hello from a method"
