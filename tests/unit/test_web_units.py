"""Pieces of `pgsched web` that need no database: schedules in words, signed session
cookies, SVG charts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from pgsched.scheduling.words import describe
from pgsched.web import sessions
from pgsched.web.charts import Layer, slot_strip, stacked_bars
from pgsched.web.settings import is_loopback_host


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/5 * * * *", "every 5 minutes"),
        ("0 3 * * *", "at 03:00 every day"),
        ("0 9 * * 1-5", "at 09:00, Monday through Friday"),
        ("0 8,12,18 * * mon-fri", "at 08:00, 12:00, 18:00, Monday through Friday"),
        ("@every 30s", "every 30 seconds"),
        ("@every 1h30m", "every 1 hour 30 minutes"),
        ("@daily", "at 00:00 every day"),
        ("@hourly", "at minute 0 of every hour"),
        ("0 0 13 * 5", "at 00:00, on Friday or on day 13 of the month"),
        ("0 0 1 1 *", "at 00:00, on day 1 of the month, in January"),
        ("*/10 * * * * *", "every 10 seconds"),
    ],
)
def test_a_schedule_reads_in_words(expression: str, words: str) -> None:
    assert describe(expression) == words


def test_a_schedule_without_words_is_shown_as_written() -> None:
    assert describe("not a schedule") == "not a schedule"
    assert describe("@every soon") == "@every soon"


def test_a_session_cookie_round_trips_and_a_changed_or_foreign_one_is_refused() -> None:
    secret = b"s" * 32
    session = sessions.Session.start(b"\x01" * 32, hours=1)
    value = sessions.encode(session, secret)
    assert sessions.decode(value, secret) == session
    signature = value.split(".")[1]
    forged = sessions.Session("02" * 32, session.csrf, session.expires_at)
    forged_payload = sessions.encode(forged, b"other secret").split(".")[0]
    assert sessions.decode(f"{forged_payload}.{signature}", secret) is None
    assert sessions.decode(value, b"another secret") is None
    assert sessions.decode("garbage", secret) is None
    expired = sessions.Session(None, "x", time.time() - 1)
    assert sessions.decode(sessions.encode(expired, secret), secret) is None
    assert sessions.csrf_matches(session, session.csrf)
    assert not sessions.csrf_matches(session, "nope") and not sessions.csrf_matches(None, "x")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("[::1]", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("::", False),
        ("example.com", False),
        ("10.0.0.1", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_a_stacked_bar_chart_draws_each_layer_and_titles_each_bar() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    buckets = [
        {"bucket": start, "succeeded": 3, "failed": 1},
        {"bucket": start + timedelta(hours=1), "succeeded": 0, "failed": 0},
    ]
    svg = stacked_bars(
        buckets,
        (Layer("succeeded", "ok", "ok"), Layer("failed", "failed", "bad")),
        lambda at: at.strftime("%H:%M"),
        time_key="bucket",
        title="<outcomes>",
    )
    assert svg.count('class="ok"') == 1 and svg.count('class="bad"') == 1
    assert "00:00: ok 3, failed 1" in svg and "&lt;outcomes&gt;" in svg


def test_a_slot_strip_draws_the_newest_slot_on_the_right() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slots = [
        {"scheduled_for": now, "status": "missed", "attempts": 0},
        {"scheduled_for": now - timedelta(hours=1), "status": "skipped", "attempts": 1},
        {
            "scheduled_for": now - timedelta(hours=2),
            "status": "failed",
            "attempts": 3,
            "error": "<boom>",
        },
    ]
    svg = slot_strip(slots, lambda at: at.strftime("%H:%M"), title="slots")
    order = [svg.index(f'data-status="{status}"') for status in ("failed", "skipped", "missed")]
    assert order == sorted(order)
    assert "failed after 3 attempts: &lt;boom&gt;" in svg
