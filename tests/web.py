"""Helpers for tests of ``pgsched web``: an application on a test database, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from pgsched.catalog.tokens import Role, create_token
from pgsched.web import WebSettings, create_app

# What TestClient sends as Host, so what a same-origin browser would send as Origin.
ORIGIN = "http://testserver"
# The responses that judge a worker alive or dead, or a job overdue, and the schema of each.
LIVENESS_RESPONSES = {
    "/api/v1/summary": "Summary",
    "/api/v1/workers": "Worker",
    "/api/v1/workers?all=true": "Worker",
    "/api/v1/runs/running": "RunningRun",
    "/api/v1/runs/missed": "MissedRun",
}


def new_token(database_url: str, role: Role, name: str) -> str:
    """Create an API token on the test database; the token itself."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
        return create_token(connection, name, role).token


def bearer(token: str) -> dict[str, str]:
    """The header that authenticates an API request."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def web_client(
    database_url: str, client_address: str = "testclient", **settings: Any
) -> Iterator[TestClient]:
    """The application on ``database_url``, its lifespan running; tokens are cached
    for no time, so a test sees a revocation at once."""
    settings.setdefault("token_cache_seconds", 0.0)
    app = create_app(WebSettings(database_url=database_url, **settings))
    with TestClient(app, client=(client_address, 50000)) as client:
        yield client


def sign_in(client: TestClient, token: str) -> None:
    """Sign the client's cookie jar in to the dashboard."""
    response = client.post(
        "/login",
        data={"token": token, "next": "/"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(client: TestClient, page: str = "/") -> str:
    """The CSRF token a page's forms carry."""
    html = client.get(page).text
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def liveness_rows(client: TestClient, headers: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each liveness response's rows (the summary as one), with its HTTP status checked."""
    rows = {}
    for path in LIVENESS_RESPONSES:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        rows[path] = body if isinstance(body, list) else [body]
    return rows
