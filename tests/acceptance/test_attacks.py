"""Each attack of issue 11, performed as the one who would try it, against real workers.

The attacker holds a login with pgsched_admin (they may write ``pgsched.jobs``), or a
login with no pgsched rights at all. The operator's flags and roles decide how far a
job reaches; every test asserts the attempt was refused with a clear error and that
nothing it asked for happened. docs/security.md lists which test proves which boundary.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from click.testing import CliRunner

from pgsched.cli import cli
from tests.acceptance.conftest import Workers, scalar, wait_for, wait_until_registered
from tests.jobtargets.attacks import FORGED
from tests.logins import new_login, user_of

pytestmark = pytest.mark.slow

Connection = psycopg.Connection[Any]
NEVER = "0 0 1 1 *"
# Deeper than Python's decoder can follow.
TOO_DEEP = 3000


@pytest.fixture
def admin_url(db: Connection, database_url: str) -> Iterator[str]:
    """The attacker: a login that may write pgsched.jobs and nothing more."""
    with new_login(db, database_url, "pgsched_admin") as url:
        yield url


@pytest.fixture
def admin(admin_url: str) -> Iterator[Connection]:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def server_writable() -> Iterator[Path]:
    """A directory the database server's OS user may write to: where a program the
    server ran would leave its mark (pytest's own directories are private to us)."""
    path = Path(tempfile.mkdtemp(prefix="pgsched-attack-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def add_job(
    connection: Connection, name: str, kind: str, target: str, queue: str = "default", **args: Any
) -> None:
    connection.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, args, queue)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [name, NEVER, kind, target, json.dumps(args), queue],
    )


def add_old_rows(db: Connection, rows: list[tuple[str, str, str, Any]]) -> None:
    """Rows written past the checks (as before this release, or with triggers off)."""
    with db.transaction():
        db.execute("SET LOCAL session_replication_role = replica")
        for name, kind, target, args in rows:
            db.execute(
                "INSERT INTO pgsched.jobs (name, schedule, kind, target, args)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)",
                [name, NEVER, kind, target, args if isinstance(args, str) else json.dumps(args)],
            )


def run_and_wait(
    runner: Connection, db: Connection, names: list[str]
) -> dict[str, tuple[str, str | None, str | None]]:
    """Run ``names`` now (as ``runner``) and wait until each run is recorded."""
    wait_until_registered(db)
    for name in names:
        runner.execute("SELECT pgsched.run_now(%s)", [name])
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pgsched.runs WHERE job_name = ANY(%s)"
                " AND status NOT IN ('pending', 'running')",
                [names],
            )
            >= len(names)
        ),
        what=f"runs of {names} recorded",
    )
    return {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT job_name, status, error, output FROM pgsched.runs WHERE job_name = ANY(%s)",
            [names],
        )
    }


def refused_insert(connection: Connection, name: str, kind: str, target: str, **args: Any) -> str:
    """The database's refusal of a job row: its message."""
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        add_job(connection, name, kind, target, **args)
    return refused.value.diag.message_primary or ""


# -- 1. sql jobs never run on a session that can reach superuser ---------------------


def test_an_sql_job_cannot_reset_its_role_to_a_superuser_login(
    workers: Workers, db: Connection, admin: Connection, admin_url: str, server_writable: Path
) -> None:
    marker = server_writable / "server-program-ran"
    role = f"pgsched_jobs_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {role} NOLOGIN")
    escalate = (
        f"RESET ROLE; ALTER ROLE {user_of(admin_url)} SUPERUSER; "
        f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'"
    )
    add_job(admin, "escalate", "sql", escalate)
    try:
        # As the refusal on today's main suggested: the worker's superuser login, --sql-role.
        workers.start("--allow-sql", "--sql-role", role)
        recorded = run_and_wait(admin, db, ["escalate"])
        assert workers.stop_all() == [0]
    finally:
        db.execute(f"DROP ROLE {role}")
    status, error, _ = recorded["escalate"]
    assert status == "failed"
    assert "RESET ROLE" in (error or "") and "--sql-database-url" in (error or "")
    assert not marker.exists()
    assert not scalar(db, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [user_of(admin_url)])


