"""Batch columns sent as array literals read back on the server as the values sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg

from pgsched.engine.rows import array_literal

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
