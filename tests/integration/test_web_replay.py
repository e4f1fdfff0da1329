"""Replay from the HTTP API (POST /api/v1/runs/{id}/retry) and the dashboard's button."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.commands import add_job
from tests.integration.test_replay import add_run, slot_attempts
from tests.web import ORIGIN, bearer, csrf_of, new_token, sign_in, web_client

Connection = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with web_client(database_url) as client:
        yield client


def test_the_api_replays_a_failed_run_once_and_says_which_attempt_runs_it(
    client: TestClient, database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "failed")
    admin = bearer(new_token(database_url, "admin", "ops"))
    first = client.post(f"/api/v1/runs/{failed}/retry", headers=admin)
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["run_id"], body["queued"], body["attempt"], body["status"]) == (
        failed,
        True,
        2,
        "pending",
    )
    again = client.post(f"/api/v1/runs/{failed}/retry", headers=admin).json()
    assert (again["new_run_id"], again["queued"]) == (body["new_run_id"], False)
    assert slot_attempts(db, job_id) == [(1, "failed", "schedule"), (2, "pending", "manual")]
    actor = db.execute(
        "SELECT actor FROM pgsched.job_changes WHERE change = 'retry_run'"
    ).fetchall()
    assert actor == [("token:ops",)]


def test_the_api_refuses_readers_unknown_runs_and_unfinished_ones(
    client: TestClient, database_url: str, db: Connection
) -> None:
    running = add_run(db, add_job(db, "payments"), "running")
    admin = bearer(new_token(database_url, "admin", "ops"))
    reader = bearer(new_token(database_url, "reader", "grafana"))
    assert client.post(f"/api/v1/runs/{running}/retry", headers=reader).status_code == 403
    unknown = client.post("/api/v1/runs/987654/retry", headers=admin)
    assert unknown.status_code == 404 and "no run with id 987654" in unknown.json()["detail"]
    busy = client.post(f"/api/v1/runs/{running}/retry", headers=admin)
    assert busy.status_code == 409 and "not finished" in busy.json()["detail"]


def test_the_failed_page_replays_a_slot_with_the_sessions_csrf_token(
    client: TestClient, database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "payments")
    failed = add_run(db, job_id, "failed")
    sign_in(client, new_token(database_url, "admin", "ops"))
    csrf = csrf_of(client, "/failed")
    assert f'/runs/{failed}/retry"' in client.get("/failed").text
    refused = client.post(
        f"/runs/{failed}/retry", data={"csrf_token": "forged"}, headers={"Origin": ORIGIN}
    )
    assert refused.status_code == 403 and len(slot_attempts(db, job_id)) == 1
    response = client.post(
        f"/runs/{failed}/retry",
        data={"csrf_token": csrf},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303
    new_id = db.execute(
        "SELECT id FROM pgsched.runs WHERE job_id = %s AND attempt = 2", [job_id]
    ).fetchone()
    assert new_id is not None and response.headers["location"].endswith(f"/runs/{new_id[0]}")


def test_the_api_sets_and_shows_warn_after_seconds_and_refuses_a_bad_one(
    client: TestClient, database_url: str
) -> None:
    admin = bearer(new_token(database_url, "admin", "ops"))
    reader = bearer(new_token(database_url, "reader", "grafana"))
    job = {"name": "slow", "schedule": "@daily", "kind": "shell", "target": "true"}
    created = client.post("/api/v1/jobs", headers=admin, json={**job, "warn_after_seconds": 60})
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/jobs/slow", headers=reader).json()["warn_after_seconds"] == 60
    bad = client.patch("/api/v1/jobs/slow", headers=admin, json={"warn_after_seconds": 0})
    assert bad.status_code == 422 and bad.json()["column"] == "warn_after_seconds"
    cleared = client.patch("/api/v1/jobs/slow", headers=admin, json={"warn_after_seconds": None})
    assert cleared.status_code == 200 and cleared.json()["warn_after_seconds"] is None


def test_the_overview_marks_an_attempt_past_its_warning(
    client: TestClient, database_url: str, db: Connection
) -> None:
    job_id = add_job(db, "slow", warn_after_seconds=5)
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, claimed_at)"
        " VALUES (%s, 'slow', now(), 'running', now() - interval '10 seconds')",
        [job_id],
    )
    sign_in(client, new_token(database_url, "reader", "wall"))
    assert "past its warn_after_seconds (5 s)" in client.get("/").text
