"""One way to print: tables, counts and first lines, for commands, demo, logs and bench."""

from __future__ import annotations

import pytest

from pgsched.text import counted, first_line, table


def test_first_line_of_a_traceback_is_its_first_non_blank_line() -> None:
    assert first_line("\n  ValueError: bad\nTraceback (most recent call last):\n") == (
        "ValueError: bad"
    )


@pytest.mark.parametrize("nothing", [None, "", "  \n "])
def test_first_line_of_nothing_is_empty(nothing: str | None) -> None:
    assert first_line(nothing) == ""


def test_an_exception_that_says_nothing_is_named_by_its_type() -> None:
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(OSError("disk full\ncontext")) == "disk full"


def test_a_long_first_line_is_cut_with_an_ellipsis_within_the_limit() -> None:
    line = first_line("x" * 300, 200)
    assert len(line) == 200
    assert line.endswith("…")
    assert first_line("x" * 200, 200) == "x" * 200


def test_tables_pad_columns_align_counts_right_and_keep_no_trailing_blanks() -> None:
    lines = table(("job", "runs", "note"), [("a", "5", ""), ("long-name", "12", "late")], right={1})
    assert lines == [
        "job        runs  note",
        "---------  ----  ----",
        "a             5",
        "long-name    12  late",
    ]
    assert table(("a",), [("b",)], rule=False) == ["a", "b"]


def test_counts_carry_their_noun() -> None:
    assert [counted(n, "job") for n in (0, 1, 2)] == ["0 jobs", "1 job", "2 jobs"]
