"""Who may use `pgsched web`, and how: bearer tokens only for the API, signed
session cookies for the dashboard, CSRF and Origin checks, a trusted proxy header,
the local mode on loopback; and the database role each request runs as."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from pgsched.catalog.tokens import revoke_token
from pgsched.web import WebSettings
from pgsched.web.database import WebDatabase
from pgsched.web.principals import Principal
from tests.commands import add_job
from tests.web import ORIGIN, bearer, csrf_of, new_token, sign_in, web_client


def enabled(db: psycopg.Connection, name: str) -> bool:
    row = db.execute("SELECT enabled FROM pgsched.jobs WHERE name = %s", [name]).fetchone()
    assert row is not None
    return bool(row[0])


def test_a_reader_token_reads_but_is_refused_every_change(
    database_url: str, db: psycopg.Connection
) -> None:
    add_job(db, "guarded")
    reader = bearer(new_token(database_url, "reader", "grafana"))
    with web_client(database_url) as client:
        assert client.get("/api/v1/jobs/guarded", headers=reader).status_code == 200
        for method, path in [
            ("POST", "/api/v1/jobs/guarded/disable"),
            ("POST", "/api/v1/jobs/guarded/run"),
            ("PATCH", "/api/v1/jobs/guarded"),
            ("DELETE", "/api/v1/jobs/guarded"),
        ]:
            response = client.request(method, path, headers=reader, json={})
            assert response.status_code == 403, (method, path, response.text)
            assert "reader" in response.json()["detail"]
    assert enabled(db, "guarded")


def test_the_database_refuses_a_reader_even_where_a_route_check_is_missing(
    database_url: str, db: psycopg.Connection
) -> None:
    """Each request's transaction runs as pgsched_reader or pgsched_admin: a write
    that slipped past the routes still meets the database's refusal."""
    add_job(db, "guarded")
    database = WebDatabase(WebSettings(database_url=database_url))
    database.open()
    try:
        reader = Principal("grafana", "reader", "token")
        for write in (False, True):
            with (
                pytest.raises(psycopg.errors.InsufficientPrivilege),
                database.transaction(reader, write=write) as connection,
            ):
                connection.execute("SELECT pgsched.toggle_job('guarded', false)")
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege),
            database.transaction(reader, write=True) as connection,
        ):
            connection.execute("UPDATE pgsched.jobs SET enabled = false")
        admin = Principal("ci", "admin", "token")
        with database.transaction(admin, write=True) as connection:
            actor = connection.execute("SELECT current_setting('pgsched.actor') AS actor")
            assert actor.fetchone() == {"actor": "token:ci"}
        with database.transaction(admin, write=False) as connection:
            role = connection.execute("SELECT current_user AS role").fetchone()
            assert role == {"role": "pgsched_admin"}
            # A request reads a page: JIT compiling a plan costed for every job (tens
            # of ms, job_health's health filter at a million jobs) never pays there.
            jit = connection.execute("SELECT current_setting('jit') AS jit").fetchone()
            assert jit == {"jit": "off"}
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                connection.execute("SELECT pgsched.toggle_job('guarded', false)")
        with database.transaction(admin, write=True) as connection:
            connection.execute("SELECT pgsched.toggle_job('guarded', false)")
        # The role and the settings end with the transaction: the pooled connection
        # goes back as the login.
        with database.write_pool.connection() as connection:
            row = connection.execute(
                "SELECT current_user = session_user AS as_login,"
                " coalesce(current_setting('pgsched.actor', true), '') AS actor,"
                " current_setting('transaction_read_only') AS read_only,"
                " current_setting('jit') AS jit"
            ).fetchone()
            assert row == {"as_login": True, "actor": "", "read_only": "off", "jit": "on"}
    finally:
        database.close()
    assert not enabled(db, "guarded")


def test_tokens_are_accepted_only_as_bearer_headers(database_url: str) -> None:
    token = new_token(database_url, "admin", "ci")
    with web_client(database_url) as client:
        assert client.get("/api/v1/summary", headers=bearer(token)).status_code == 200
        in_url = client.get(f"/api/v1/summary?access_token={token}")
        assert in_url.status_code == 400 and in_url.json()["title"] == "Token in the URL"
        basic = client.get("/api/v1/summary", headers={"Authorization": f"Basic {token}"})
        assert basic.status_code == 401
        assert basic.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/api/v1/summary", headers=bearer("pgs_not-a-token"))
        assert wrong.status_code == 401
        sign_in(client, token)
        # The dashboard's session cookie is no key to the API.
        assert client.get("/api/v1/summary").status_code == 401


