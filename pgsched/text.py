"""Plain text for people: tables, counts with their noun, the first line of an error,
text safe for a terminal.

Shared by the commands, the catalog's checks, the demo, the worker's logs and the
benchmark, so that each says things the same way. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

ELLIPSIS = "…"
# The longest text a job author wrote (a target, a job's name as rendered) that the
# worker keeps between attempts to spare working it out again; longer ones are
# worked out each time, so what job authors write never grows what a worker keeps.
KEPT_TEXT_MAX = 256
# C0 and C1 controls but newline and tab, and the marks that reorder text on screen.
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (but newlines and tabs) escaped.

    What pgsched prints may hold what a job author wrote (a description, an error, a
    job's output): an escape sequence then shows as ``\\x1b[2J`` and never acts.
    """
    return UNPRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode(), text)


def counted(count: int, noun: str) -> str:
    """``1 job``, ``2 jobs``: a count with its noun, for messages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def first_line(error: str | BaseException | None, limit: int | None = None) -> str:
    """The first line of an error message ("" for none), cut to ``limit`` characters.

    An exception that says nothing is named by its type. Python jobs' errors carry
    their traceback below the first line, driver errors their context: one line is
    what fits in a table cell, a log event or a message.
    """
    if isinstance(error, BaseException):
        error = str(error).strip() or type(error).__name__
    text = error.strip().splitlines()[0] if error and error.strip() else ""
    return cut(text, limit)


def cut(text: str, limit: int | None) -> str:
    """``text``, or its first ``limit - 1`` characters and an ellipsis when longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Collection[int] = (),
    rule: bool = True,
) -> list[str]:
    """Lines of a plain-text table: columns padded to their widest cell, two spaces
    apart, no trailing blanks; columns numbered in ``right`` (counts) aligned right;
    a rule of dashes under the header unless ``rule`` is False."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    dashes = ["  ".join("-" * width for width in widths)] if rule else []
    return [line(header), *dashes, *(line(row) for row in rows)]
