"""The dashboard's pages, in-process: every page renders for a reader, each panel's
"Show SQL" runs as is in psql, live refresh answers 304 when nothing changed, the
edit form shows the database's refusal, "pause all filtered" pauses what the filter
selects, and times follow the chosen zone."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.commands import add_job
from tests.web import ORIGIN, csrf_of, new_token, sign_in, web_client

PAGES = ["/", "/?days=1", "/jobs", "/jobs/nightly", "/runs", "/failed", "/missed", "/workers"]


@pytest.fixture
def nightly(db: psycopg.Connection) -> int:
    job_id = add_job(
        db, "nightly", "0 3 * * *", timezone="Europe/Berlin", kind="shell", target="true"
    )
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, duration_ms, error) VALUES (%s, 'nightly', now() - interval '1 hour',"
        " 'failed', now() - interval '1 hour', now() - interval '59 minutes', 900, 'boom')",
        [job_id],
    )
    return job_id


@pytest.fixture
def reader(database_url: str, nightly: int) -> Iterator[TestClient]:
    with web_client(database_url) as client:
        sign_in(client, new_token(database_url, "reader", "viewer"))
        yield client


@pytest.fixture
def admin(database_url: str, nightly: int) -> Iterator[TestClient]:
    with web_client(database_url) as client:
        sign_in(client, new_token(database_url, "admin", "ops"))
        yield client


def shown_sql(page: str) -> list[str]:
    return [html.unescape(sql) for sql in re.findall(r"<pre><code>(.*?)</code></pre>", page, re.S)]


def test_every_page_renders_for_a_reader_with_the_sql_behind_each_panel(
    reader: TestClient,
) -> None:
    for path in PAGES:
        response = reader.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "<html" in response.text and "Show SQL" in response.text, path


def test_show_sql_pastes_into_psql_and_gives_what_the_page_shows(
    reader: TestClient, database_url: str
) -> None:
    statements = [sql for path in PAGES for sql in shown_sql(reader.get(path).text)]
    assert len(statements) >= 12
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET ROLE pgsched_reader")
        for statement in statements:
            for part in statement.split(";\n\n"):
                connection.execute(part.rstrip(";"))
    failed = shown_sql(reader.get("/failed").text)[0]
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(failed.rstrip(";")).fetchall()
    assert [row[1] for row in rows] == ["nightly"]


def test_on_a_primary_no_page_says_it_reads_a_replica(reader: TestClient) -> None:
    # The note is for a standby (tests/acceptance/test_web_on_a_replica.py); a primary's
    # lag is 0 and its pages stay quiet about it.
    for path in ("/", "/workers", "/missed"):
        page = reader.get(path).text
        assert "replica-lag" not in page and "behind the primary" not in page, path


def test_live_refresh_gets_the_region_alone_and_304_while_nothing_changed(
    reader: TestClient, db: psycopg.Connection
) -> None:
    partial = reader.get("/jobs", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "nightly" in partial.text
    etag = partial.headers["etag"]
    same = reader.get("/jobs", headers={"HX-Request": "true", "If-None-Match": etag})
    assert same.status_code == 304
    db.execute("UPDATE pgsched.jobs SET enabled = false WHERE name = 'nightly'")
    changed = reader.get("/jobs", headers={"HX-Request": "true", "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_edit_form_shows_the_databases_refusal_and_saves_what_it_accepts(
    admin: TestClient, db: psycopg.Connection
) -> None:
    page = admin.get("/jobs/nightly").text
    csrf = csrf_of(admin, "/jobs/nightly")
    fields = dict(re.findall(r'<input name="(\w+)" value="([^"]*)"', page))
    form = {**fields, "args": "{}", "csrf_token": csrf, "schedule": "0 25 * * *"}
    refused = admin.post("/jobs/nightly/edit", data=form, headers={"Origin": ORIGIN})
    assert refused.status_code == 422
    assert "The database refused the change to <strong>schedule</strong>" in refused.text
    assert 'name="schedule" value="0 25 * * *" aria-invalid="true"' in refused.text
    not_a_number = admin.post(
        "/jobs/nightly/edit",
        data={**form, "schedule": "0 4 * * *", "timeout_seconds": "soon"},
        headers={"Origin": ORIGIN},
    )
    assert (
        not_a_number.status_code == 422
        and "timeout_seconds must be a whole number" in not_a_number.text
    )
    saved = admin.post(
        "/jobs/nightly/edit",
        data={**form, "schedule": "0 4 * * *", "description": "Reports"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    row = db.execute("SELECT schedule, description FROM pgsched.jobs WHERE name = 'nightly'")
    assert row.fetchone() == ("0 4 * * *", "Reports")


def test_pause_all_filtered_pauses_every_job_the_filter_selects(
    admin: TestClient, db: psycopg.Connection
) -> None:
    for name in ("etl-a", "etl-b", "other"):
        add_job(db, name, queue="etl" if name.startswith("etl") else "default")
    csrf = csrf_of(admin, "/jobs?queue=etl")
    response = admin.post(
        "/jobs/pause",
        data={"queue": "etl", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/jobs?queue=etl"
    rows = db.execute("SELECT name, enabled FROM pgsched.jobs ORDER BY name").fetchall()
    assert rows == [("etl-a", False), ("etl-b", False), ("nightly", True), ("other", True)]


def test_run_now_from_a_page_queues_a_manual_run(admin: TestClient, db: psycopg.Connection) -> None:
    csrf = csrf_of(admin, "/jobs/nightly")
    response = admin.post(
        "/jobs/nightly/run",
        data={"csrf_token": csrf},
        headers={"Origin": ORIGIN, "HX-Request": "true"},
    )
    assert response.status_code == 202 and "Queued run" in response.text
    row = db.execute("SELECT count(*) FROM pgsched.runs WHERE trigger = 'manual'").fetchone()
    assert row == (1,)


def test_times_are_shown_in_the_chosen_zone(reader: TestClient, db: psycopg.Connection) -> None:
    db.execute("UPDATE pgsched.jobs SET next_run = '2030-01-01 12:00+00' WHERE name = 'nightly'")
    assert "2030-01-01 12:00" in reader.get("/jobs").text
    reader.cookies.set("pgsched_tz", "Asia/Tokyo")
    tokyo = reader.get("/jobs").text
    assert "2030-01-01 21:00" in tokyo and 'value="Asia/Tokyo" selected' in tokyo
    reader.cookies.set("pgsched_tz", "Not/AZone")
    assert "2030-01-01 12:00" in reader.get("/jobs").text


def test_job_names_with_slashes_and_markup_are_addressed_and_escaped(
    admin: TestClient, db: psycopg.Connection, database_url: str
) -> None:
    name = "etl/daily?<b>x</b>#1"
    add_job(db, name)
    jobs = admin.get("/jobs").text
    assert "<b>x</b>" not in jobs and "etl/daily?&lt;b&gt;x&lt;/b&gt;#1" in jobs
    link = "/jobs/etl%2Fdaily%3F%3Cb%3Ex%3C%2Fb%3E%231"
    assert f'href="http://testserver{link}"' in jobs
    assert admin.get(link).status_code == 200
    api = web_client(database_url)
    with api as client:
        token = {"Authorization": "Bearer " + new_token(database_url, "admin", "api")}
        assert client.get(f"/api/v1{link}", headers=token).json()["name"] == name
        assert client.post(f"/api/v1{link}/disable", headers=token).json()["enabled"] is False
        assert client.get(f"/api/v1{link}/runs", headers=token).json()["items"] == []


def test_mounted_in_a_host_application_links_and_redirects_stay_under_its_path(
    database_url: str, nightly: int
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from pgsched.web import WebSettings, create_app

    host = Starlette(
        routes=[Mount("/scheduler", create_app(WebSettings(database_url=database_url)))]
    )
    token = new_token(database_url, "reader", "viewer")
    # Starlette does not run a mounted application's lifespan: the pools open on demand.
    with TestClient(host) as client:
        login = client.get("/scheduler/jobs", follow_redirects=False)
        assert (
            login.headers["location"]
            == "http://testserver/scheduler/login?next=%2Fscheduler%2Fjobs"
        )
        signed_in = client.post(
            "/scheduler/login",
            data={"token": token, "next": "/scheduler/jobs"},
            headers={"Origin": ORIGIN},
            follow_redirects=False,
        )
        assert signed_in.headers["location"] == "/scheduler/jobs"
        assert "Path=/scheduler" in signed_in.headers["set-cookie"]
        page = client.get("/scheduler/jobs/nightly")
        assert page.status_code == 200
        assert 'href="http://testserver/scheduler/static/pgsched.css"' in page.text
        assert 'hx-get="/scheduler/jobs/nightly"' in page.text
