"""A job module that imports what a job author would like to reach through it.

A worker allowing ``tests.`` runs what this module defines, and nothing it imported:
``imports:system`` is ``os.system``, ``imports:logging.os.system`` walks through an
import, ``imports:__loader__.get_data`` through a dunder attribute, and
``imports:Launcher`` is defined here but constructed by ``subprocess.Popen``.
"""

import collections
import dataclasses
import enum
import logging  # noqa: F401 - reachable as an attribute, which a target may not walk
from os import system  # noqa: F401 - defined in posix, not under an allowed prefix
from subprocess import Popen  # a class from elsewhere, with methods


class Defined:
    """A class of this module: its own methods may run."""

    @staticmethod
    def greet() -> str:
        return "hello from a method"


class Launcher(Popen):  # type: ignore[type-arg]
    """A class of this module whose constructor is subprocess's: calling it would start
    whatever command line its args name."""


class Level(enum.Enum):
    """A class of this module that its metaclass, from enum, constructs."""

    LOW = 1


class Plain:
    """A class of this module with a constructor of its own: it may be called."""

    def __init__(self, name: str = "plain") -> None:
        self.name = name


@dataclasses.dataclass
class Record:
    """A dataclass of this module: its generated constructor is this module's."""

    name: str = "record"


Pair = collections.namedtuple("Pair", "left right")