def test_a_revoked_or_expired_token_is_refused_and_ends_its_sessions(
    database_url: str, db: psycopg.Connection
) -> None:
    token = new_token(database_url, "admin", "leaving")
    with web_client(database_url) as client:
        sign_in(client, token)
        assert client.get("/").status_code == 200
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as connection:
            revoke_token(connection, "leaving")
        assert client.get("/api/v1/summary", headers=bearer(token)).status_code == 401
        assert client.get("/", follow_redirects=False).status_code == 303
    expired = new_token(database_url, "reader", "short-lived")
    db.execute("UPDATE pgsched.api_tokens SET expires_at = now() WHERE name = 'short-lived'")
    with web_client(database_url) as client:
        assert client.get("/api/v1/summary", headers=bearer(expired)).status_code == 401


def test_the_session_cookie_is_signed_httponly_and_samesite_strict(database_url: str) -> None:
    token = new_token(database_url, "reader", "viewer")
    with web_client(database_url) as client:
        response = client.post(
            "/login", data={"token": token}, headers={"Origin": ORIGIN}, follow_redirects=False
        )
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert token not in cookie
        value = client.cookies["pgsched_session"]
        client.cookies.set(
            "pgsched_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        )
        assert client.get("/", follow_redirects=False).status_code == 303
        refused = client.post("/login", data={"token": "pgs_wrong"}, headers={"Origin": ORIGIN})
        assert refused.status_code == 401 and "unknown, revoked or expired" in refused.text


def test_dashboard_changes_need_the_csrf_token_and_this_sites_origin(
    database_url: str, db: psycopg.Connection
) -> None:
    add_job(db, "guarded")
    token = new_token(database_url, "admin", "ops")
    with web_client(database_url) as client:
        sign_in(client, token)
        csrf = csrf_of(client, "/jobs")
        url = "/jobs/guarded/enabled"
        form = {"enabled": "false", "csrf_token": csrf}
        cross_site = client.post(url, data=form, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        no_origin = client.post(url, data=form)
        assert no_origin.status_code == 403
        no_token = client.post(url, data={"enabled": "false"}, headers={"Origin": ORIGIN})
        assert no_token.status_code == 403
        assert enabled(db, "guarded")
        done = client.post(url, data=form, headers={"Origin": ORIGIN}, follow_redirects=False)
        assert done.status_code == 303
        assert not enabled(db, "guarded")


def test_a_reader_session_sees_disabled_buttons_and_is_refused_on_the_server(
    database_url: str, db: psycopg.Connection
) -> None:
    add_job(db, "guarded")
    with web_client(database_url) as client:
        sign_in(client, new_token(database_url, "reader", "viewer"))
        page = client.get("/jobs").text
        assert 'aria-label="Disable guarded"' in page and "disabled title=" in page
        csrf = csrf_of(client, "/jobs")
        refused = client.post(
            "/jobs/guarded/enabled",
            data={"enabled": "false", "csrf_token": csrf},
            headers={"Origin": ORIGIN},
        )
        assert refused.status_code == 403
    assert enabled(db, "guarded")


def test_sign_in_goes_back_only_to_a_page_of_this_site(database_url: str) -> None:
    token = new_token(database_url, "reader", "viewer")
    with web_client(database_url) as client:
        for target, expected in [
            ("/jobs?queue=a", "/jobs?queue=a"),
            ("//evil.example", "/"),
            ("https://evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/\\evil.example", "/"),
        ]:
            response = client.post(
                "/login",
                data={"token": token, "next": target},
                headers={"Origin": ORIGIN},
                follow_redirects=False,
            )
            assert response.headers["location"] == expected


def test_a_trusted_proxy_header_signs_users_in_only_from_the_trusted_proxy(
    database_url: str,
) -> None:
    settings = {"trusted_header": "X-Forwarded-User", "trusted_header_admins": frozenset({"ann"})}
    with web_client(database_url, client_address="127.0.0.1", **settings) as client:
        page = client.get("/", headers={"X-Forwarded-User": "ann"})
        assert page.status_code == 200 and "ann · admin" in page.text
        bob = client.get("/jobs", headers={"X-Forwarded-User": "bob"})
        assert "bob · reader" in bob.text
        assert client.get("/", follow_redirects=False).status_code == 303
        api = client.get("/api/v1/summary", headers={"X-Forwarded-User": "bob"})
        assert api.status_code == 200
    with web_client(database_url, client_address="203.0.113.9", **settings) as client:
        forged = client.get("/", headers={"X-Forwarded-User": "ann"}, follow_redirects=False)
        assert forged.status_code == 303


def test_behind_a_trusted_proxy_the_browsers_host_and_scheme_count(
    database_url: str, db: psycopg.Connection
) -> None:
    """A proxy that rewrites Host passes the browser's in X-Forwarded-Host: the Origin
    check compares with that one, and the cookie is Secure when the browser used HTTPS."""
    add_job(db, "guarded")
    proxy = {
        "Host": "127.0.0.1:8080",
        "X-Forwarded-Host": "sched.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-User": "ann",
    }
    settings = {"trusted_header": "X-Forwarded-User", "trusted_header_role": "admin"}
    with web_client(database_url, client_address="127.0.0.1", **settings) as client:
        page = client.get("/jobs", headers=proxy)
        assert "Secure" in page.headers["set-cookie"]
        # The cookie is Secure: TestClient speaks http, so it is passed on by hand.
        cookie = page.headers["set-cookie"].split(";")[0]
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"enabled": "false", "csrf_token": csrf}
        accepted = client.post(
            "/jobs/guarded/enabled",
            data=form,
            follow_redirects=False,
            headers={**proxy, "Cookie": cookie, "Origin": "https://sched.example"},
        )
        assert accepted.status_code == 303, accepted.text
    assert not enabled(db, "guarded")


def test_without_authentication_only_loopback_requests_get_in_and_only_until_a_token_exists(
    database_url: str,
) -> None:
    with web_client(database_url, client_address="127.0.0.1", open_on_loopback=True) as client:
        local = client.get("/", headers={"Host": "127.0.0.1:8080"})
        assert local.status_code == 200 and "No authentication is set up" in local.text
        # A site that rebinds its own name to 127.0.0.1 is not this machine's user.
        rebound = client.get("/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert rebound.status_code == 303
        proxied = client.get(
            "/",
            headers={"Host": "127.0.0.1:8080", "X-Forwarded-For": "198.51.100.7"},
            follow_redirects=False,
        )
        assert proxied.status_code == 303
        cross_site = client.post(
            "/api/v1/jobs/x/run",
            headers={"Host": "127.0.0.1:8080", "Origin": "http://evil.example"},
        )
        assert cross_site.status_code == 403
        new_token(database_url, "admin", "first")
        after = client.get("/", headers={"Host": "127.0.0.1:8080"}, follow_redirects=False)
        assert after.status_code == 303
    with web_client(database_url, client_address="127.0.0.1") as client:
        mounted = client.get("/api/v1/summary", headers={"Host": "localhost"})
        assert mounted.status_code == 401


def test_pages_forbid_framing_inline_scripts_and_other_origins(database_url: str) -> None:
    with web_client(database_url) as client:
        sign_in(client, new_token(database_url, "reader", "viewer"))
        response = client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text and "cdn" not in response.text.lower()


def test_every_change_through_the_api_is_in_the_audit_trail_with_the_tokens_name(
    database_url: str, db: psycopg.Connection
) -> None:
    token = bearer(new_token(database_url, "admin", "ci-deploy"))
    body = {"name": "audited", "schedule": "@daily", "kind": "shell", "target": "true"}
    with web_client(database_url) as client:
        assert client.post("/api/v1/jobs", headers=token, json=body).status_code == 201
        assert client.patch("/api/v1/jobs/audited", headers=token, json={"timeout_seconds": 60})
        assert client.post("/api/v1/jobs/audited/disable", headers=token).status_code == 200
        assert client.post("/api/v1/jobs/audited/run", headers=token).status_code == 202
        assert client.delete("/api/v1/jobs/audited", headers=token).status_code == 204
    trail = db.execute(
        "SELECT change, actor FROM pgsched.job_changes WHERE job_name = 'audited' ORDER BY id"
    ).fetchall()
    assert trail == [
        (change, "token:ci-deploy")
        for change in ("insert", "update", "toggle", "run_now", "delete")
    ]
