"""docker/: the image and the compose stack keep their contract with the CLI.

No Docker engine is needed: the files are read, and the commands they run are parsed
by the real click commands, so renaming a flag the image or stack uses fails here.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from pgsched.cli import cli

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = REPOSITORY / "docker" / "Dockerfile"
COMPOSE_FILE = REPOSITORY / "docker" / "compose.yaml"
DOCKERIGNORE = REPOSITORY / ".dockerignore"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services = compose["services"]
    assert name in services, f"compose.yaml has no service {name!r}"
    found = services[name]
    assert isinstance(found, dict)
    return found


def command_of(definition: dict[str, Any]) -> list[str]:
    command = definition["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def parse_pgsched(args: list[str]) -> click.Context:
    """Parse ``pgsched ARGS`` as the image's ENTRYPOINT would, without running it."""
    name, *rest = args
    command = cli.commands[name]
    return command.make_context(name, rest)


def seconds(duration: str) -> float:
    """A compose duration (``45s``, ``1m30s``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into build stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def instruction(stage: list[str], keyword: str) -> str:
    """The arguments of the last ``keyword`` instruction in ``stage`` (the one in force)."""
    found = [line.split(None, 1)[1] for line in stage if line.split()[0].upper() == keyword]
    assert found, f"the final stage has no {keyword}"
    return found[-1]


# --- the compose stack ------------------------------------------------------------


def test_postgres_has_a_named_volume_and_a_pg_isready_health_check(
    compose: dict[str, Any],
) -> None:
    postgres = service(compose, "postgres")
    assert postgres["image"].startswith("postgres:")
    volume_names = {str(mount).split(":", 1)[0] for mount in postgres["volumes"]}
    assert volume_names & set(compose["volumes"]), "postgres data is not on a named volume"
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_migrate_runs_once_after_postgres_is_healthy(compose: dict[str, Any]) -> None:
    migrate = service(compose, "migrate")
    assert command_of(migrate) == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"
    assert "replicas" not in migrate.get("deploy", {})
    parse_pgsched(command_of(migrate))


def test_three_workers_start_after_a_successful_migration(compose: dict[str, Any]) -> None:
    worker = service(compose, "worker")
    assert worker["deploy"]["replicas"] == 3
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "container_name" not in worker, "a fixed container name forbids replicas"


def test_every_service_of_pgsched_names_the_same_database(compose: dict[str, Any]) -> None:
    postgres = service(compose, "postgres")["environment"]
    for name in ("migrate", "worker", "web"):
        url = service(compose, name)["environment"]["PGSCHED_DATABASE_URL"]
        assert url == (
            f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
            f"@postgres:5432/{postgres['POSTGRES_DB']}"
        )


def test_worker_flags_exist_in_pgsched_worker_help(compose: dict[str, Any]) -> None:
    args = command_of(service(compose, "worker"))
    assert args[0] == "worker"
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0, result.output
    for flag in (arg.split("=", 1)[0] for arg in args[1:] if arg.startswith("--")):
        assert re.search(rf"(^|[\s,/]){re.escape(flag)}\b", result.output), (
            f"compose.yaml passes {flag}, which `pgsched worker --help` does not list"
        )
    parse_pgsched(args)  # the values parse too (types, ranges)


def test_web_serves_after_the_migration_on_the_hosts_loopback_only(
    compose: dict[str, Any],
) -> None:
    web = service(compose, "web")
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all(str(port).startswith("127.0.0.1:") for port in web["ports"])
    args = command_of(web)
    context = parse_pgsched(args)
    port = context.params["port"]
    assert [str(p).rsplit(":", 1)[1] for p in web["ports"]] == [str(port)]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(web["healthcheck"]["test"])
    assert web["environment"]["PGSCHED_WEB_SESSION_SECRET"]


def test_worker_gets_longer_to_stop_than_its_grace_period(compose: dict[str, Any]) -> None:
    worker = service(compose, "worker")
    options = parse_pgsched(command_of(worker)).params
    assert options["log_format"] == "json"
    assert seconds(worker["stop_grace_period"]) > options["grace_period"]


def test_worker_health_check_fetches_healthz_on_the_metrics_port(
    compose: dict[str, Any],
) -> None:
    worker = service(compose, "worker")
    port = parse_pgsched(command_of(worker)).params["metrics_port"]
    assert port == 9100
    test = worker["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "python", "slim images have no curl: the check uses Python's urllib"
    script = " ".join(test[2:])
    assert "urllib" in script
    assert f"http://127.0.0.1:{port}/healthz" in script


# --- the image --------------------------------------------------------------------


def test_image_is_multi_stage_on_python_3_11_or_newer() -> None:
    stages = [stage for stage in dockerfile_stages() if stage]
    froms = [stage[0] for stage in stages if stage[0].upper().startswith("FROM ")]
    assert len(froms) >= 2, "build the wheel in one stage, install it into a slim one"
    default_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert default_base, "the base image is the build argument PYTHON_IMAGE"
    version = re.fullmatch(r"python:3\.(\d+)-slim.*", default_base.group(1))
    assert version and int(version.group(1)) >= 11, default_base.group(1)


def test_image_runs_the_worker_as_a_non_root_user_and_stops_on_sigterm() -> None:
    final = dockerfile_stages()[-1]
    assert json.loads(instruction(final, "ENTRYPOINT")) == ["pgsched"]
    assert json.loads(instruction(final, "CMD")) == ["worker"]
    assert instruction(final, "STOPSIGNAL") == "SIGTERM"
    user = instruction(final, "USER")
    assert user.split(":")[0] not in {"root", "0"}
    env = " ".join(line for line in final if line.upper().startswith("ENV "))
    assert "PYTHONUNBUFFERED=1" in env
    parse_pgsched(json.loads(instruction(final, "CMD")))


def test_image_installs_no_embedded_server() -> None:
    text = DOCKERFILE.read_text()
    extras = re.search(r"^ARG PGSCHED_EXTRAS=(\S*)", text, re.MULTILINE)
    assert extras, "extras are chosen with the build argument PGSCHED_EXTRAS"
    assert "embedded" not in extras.group(1)
    installs = [line for stage in dockerfile_stages() for line in stage if "pip install" in line]
    assert installs and not any("embedded" in line for line in installs)


def test_image_extras_are_defined_by_the_package() -> None:
    import tomllib

    defined = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
    extras = re.search(r"^ARG PGSCHED_EXTRAS=(\S*)", DOCKERFILE.read_text(), re.MULTILINE)
    assert extras
    for extra in filter(None, extras.group(1).strip("\"'").split(",")):
        assert extra in defined, f"the Dockerfile installs pgsched[{extra}], not in pyproject"


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` and ``?`` stop at ``/``, ``**`` does not."""
    translated = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern.strip("/")):
        if token.startswith("[") and token.endswith("]"):
            translated += token  # a character class means the same in both
        else:
            translated += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)
            )
    return re.compile(translated)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context.

    A pattern matching a directory covers everything under it; the last matching
    pattern wins, and ``!`` lets a path back in.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        regex = dockerignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not pattern.startswith("!")
    return verdict


def test_build_context_holds_what_the_wheel_is_made_of_and_nothing_else() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml", "README.md"] + [
        str(path.relative_to(REPOSITORY))
        for top in ("pgsched", "alembic", "sql")
        for path in (REPOSITORY / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert [path for path in needed if ignored(path, patterns)] == []
    for unwanted in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/conftest.py",
        "bench/README.md",
        "pgsched/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignored(unwanted, patterns), unwanted
    copied = re.findall(r"^COPY (?!--from)(.+?) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    for source in (part for line in copied for part in line.split()):
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
