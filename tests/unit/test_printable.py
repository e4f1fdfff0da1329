"""What the commands print cannot drive the terminal, whatever a job author wrote."""

from __future__ import annotations

import pytest

from pgsched.commands.output import print_rows
from pgsched.text import printable


def test_control_characters_are_escaped_and_newlines_kept() -> None:
    assert printable("a\x1b[2Jb\x07c\x9bd") == "a\\x1b[2Jb\\x07c\\x9bd"
    assert printable("line one\nline\ttwo") == "line one\nline\ttwo"
    assert printable("abc\u202edcba\r") == "abc\\u202edcba\\r"
    assert printable("ünïcode ✓") == "ünïcode ✓"


def test_tables_escape_cells_before_cutting_them(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows([{"description": "\x1b]0;owned\x07" + "x" * 100}], as_json=False)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07" in out
