"""Jobs never see pgsched's own settings, nor the variables the operator hides."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pgsched.config import hidden_from_jobs, job_environment
from pgsched.executors.http import HttpExecutor
from pgsched.executors.http_request import SecretHosts
from pgsched.executors.python import PythonExecutor
from pgsched.executors.shell import ShellExecutor
from pgsched.models import Attempt, Outcome, RunStatus
from tests.attempts import make_attempt

DATABASE_SECRET = "postgresql://pgsched:s3cret-db-password@db:5432/app"
API_SECRET = "sk-live-0123456789"


@pytest.fixture(autouse=True)
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSCHED_DATABASE_URL", DATABASE_SECRET)
    monkeypatch.setenv("BILLING_API_TOKEN", API_SECRET)
    monkeypatch.setenv("APP_MODE", "production")


def test_pgsched_variables_and_operator_patterns_are_hidden() -> None:
    assert hidden_from_jobs("PGSCHED_DATABASE_URL")
    assert hidden_from_jobs("BILLING_API_TOKEN", ["*_TOKEN"])
    assert not hidden_from_jobs("BILLING_API_TOKEN")
    environment = job_environment(["*_TOKEN"])
    assert "PGSCHED_DATABASE_URL" not in environment
    assert "BILLING_API_TOKEN" not in environment
    assert environment["APP_MODE"] == "production"


def shell(target: str, hidden: tuple[str, ...] = (), **args: Any) -> Outcome:
    attempt = make_attempt("shell", target, args)
    return asyncio.run(ShellExecutor(True, hidden).execute(attempt))


def test_a_shell_job_printing_its_environment_shows_no_hidden_value() -> None:
    outcome = shell("env", hidden=("*_TOKEN",), env={"JOB_SETTING": "on"})
    assert outcome.status is RunStatus.SUCCEEDED
    output = outcome.output or ""
    assert "APP_MODE=production" in output and "JOB_SETTING=on" in output
    assert DATABASE_SECRET not in output and API_SECRET not in output


def python(function: str, hidden: tuple[str, ...] = (), **args: Any) -> Outcome:
    async def save(attempt: Attempt, value: Any) -> None:
        raise AssertionError("no checkpoint expected")

    async def once() -> Outcome:
        executor = PythonExecutor(("tests.jobtargets",), 1, save, hidden)
        await executor.start()
        try:
            attempt = make_attempt("python", f"tests.jobtargets.environment:{function}", args)
            return await executor.execute(attempt)
        finally:
            await executor.close()

    return asyncio.run(once())


@pytest.mark.parametrize(
    ("name", "seen"),
    [
        ("PGSCHED_DATABASE_URL", "<unset>"),
        ("BILLING_API_TOKEN", "<unset>"),
        ("APP_MODE", "production"),
    ],
)
def test_a_python_job_sees_only_what_is_not_hidden(name: str, seen: str) -> None:
    outcome = python("variable", hidden=("*_TOKEN",), name=name)
    assert outcome == Outcome.succeeded(f"return: {seen!r}")


def test_an_http_header_may_not_name_a_hidden_variable() -> None:
    attempt = make_attempt(
        "http",
        "http://127.0.0.1:9/never-called",
        {"headers": {"X-Database": "${env:PGSCHED_DATABASE_URL}"}},
    )

    async def once() -> Outcome:
        executor = HttpExecutor()
        try:
            return await executor.execute(attempt)
        finally:
            await executor.close()

    outcome = asyncio.run(once())
    assert outcome.status is RunStatus.FAILED and not outcome.retryable
    assert outcome.error is not None
    assert "PGSCHED_DATABASE_URL" in outcome.error and "does not give" in outcome.error
    assert DATABASE_SECRET not in outcome.error
    with pytest.raises(ValueError, match="pgsched's own setting"):
        SecretHosts.parse(["PGSCHED_DATABASE_URL=127.0.0.1"])
