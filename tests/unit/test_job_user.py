"""Whom python and shell jobs run as: a root worker asks the operator."""

from __future__ import annotations

import os

import pytest

from pgsched.errors import ConfigurationError
from pgsched.executors.job_user import JobUser, job_user


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


@pytest.mark.usefixtures("as_root")
def test_a_root_worker_refuses_code_jobs_unless_told() -> None:
    with pytest.raises(ConfigurationError, match=r"--run-as USER .* --allow-root"):
        job_user(None, allow_root=False, runs_code=True)
    assert job_user(None, allow_root=True, runs_code=True) is None
    # Without python or shell jobs there is nothing to run as root.
    assert job_user(None, allow_root=False, runs_code=False) is None


@pytest.mark.usefixtures("as_root")
def test_run_as_names_an_existing_user_and_its_groups() -> None:
    user = job_user("nobody", allow_root=False, runs_code=True)
    assert user is not None and user.name == "nobody" and user.uid == 65534
    assert user.gid in user.groups
    assert user.process_options()["user"] == 65534
    assert user.environment({"HOME": "/root", "PATH": "/bin"}) == {
        "HOME": user.home,
        "PATH": "/bin",
        "USER": "nobody",
        "LOGNAME": "nobody",
    }
    with pytest.raises(ConfigurationError, match="no such user"):
        JobUser.named("pgsched-no-such-user")


@pytest.mark.usefixtures("as_user")
def test_only_root_can_run_jobs_as_another_user() -> None:
    with pytest.raises(ConfigurationError, match="only a worker running as root"):
        job_user("nobody", allow_root=False, runs_code=True)
    assert job_user(None, allow_root=False, runs_code=True) is None
