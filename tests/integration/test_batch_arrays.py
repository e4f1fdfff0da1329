"""Batch columns sent as array literals read back on the server as the values sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg

from pgsched.engine.rows import array_literal
from pgsched.models import RunStatus, Trigger

Connection = psycopg.Connection[tuple[Any, ...]]

AWKWARD_TEXTS = [
    'a "quoted" word',
    "back\\slash and \\\\ two",
    "commas, {braces} and spaces ",
    "NULL",
    "",
    " ",
    "tab\tnewline\nend",
    "ünïcödé ✓ 文字",
    "}{",
    '\\"',
]


def read_back(db: Connection, values: list[Any], sql_type: str) -> list[Any]:
    row = db.execute(
        f"SELECT %(values)s::{sql_type}[]", {"values": array_literal(values)}
    ).fetchone()
    assert row is not None
    return list(row[0])


def test_texts_read_back_as_sent_whatever_characters_they_hold(db: Connection) -> None:
    values = [*AWKWARD_TEXTS, None]
    assert read_back(db, values, "text") == values


def test_numbers_booleans_and_nulls_read_back_exactly(db: Connection) -> None:
    assert read_back(db, [1, None, 9_007_199_254_740_993, -4], "bigint") == [
        1,
        None,
        9_007_199_254_740_993,
        -4,
    ]
    floats = [0.1, 1e-300, 123456.789012345, -0.0, float("inf"), None]
    assert read_back(db, floats, "float8") == floats
    assert read_back(db, [True, False, None], "boolean") == [True, False, None]


def test_instants_read_back_to_the_microsecond_whatever_their_offset(db: Connection) -> None:
    instants = [
        datetime(2026, 12, 2, 14, 23, 30, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
        None,
    ]
    assert read_back(db, instants, "timestamptz") == instants


def test_an_empty_batch_is_an_empty_array(db: Connection) -> None:
    assert read_back(db, [], "bigint") == []


def test_repeated_values_read_back_each_in_its_place(db: Connection) -> None:
    slot = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    same_instant_elsewhere = slot.astimezone(timezone(timedelta(hours=5, minutes=30)))
    instants = [slot, slot, None, same_instant_elsewhere, slot + timedelta(seconds=1), slot]
    assert read_back(db, instants, "timestamptz") == instants
    texts = ["default", "default", "a,b", None, "default", "a,b", "NULL", "default"]
    assert read_back(db, texts, "text") == texts
    assert read_back(db, [True, 1, True, 0, False, 1], "text") == ["t", "1", "t", "0", "f", "1"]


def test_columns_of_one_value_and_of_kept_values_read_back_as_sent(db: Connection) -> None:
    # A column of one value is converted once; ints and floats without NULL as the
    # list's text; texts, enum members and instants already kept through the memo.
    assert read_back(db, [None] * 3, "text") == [None] * 3
    assert read_back(db, ['a "b"'] * 3, "text") == ['a "b"'] * 3
    assert read_back(db, [7] * 3, "bigint") == [7] * 3
    assert read_back(db, [2.5] * 2, "float8") == [2.5] * 2
    assert read_back(db, [False] * 2, "boolean") == [False] * 2
    assert read_back(db, [3, -1, 2**62], "bigint") == [3, -1, 2**62]
    assert read_back(db, [0.1, float("inf"), 1e-300], "float8") == [0.1, float("inf"), 1e-300]
    assert read_back(db, [1, True, 0], "text") == ["1", "t", "0"]
    statuses = [RunStatus.RUNNING, RunStatus.SKIPPED, None, RunStatus.RUNNING]
    for _ in range(2):  # the second time every value is kept
        assert read_back(db, statuses, "text") == ["running", "skipped", None, "running"]
        assert read_back(db, [Trigger.RETRY] * 2, "text") == ["retry", "retry"]
        assert read_back(db, AWKWARD_TEXTS, "text") == AWKWARD_TEXTS
