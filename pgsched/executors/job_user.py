"""Whom python and shell jobs run as: the worker's own user, or the one ``--run-as`` names.

A job runs with its process's OS rights. A worker running as root would hand root to
whoever writes ``pgsched.jobs``, so such a worker refuses to run code jobs unless the
operator names an unprivileged user for them (``--run-as``) or accepts it
(``--allow-root``).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any

from pgsched.errors import ConfigurationError


@dataclass(frozen=True)
class JobUser:
    """The OS user a root worker starts python and shell jobs as (``--run-as``)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @classmethod
    def named(cls, name: str) -> JobUser:
        """The user ``name`` (or a numeric uid), from the password database."""
        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except KeyError:
            raise ConfigurationError(f"--run-as {name}: no such user on this host") from None
        groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)

    def process_options(self) -> dict[str, Any]:
        """What ``subprocess`` needs to start a process as this user, groups included."""
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def environment(self, environment: dict[str, str]) -> dict[str, str]:
        """``environment`` as this user's processes should see it: their own home and name."""
        return {**environment, "HOME": self.home, "USER": self.name, "LOGNAME": self.name}


def job_user(run_as: str | None, allow_root: bool, runs_code: bool) -> JobUser | None:
    """Whom python and shell jobs run as: ``run_as``, or the worker's own user (None).

    A worker running as root refuses to run code jobs (``runs_code``) unless the
    operator names a user for them or accepts root (``allow_root``). Only root can
    start processes as another user.
    """
    if run_as is not None:
        user = JobUser.named(run_as)
        if os.geteuid() not in (0, user.uid):
            raise ConfigurationError(
                f"--run-as {run_as}: only a worker running as root can run jobs as another user"
            )
        return user
    if os.geteuid() == 0 and runs_code and not allow_root:
        raise ConfigurationError(
            "this worker runs as root, so its python and shell jobs would run as root: "
            "start it with --run-as USER to run them as an unprivileged user, or with "
            "--allow-root to accept that whoever writes pgsched.jobs owns this host"
        )
    return None