def test_an_sql_login_that_could_become_a_superuser_or_run_programs_is_refused(
    workers: Workers, db: Connection, database_url: str, admin: Connection, server_writable: Path
) -> None:
    superuser = f"pgsched_super_{secrets.token_hex(4)}"
    db.execute(f"CREATE ROLE {superuser} NOLOGIN SUPERUSER")
    markers = {queue: server_writable / f"ran-{queue}" for queue in ("member", "programs")}
    add_job(
        admin,
        "set-role-to-superuser",
        "sql",
        f"SET ROLE {superuser}; COPY (SELECT 1) TO PROGRAM 'touch {markers['member']}'",
        queue="member",
    )
    add_job(
        admin,
        "run-a-program",
        "sql",
        f"COPY (SELECT 1) TO PROGRAM 'touch {markers['programs']}'",
        queue="programs",
    )
    try:
        # NOINHERIT: the superuser role is reachable only through SET ROLE.
        with (
            new_login(db, database_url, superuser, attributes="NOINHERIT") as member,
            new_login(db, database_url, "pg_execute_server_program") as programs,
        ):
            for queue, url in (("member", member), ("programs", programs)):
                workers.start("--allow-sql", "--sql-database-url", url, "--queues", queue)
            recorded = run_and_wait(admin, db, ["set-role-to-superuser", "run-a-program"])
            assert workers.stop_all() == [0, 0]
    finally:
        db.execute(f"DROP ROLE {superuser}")
    for name, reach in (
        ("set-role-to-superuser", f"{superuser} (a superuser)"),
        ("run-a-program", "pg_execute_server_program"),
    ):
        status, error, _ = recorded[name]
        assert status == "failed" and reach in (error or ""), (name, error)
    assert not any(marker.exists() for marker in markers.values())


# -- 2. sql jobs never run on a login that owns pgsched's objects --------------------

REPLACE_TIMEZONE_ERROR = (
    "CREATE OR REPLACE FUNCTION pgsched.timezone_error(timezone text) RETURNS text"
    " LANGUAGE sql AS $$ SELECT NULL::text $$"
)
TIMEZONE_ERROR_SOURCE = (
    "SELECT md5(prosrc) FROM pg_proc WHERE oid = 'pgsched.timezone_error(text)'::regprocedure"
)


def test_an_sql_job_cannot_replace_a_function_on_a_login_that_owns_it(
    workers: Workers, db: Connection, database_url: str, admin: Connection
) -> None:
    source = scalar(db, TIMEZONE_ERROR_SOURCE)
    add_job(admin, "replace-as-owner", "sql", REPLACE_TIMEZONE_ERROR, queue="owner")
    add_job(admin, "replace-as-member", "sql", REPLACE_TIMEZONE_ERROR, queue="member")
    with new_login(db, database_url) as owner:
        owner_name = user_of(owner)
        db.execute(f"ALTER FUNCTION pgsched.timezone_error(text) OWNER TO {owner_name}")
        db.execute(f"GRANT USAGE, CREATE ON SCHEMA pgsched TO {owner_name}")
        try:
            with new_login(db, database_url, owner_name, attributes="NOINHERIT") as member:
                for queue, url in (("owner", owner), ("member", member)):
                    workers.start("--allow-sql", "--sql-database-url", url, "--queues", queue)
                recorded = run_and_wait(admin, db, ["replace-as-owner", "replace-as-member"])
                assert workers.stop_all() == [0, 0]
        finally:
            db.execute("ALTER FUNCTION pgsched.timezone_error(text) OWNER TO current_user")
            db.execute(f"REVOKE ALL ON SCHEMA pgsched FROM {owner_name}")
    for name in ("replace-as-owner", "replace-as-member"):
        status, error, _ = recorded[name]
        assert status == "failed", (name, error)
        assert "owns pgsched's objects" in (error or "") and "pgsched.timezone_error()" in (
            error or ""
        )
    assert scalar(db, TIMEZONE_ERROR_SOURCE) == source


