"""The dashboard in a real Chromium against a real server, database and worker:
sign in, see a failing job's error, toggle a job, run one now and watch its run
appear, a reader cannot toggle, the per-slot strip shows a skipped slot.

One browser and one server for the module; each test has its own browser context
(cookies) and its own jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pgsched.web import WebSettings
from tests.acceptance.conftest import Workers, add_job, wait_for, wait_until_registered
from tests.browser import chromium_path, served
from tests.conftest import scratch_database
from tests.web import new_token

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web_database(server_url: str, template_database: str) -> Iterator[str]:
    with scratch_database(server_url, template=template_database) as url:
        yield url


@pytest.fixture(scope="module")
def db(web_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(web_database, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def base_url(web_database: str) -> Iterator[str]:
    with served(WebSettings(database_url=web_database, token_cache_seconds=0.0)) as url:
        yield url


@pytest.fixture(scope="module")
def worker(web_database: str, db: psycopg.Connection[Any], tmp_path_factory: Any) -> Iterator[None]:
    workers = Workers(web_database, Path(tmp_path_factory.mktemp("web-worker")))
    workers.start("--allow-shell")
    wait_until_registered(db)
    yield
    workers.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def admin_token(web_database: str) -> str:
    return new_token(web_database, "admin", "browser-admin")


@pytest.fixture(scope="module")
def reader_token(web_database: str) -> str:
    return new_token(web_database, "reader", "browser-reader")


def signed_in(browser: Browser, base_url: str, token: str) -> Page:
    page = browser.new_context(base_url=base_url, timezone_id="UTC").new_page()
    page.goto("/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    return page


def test_sign_in_and_see_a_failing_jobs_error(
    browser: Browser, base_url: str, admin_token: str, db: psycopg.Connection[Any]
) -> None:
    job_id = add_job(db, "flaky-export", "echo", kind="shell", enabled=False)
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, started_at,"
        " finished_at, error) VALUES (%s, 'flaky-export', now() - interval '5 minutes',"
        " 'failed', now() - interval '5 minutes', now(), 'exit status 3: disk quota exceeded')",
        [job_id],
    )
    page = signed_in(browser, base_url, admin_token)
    page.get_by_role("link", name="Failed").click()
    expect(page.get_by_text("exit status 3: disk quota exceeded")).to_be_visible()
    page.get_by_role("link", name="flaky-export").first.click()
    expect(page.locator("#runs")).to_contain_text("disk quota exceeded")
    page.locator("#runs summary").first.click()
    expect(page.locator("#runs pre.error")).to_contain_text("exit status 3: disk quota exceeded")
    page.context.close()


def test_an_admin_toggles_a_job_from_the_jobs_page(
    browser: Browser, base_url: str, admin_token: str, db: psycopg.Connection[Any]
) -> None:
    add_job(db, "toggle-me", "echo", kind="shell", schedule="@daily")
    page = signed_in(browser, base_url, admin_token)
    switch = page.get_by_role("switch", name="Disable toggle-me")
    switch.click()
    expect(page.get_by_role("switch", name="Enable toggle-me")).to_have_attribute(
        "aria-checked", "false"
    )
    row = db.execute("SELECT enabled FROM pgsched.jobs WHERE name = 'toggle-me'").fetchone()
    assert row == (False,)
    page.context.close()


def test_run_now_and_watch_the_run_appear(
    browser: Browser,
    base_url: str,
    admin_token: str,
    db: psycopg.Connection[Any],
    worker: None,
) -> None:
    add_job(db, "on-demand", "true", kind="shell", schedule="@yearly")
    page = signed_in(browser, base_url, admin_token)
    page.goto("/jobs/on-demand")
    page.get_by_label("Refresh").select_option("2")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#job-note")).to_contain_text("Queued run")
    # The live refresh brings the worker's outcome in without a reload.
    expect(page.locator('#runs tr[data-status="succeeded"]')).to_have_count(1, timeout=20_000)
    page.context.close()


def test_a_reader_cannot_toggle(
    browser: Browser, base_url: str, reader_token: str, db: psycopg.Connection[Any]
) -> None:
    add_job(db, "read-only-view", "echo", kind="shell", schedule="@daily")
    page = signed_in(browser, base_url, reader_token)
    switch = page.get_by_role("switch", name="Disable read-only-view")
    expect(switch).to_be_disabled()
    expect(page.get_by_role("button", name="Run now").first).to_be_disabled()
    # And the server refuses what a page could still send.
    status = page.evaluate(
        """async () => {
            const form = new FormData();
            form.append('enabled', 'false');
            form.append('csrf_token', document.querySelector('[name=csrf_token]').value);
            const url = '/jobs/read-only-view/enabled';
            return (await fetch(url, {method: 'POST', body: form})).status;
        }"""
    )
    assert status == 403
    row = db.execute("SELECT enabled FROM pgsched.jobs WHERE name = 'read-only-view'").fetchone()
    assert row == (True,)
    page.context.close()


def test_the_slot_strip_shows_a_skipped_slot(
    browser: Browser, base_url: str, admin_token: str, db: psycopg.Connection[Any]
) -> None:
    job_id = add_job(db, "overlapping", "echo", kind="shell", schedule="@every 1h", enabled=False)
    for hours, status in [(3, "succeeded"), (2, "skipped"), (1, "succeeded")]:
        db.execute(
            "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, finished_at, error)"
            " VALUES (%s, 'overlapping', date_trunc('hour', now()) - make_interval(hours => %s),"
            " %s, now(), %s)",
            [job_id, hours, status, "skipped: still running" if status == "skipped" else None],
        )
    page = signed_in(browser, base_url, admin_token)
    page.goto("/jobs/overlapping")
    strip = page.locator("#slots svg.strip rect.slot")
    expect(strip).to_have_count(3)
    statuses = strip.evaluate_all("cells => cells.map(cell => cell.dataset.status)")
    assert statuses == ["succeeded", "skipped", "succeeded"]
    expect(page.locator("#slots svg.strip rect.skipped title")).to_contain_text("skipped")
    wait_for(lambda: page.locator("#slots-sql").count() == 1, what="the Show SQL box")
    page.locator("#slots-sql summary").click()
    expect(page.locator("#slots-sql pre")).to_contain_text("pgsched.job_slot_outcomes")
    page.context.close()
