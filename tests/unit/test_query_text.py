"""The text sent for each named SQL block: lean, named, and convertible once.

psycopg keeps the conversion of a query to PostgreSQL's form (``%(name)s`` to ``$1``)
only for texts up to ``MAX_CACHED_STATEMENT_LENGTH``; a longer one is converted again
at every execution. The claim's block was 7,000 characters with its comments.
"""

from __future__ import annotations

import re

from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from pgsched.db.queries import all_queries, query, sent_text
from pgsched.db.resources import sql_dir

DOLLAR_QUOTED = re.compile(r"\$(?P<tag>\w*)\$(?P<body>.*?)\$(?P=tag)\$", re.DOTALL)


def test_every_block_is_sent_short_enough_for_psycopg_to_keep_its_conversion() -> None:
    long = {name: len(text) for name, text in all_queries().items()}
    long = {name: size for name, size in long.items() if size > MAX_CACHED_STATEMENT_LENGTH}
    assert not long


def test_a_block_is_sent_named_without_its_whole_line_comments() -> None:
    text = query("claim_due_jobs")
    assert text.splitlines()[0] == "-- claim_due_jobs"
    assert not any(line.lstrip().startswith("--") for line in text.splitlines()[1:])
    assert "FOR NO KEY UPDATE SKIP LOCKED" in text


def test_comment_lines_go_and_code_stays() -> None:
    body = "\n-- why\nSELECT 1,\n    -- why not\n       '--x' AS y  -- kept\n  FROM t;\n"
    assert sent_text("b", body) == "-- b\nSELECT 1,\n       '--x' AS y  -- kept\n  FROM t"


def test_no_block_holds_a_string_literal_over_several_lines() -> None:
    """Where one did, a line of it starting with ``--`` would be dropped as a comment."""
    for name, text in all_queries().items():
        for line in text.splitlines():
            assert line.count("'") % 2 == 0, (name, line)


def test_no_comment_line_sits_where_dropping_it_changes_the_sql() -> None:
    """``sent_text`` drops lines starting with ``--``: inside a dollar-quoted body or
    a block comment, such a line is part of the text sent, so none may be there."""
    for path in sorted((sql_dir() / "queries").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        assert "/*" not in text, path.name
        for found in DOLLAR_QUOTED.finditer(text):
            lines = found.group("body").splitlines()
            assert not [line for line in lines if line.lstrip().startswith("--")], path.name
