"""`pgsched tokens create|list|revoke`: tokens shown once, stored as digests."""

from __future__ import annotations

import hashlib
import json

import psycopg

from tests.commands import invoke, one_error_line


def test_a_token_is_printed_once_and_only_its_digest_is_stored(
    database_url: str, db: psycopg.Connection
) -> None:
    created = invoke(database_url, "tokens", "create", "--name", "ci", "--role", "admin")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("pgs_") and len(token) > 40
    assert "not shown again" in created.stderr
    row = db.execute("SELECT token_sha256, prefix, role FROM pgsched.api_tokens").fetchone()
    assert row == (hashlib.sha256(token.encode()).digest(), token[:10], "admin")
    listed = json.loads(invoke(database_url, "tokens", "list", "--json").output)
    assert [(t["name"], t["role"], t["state"]) for t in listed] == [("ci", "admin", "active")]
    assert token not in invoke(database_url, "tokens", "list").output


def test_a_name_is_taken_until_its_token_is_revoked(database_url: str) -> None:
    assert (
        invoke(database_url, "tokens", "create", "--name", "ci", "--role", "reader").exit_code == 0
    )
    taken = invoke(database_url, "tokens", "create", "--name", "ci", "--role", "admin")
    assert "a token named 'ci' exists" in one_error_line(taken)
    assert invoke(database_url, "tokens", "revoke", "ci").output == "revoked token 'ci'\n"
    assert "no active token named 'ci'" in one_error_line(
        invoke(database_url, "tokens", "revoke", "ci")
    )
    assert (
        invoke(database_url, "tokens", "create", "--name", "ci", "--role", "admin").exit_code == 0
    )
    everything = json.loads(invoke(database_url, "tokens", "list", "--all", "--json").output)
    assert sorted(t["state"] for t in everything) == ["active", "revoked"]


def test_expiry_is_a_duration_or_a_date_in_the_future(database_url: str) -> None:
    made = invoke(
        database_url, "tokens", "create", "--name", "a", "--role", "reader", "--expires", "90d"
    )
    assert made.exit_code == 0 and "valid until" in made.stderr
    past = invoke(
        database_url,
        "tokens",
        "create",
        "--name",
        "b",
        "--role",
        "reader",
        "--expires",
        "2001-01-01",
    )
    assert past.exit_code == 2 and "has passed already" in past.output
    odd = invoke(
        database_url, "tokens", "create", "--name", "c", "--role", "reader", "--expires", "soon"
    )
    assert odd.exit_code == 2 and "neither a duration" in odd.output
    role = invoke(database_url, "tokens", "create", "--name", "d", "--role", "root")
    assert role.exit_code == 2