# -- 3. python targets name what an allowed module defines, nothing it reaches -------

WALKING_TARGETS = {
    "through-an-import": "tests.jobtargets.imports:logging.os.system",
    "through-a-dunder": "tests.jobtargets.imports:__loader__.get_data",
}


def test_a_python_target_cannot_walk_out_of_the_allowed_modules(
    workers: Workers, db: Connection, admin: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "os-system-ran"
    for name, target in WALKING_TARGETS.items():
        assert "may not start with _" in refused_insert(admin, name, "python", target)
    # The same rows written before the rule existed, and a target that passes the
    # grammar but names something imported: the worker refuses them all.
    add_old_rows(
        db,
        [
            ("through-an-import", "python", WALKING_TARGETS["through-an-import"],
             {"command": f"touch {marker}"}),
            ("through-a-dunder", "python", WALKING_TARGETS["through-a-dunder"],
             {"path": "/etc/passwd"}),
            ("imported-function", "python", "tests.jobtargets.imports:system",
             {"command": f"touch {marker}"}),
            ("imported-class", "python", "tests.jobtargets.imports:Popen.wait", {}),
            ("own-method", "python", "tests.jobtargets.imports:Defined.greet", {}),
        ],
    )  # fmt: skip
    workers.start()  # --allow-python tests.
    names = [*WALKING_TARGETS, "imported-function", "imported-class", "own-method"]
    recorded = run_and_wait(db, db, names)
    assert workers.stop_all() == [0]
    assert recorded["own-method"] == ("succeeded", None, "return: 'hello from a method'")
    for name, problem in (
        ("through-an-import", "may not start with _"),
        ("through-a-dunder", "may not start with _"),
        ("imported-function", "defined in module 'posix', outside the allowed prefixes"),
        ("imported-class", "defined in module 'subprocess', outside the allowed prefixes"),
    ):
        status, error, output = recorded[name]
        assert status == "failed" and problem in (error or ""), (name, error)
        assert "root:" not in (output or "")
    assert not marker.exists()


# -- 4. one row cannot stop every worker; /healthz tells when claims stall -----------


def test_a_row_too_deep_to_read_fails_its_job_alone_and_healthz_sees_stalled_claims(
    workers: Workers, db: Connection, admin: Connection, admin_url: str
) -> None:
    deep = "[" * TOO_DEEP + "]" * TOO_DEEP
    with pytest.raises(psycopg.errors.CheckViolation, match=r"pgsched\.jobs\.args: nests deeper"):
        admin.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target, args)"
            " VALUES ('deep', '* * * * * *', 'python', 'tests.acceptance.jobs:noop', %s::jsonb)",
            [f'{{"a": {deep}}}'],
        )
    add_old_rows(db, [("deep", "python", "tests.acceptance.jobs:noop", f'{{"a": {deep}}}')])
    db.execute("UPDATE pgsched.jobs SET schedule = '* * * * * *' WHERE name = 'deep'")
    admin.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
        " VALUES ('canary', '* * * * * *', 'python', 'tests.acceptance.jobs:noop')"
    )
    add_job(admin, "deep-checkpoint", "python", "tests.jobtargets.attacks:save_deep_checkpoint",
            levels=40)  # fmt: skip
    workers.start("--metrics-port", "0")
    wait_until_registered(db)
    port = metrics_port(workers)

    canary_runs = "SELECT count(*) FROM pgsched.runs WHERE job_name = 'canary'"
    wait_for(lambda: scalar(db, canary_runs) >= 3, what="the canary firing beside the deep row")
    last_error = scalar(db, "SELECT last_error FROM pgsched.jobs WHERE name = 'deep'")
    assert "this job's row cannot be read: args" in last_error
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'deep'") == 0
    assert healthz(port) == (200, "ok")
    listed = CliRunner().invoke(cli, ["jobs", "list", "--database-url", admin_url])
    assert listed.exit_code == 0 and "canary" in listed.output, listed.output
    recorded = run_and_wait(admin, db, ["deep-checkpoint"])
    status, _, output = recorded["deep-checkpoint"]
    assert status == "succeeded"
    assert "refused: checkpoint not saved" in (output or "")
    assert "pgsched.jobs.checkpoint: nests deeper than 32 levels" in (output or "")

    # Claims that cannot complete (here: the jobs table locked) turn /healthz 503 within
    # the lease (5 s here), while the heartbeat still succeeds; it recovers after.
    with db.transaction():
        db.execute("LOCK TABLE pgsched.jobs IN ACCESS EXCLUSIVE MODE")
        wait_for(lambda: healthz(port)[0] == 503, timeout=20, what="/healthz turning 503")
        assert healthz(port)[1] == "no claim round completed within the lease"
    wait_for(lambda: healthz(port)[0] == 200, timeout=20, what="/healthz healthy again")
    assert workers.stop_all() == [0]


