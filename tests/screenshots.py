"""``python -m tests.screenshots [DIR]``: screenshots of the dashboard's main pages for
the docs (default ``docs/images``), taken in Chromium from a scratch database with a
few jobs and a day of runs. Needs a PostgreSQL server as the tests find one."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from playwright.sync_api import sync_playwright

from pgsched.db import migrations
from pgsched.web import WebSettings
from tests.browser import chromium_path, served
from tests.conftest import LOCAL_SERVER_URL, scratch_database
from tests.web import new_token

HISTORY = """
INSERT INTO pgsched.jobs (name, schedule, timezone, kind, target, description, queue)
VALUES ('nightly-report', '30 2 * * *', 'Europe/Berlin', 'python', 'myapp.reports:nightly',
        'Mails the daily figures', 'reports'),
       ('sync-crm', '*/15 * * * *', 'UTC', 'http', 'https://crm.internal/sync', NULL, 'default'),
       ('cleanup-sessions', '@every 1h', 'UTC', 'sql', 'DELETE FROM sessions WHERE expired', NULL,
        'default'),
       ('invoice-export', '0 6 * * 1-5', 'America/New_York', 'shell', 'bin/export-invoices',
        'Exports yesterday''s invoices', 'reports');
INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, trigger, started_at,
                          finished_at, duration_ms, error)
SELECT j.id, j.name, s.slot,
       CASE WHEN j.name = 'sync-crm' AND n % 7 = 0 THEN 'failed'
            WHEN j.name = 'cleanup-sessions' AND n % 11 = 0 THEN 'skipped'
            ELSE 'succeeded' END,
       'schedule', s.slot + interval '40 ms', s.slot + interval '1 s', 900 + n % 400,
       CASE WHEN j.name = 'sync-crm' AND n % 7 = 0 THEN 'HTTP 502 from crm.internal' END
  FROM pgsched.jobs AS j
 CROSS JOIN generate_series(1, 48) AS n
 CROSS JOIN LATERAL (SELECT date_trunc('hour', now()) - n * interval '1 hour'
                            + (j.id * 3) * interval '1 minute' AS slot) AS s;
INSERT INTO pgsched.workers (id, host, pid, concurrency) VALUES ('web-1:4242', 'web-1', 4242, 10);
"""
PAGES = (("overview", "/"), ("jobs", "/jobs"), ("job", "/jobs/sync-crm"), ("failed", "/failed"))


def main(directory: Path) -> None:
    """Take the screenshots into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    with scratch_database(LOCAL_SERVER_URL) as url:
        migrations.upgrade(url)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(HISTORY)
        token = new_token(url, "admin", "docs")
        with served(WebSettings(database_url=url)) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=["--no-sandbox"]
            )
            for theme in ("light", "dark"):
                context = browser.new_context(
                    base_url=base, viewport={"width": 1280, "height": 900}, color_scheme=theme
                )
                page = context.new_page()
                page.goto("/login")
                page.get_by_label("API token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                for name, path in PAGES:
                    if theme == "dark" and name != "overview":
                        continue
                    page.goto(path)
                    page.screenshot(path=directory / f"web-{name}-{theme}.png", full_page=True)
                context.close()
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