def metrics_port(workers: Workers) -> int:
    serving = wait_for(
        lambda: [event for event in log_events(workers) if event["event"] == "metrics_serving"],
        what="the metrics port",
    )
    assert serving[0]["host"] == "127.0.0.1"  # item 7: loopback unless told otherwise
    return int(serving[0]["port"])


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().strip()


def log_events(workers: Workers) -> list[dict[str, Any]]:
    return [json.loads(line) for line in workers.logs().splitlines() if line.startswith("{")]


# -- 5. a NOTIFY is a hint: only the database says an attempt was cancelled ----------


def test_a_notify_from_a_login_without_rights_stops_no_attempt(
    workers: Workers, db: Connection, database_url: str, admin: Connection, tmp_path: Path
) -> None:
    marker = tmp_path / "finished"
    add_job(admin, "long", "python", "tests.acceptance.jobs:sleep_then_touch",
            seconds=3, path=str(marker))  # fmt: skip
    workers.start()
    wait_until_registered(db)
    admin.execute("SELECT pgsched.run_now('long')")
    run_id = wait_for(
        lambda: scalar(db, "SELECT id FROM pgsched.runs WHERE status = 'running'"),
        what="the attempt running",
    )
    with new_login(db, database_url) as nobody, psycopg.connect(nobody, autocommit=True) as anyone:
        for _ in range(20):
            anyone.execute("SELECT pg_notify('pgsched_cancel', %s)", [f"{run_id},{run_id + 1}"])
            anyone.execute("SELECT pg_notify('pgsched_wakeup', 'x')")
        wait_for(marker.exists, what="the attempt to finish its work")
        wait_for(
            lambda: (
                scalar(db, "SELECT status FROM pgsched.runs WHERE id = %s", [run_id]) != "running"
            ),
            what="the attempt recorded",
        )
    assert workers.stop_all() == [0]
    assert db.execute(
        "SELECT status, error FROM pgsched.runs WHERE id = %s", [run_id]
    ).fetchone() == ("succeeded", None)
    assert scalar(db, "SELECT count(*) FROM pgsched.runs WHERE job_name = 'long'") == 1


# -- 6, 7. http jobs reach no internal address and send secrets only where named ------


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 and keeps each request's path and Authorization header."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"internal data")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def internal_server() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """An internal service on loopback: its port and the requests it saw."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.seen
    server.shutdown()
    server.server_close()


def test_http_jobs_reach_no_internal_address_and_send_secrets_only_where_named(
    workers: Workers,
    db: Connection,
    admin: Connection,
    internal_server: tuple[int, list[tuple[str, str]]],
) -> None:
    port, seen = internal_server
    token = f"tok-{secrets.token_hex(8)}"
    workers.start(
        "--metrics-port", "0", "--http-secret", "API_TOKEN=api.example.com",
        environment={"API_TOKEN": token},
    )  # fmt: skip
    metrics = metrics_port(workers)
    unreachable = {
        "metrics": f"http://127.0.0.1:{metrics}/metrics",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/",
        "metadata-ipv6": "http://[fd00:ec2::254]/latest/meta-data/",
        "metadata-name": "http://metadata.google.internal/computeMetadata/v1/",
        "hex-loopback": f"http://0x7f000001:{port}/hex",
        "decimal-loopback": f"http://2130706433:{port}/decimal",
        "mapped-loopback": f"http://[::ffff:127.0.0.1]:{port}/mapped",
        "localhost": f"http://localhost:{port}/name",
    }
    for name, url in unreachable.items():
        add_job(admin, name, "http", url)
    # With loopback allowed (a second worker, queue "inside"), a secret still goes
    # only to the hosts --http-secret names, and variables it does not name are never
    # read: set or not, the refusal reads the same.
    headers = {
        "secret-elsewhere": "Bearer ${env:API_TOKEN}",
        "unnamed-set": "Bearer ${env:HOME}",
        "unnamed-unset": "Bearer ${env:PGSCHED_TEST_NO_SUCH_VARIABLE}",
    }
    for name, value in headers.items():
        add_job(admin, name, "http", f"http://127.0.0.1:{port}/{name}", queue="inside",
                headers={"Authorization": value})  # fmt: skip
    workers.start(
        "--queues", "inside", "--http-allow", "127.0.0.1",
        "--http-secret", "API_TOKEN=api.example.com", environment={"API_TOKEN": token},
    )  # fmt: skip
    recorded = run_and_wait(admin, db, [*unreachable, *headers])
    assert workers.stop_all() == [0, 0]

    assert seen == []
    for name in unreachable:
        status, error, output = recorded[name]
        assert status == "failed" and "refused" in (error or ""), (name, error)
        assert output is None
    for name in ("metadata", "metadata-ipv6", "metadata-name"):
        assert "always refused" in (recorded[name][1] or ""), name
    assert "loopback" in (recorded["hex-loopback"][1] or "")
    assert "is not one of them" in (recorded["secret-elsewhere"][1] or "")
    unnamed = [recorded[name][1] or "" for name in ("unnamed-set", "unnamed-unset")]
    assert unnamed[0].replace("HOME", "X") == unnamed[1].replace(
        "PGSCHED_TEST_NO_SUCH_VARIABLE", "X"
    )
    assert token not in json.dumps(recorded) + workers.logs()


# -- 7. root, the worker's log, long errors, control characters, cron steps ----------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run jobs as another user")
def test_a_root_worker_runs_code_jobs_only_as_told(
    workers: Workers, db: Connection, admin: Connection
) -> None:
    refusing = workers.start("--allow-shell", allow_root=False)
    assert refusing.wait(timeout=30) == 1
    assert "--run-as USER" in workers.logs() and "--allow-root" in workers.logs()
    add_job(admin, "who", "shell", "id -u")
    workers.start("--allow-shell", "--run-as", "nobody", allow_root=False)
    recorded = run_and_wait(admin, db, ["who"])
    assert workers.stop_all() == [1, 0]
    assert recorded["who"] == ("succeeded", None, "65534\n")


def test_a_job_cannot_forge_the_workers_log_and_long_errors_are_cut(
    workers: Workers, db: Connection, admin: Connection
) -> None:
    add_job(admin, "forger", "python", "tests.jobtargets.attacks:forge_log_lines")
    long_target = "zz." + "a" * 30_000 + ":f"
    add_job(admin, "long-python", "python", long_target)
    add_job(admin, "long-header", "http", "http://example.com/",
            headers={"X " * 15_000: "value"})  # fmt: skip
    workers.start()
    recorded = run_and_wait(admin, db, ["forger", "long-python", "long-header"])
    assert workers.stop_all() == [0]
    assert recorded["forger"][0] == "succeeded"
    events = log_events(workers)
    assert len(events) == len(workers.logs().splitlines())  # every line is the worker's own
    assert FORGED["job_name"] not in {event.get("job_name") for event in events}
    echoed = [event for event in events if event["event"] == "python_child_output"]
    assert len(echoed) == 2 and all(json.loads(event["output"]) == FORGED for event in echoed)
    for name in ("long-python", "long-header"):
        status, error, _ = recorded[name]
        assert status == "failed" and len(error or "") < 16_100, (name, len(error or ""))


def test_the_cli_prints_no_control_character_a_job_author_wrote(
    db: Connection, admin: Connection, admin_url: str
) -> None:
    escape = "\x1b]0;owned\x07\x1b[2J\x9b31m"
    add_job(admin, "labelled", "sql", "SELECT 1")
    admin.execute(
        "UPDATE pgsched.jobs SET description = %s, category = %s", [escape, f"ops{escape}"]
    )
    db.execute(
        "INSERT INTO pgsched.runs (job_id, job_name, scheduled_for, status, error)"
        " SELECT id, name, now(), 'failed', %s FROM pgsched.jobs",
        [f"boom{escape}\nsecond line"],
    )
    for command in (
        ["jobs", "list"],
        ["jobs", "show", "labelled"],
        ["runs"],
        ["jobs", "history", "labelled"],
    ):
        result = CliRunner().invoke(cli, [*command, "--database-url", admin_url])
        assert result.exit_code == 0, (command, result.output)
        assert not any(character in result.output for character in "\x1b\x07\x9b"), command


def test_cron_steps_wider_than_their_field_are_refused(admin: Connection, admin_url: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="step 60 is larger than the field"):
        admin.execute(
            "INSERT INTO pgsched.jobs (name, schedule, kind, target)"
            " VALUES ('hourly?', '*/60 * * * *', 'sql', 'SELECT 1')"
        )
    added = CliRunner().invoke(
        cli,
        ["jobs", "add", "daily?", "0 */24 * * *", "sql", "SELECT 1", "--database-url", admin_url],
    )
    assert added.exit_code == 1 and "step 24 is larger than the field's range 0-23" in added.output


# -- 8. every change to a job is recorded with the login that made it -----------------


def test_every_change_to_a_job_is_recorded_with_the_login_that_made_it(
    db: Connection, database_url: str, admin: Connection, admin_url: str
) -> None:
    login = user_of(admin_url)
    admin.execute(
        "INSERT INTO pgsched.jobs (name, schedule, kind, target, modified_by)"
        " VALUES ('report', '@daily', 'sql', 'SELECT 1', 'someone-else')"
    )
    with admin.transaction():
        admin.execute("SET LOCAL pgsched.actor = 'token:ci'")
        admin.execute("UPDATE pgsched.jobs SET schedule = '@hourly', modified_by = 'nobody'")
    CliRunner().invoke(cli, ["jobs", "disable", "report", "--database-url", admin_url])
    admin.execute("SELECT pgsched.toggle_job('report', true, 'a forged name')")
    run_id = scalar(admin, "SELECT pgsched.run_now('report')")
    admin.execute("DELETE FROM pgsched.jobs WHERE name = 'report'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin.execute("UPDATE pgsched.job_changes SET changed_by = 'nobody'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin.execute("UPDATE pgsched.jobs SET next_run = now()")

    result = CliRunner().invoke(
        cli, ["jobs", "history", "report", "--json", "--database-url", admin_url]
    )
    assert result.exit_code == 0, result.output
    history = json.loads(result.output)
    assert [row["change"] for row in history] == [
        "insert", "update", "toggle", "toggle", "run_now", "delete",
    ]  # fmt: skip
    assert {row["changed_by"] for row in history} == {login}
    assert [row["actor"] for row in history] == [None, "token:ci", None, None, None, None]
    assert history[1]["old_values"] == {"schedule": "@daily"}
    assert history[1]["new_values"] == {"schedule": "@hourly"}
    assert history[4]["new_values"] == {"run_id": run_id}
    assert history[5]["old_values"]["target"] == "SELECT 1"
    with new_login(db, database_url, "pgsched_reader") as reader:
        refused = CliRunner().invoke(cli, ["jobs", "history", "report", "--database-url", reader])
        assert refused.exit_code == 1 and "permission denied" in refused.output
