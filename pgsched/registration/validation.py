"""``pgsched validate``: what would stop each job from running, found before it is due.

The checks repeat what a worker does with a job, so that they agree with it: the
schedule is parsed by ``pgsched.scheduling.schedule``; a python target is resolved by the
python executor's own loader, in a child process (``pgsched.registration.target_probe``) so that
a module that hangs or exits while imported cannot take the command with it; a
shell target is split with ``shlex`` as the shell executor does; an http target
must pass the http executor's URL rules. The args check is the database's own
(``pgsched.job_args_error``), read with the jobs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pgsched.config import job_environment
from pgsched.errors import ScheduleError, TimezoneError
from pgsched.executors.base import signal_group
from pgsched.executors.http import FORBIDDEN_CHARACTERS
from pgsched.executors.python import is_allowed
from pgsched.scheduling.schedule import load_zone, parse_schedule

PROBE_MODULE = "pgsched.registration.target_probe"
# The form the database accepts for a python target (jobs_before_write).
PYTHON_TARGET = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
)
# Imports probed at once; each is a process of its own.
MAX_PARALLEL_PROBES = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one job."""

    job: str
    problem: str


@dataclass(frozen=True)
class TargetReport:
    """What probing one python target found: its problem, and each job's args problem."""

    problem: str | None
    args_problems: tuple[str | None, ...]


def validate_jobs(
    jobs: Sequence[Mapping[str, Any]],
    allowed_prefixes: Sequence[str],
    import_timeout_seconds: float,
) -> list[Problem]:
    """The problems of ``jobs`` (rows of ``maintenance_jobs_to_validate``), job by job.

    ``allowed_prefixes`` are a worker's ``--allow-python`` prefixes: a python target
    outside them is reported and not imported. Without any, no target is imported
    (importing runs a module's code, and that is opt-in as on a worker): python
    targets are then checked for their form only.
    """
    found = {job["name"]: _static_problems(job, allowed_prefixes) for job in jobs}
    # One probe per target, however many jobs name it; each job's args are bound in it.
    by_target: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for job in jobs:
        target = job["target"]
        if (
            job["kind"] == "python"
            and allowed_prefixes
            and PYTHON_TARGET.fullmatch(target)
            and not _allowance_problem(target, allowed_prefixes)
        ):
            by_target[target].append(job)
    with ThreadPoolExecutor(MAX_PARALLEL_PROBES) as pool:
        pending = {
            target: pool.submit(
                probe_target, target, [job["args"] for job in group], import_timeout_seconds
            )
            for target, group in by_target.items()
        }
    for target, probing in pending.items():
        report = probing.result()
        for job, args_problem in zip(by_target[target], report.args_problems, strict=True):
            if report.problem:
                found[job["name"]].append(f"python target {target!r}: {report.problem}")
            elif args_problem:
                found[job["name"]].append(f"args: {args_problem}")
    return [Problem(name, problem) for name, problems in found.items() for problem in problems]


def _static_problems(job: Mapping[str, Any], allowed_prefixes: Sequence[str]) -> list[str]:
    """What can be told without importing anything."""
    python = job["kind"] == "python"
    problems = [
        _timezone_problem(job["timezone"]),
        _schedule_problem(job["schedule"], job["timezone"]),
        _target_problem(job["kind"], job["target"]),
        python and _allowance_problem(job["target"], allowed_prefixes),
        job["args_error"] and f"args: {job['args_error']}",
        job["last_error"] and f"a worker marked it invalid: {job['last_error']}",
    ]
    return [problem for problem in problems if problem]


def _allowance_problem(target: str, allowed_prefixes: Sequence[str]) -> str | None:
    """Why a worker started with ``allowed_prefixes`` would refuse ``target``."""
    if not allowed_prefixes or is_allowed(_module(target), allowed_prefixes):
        return None
    return (
        f"python target {target!r} is outside --allow-python {' '.join(allowed_prefixes)}: "
        "a worker with these prefixes refuses it (not imported)"
    )


def _timezone_problem(timezone: str) -> str | None:
    try:
        load_zone(timezone)
    except TimezoneError as exc:
        return str(exc)
    return None


def _schedule_problem(schedule: str, timezone: str) -> str | None:
    """Why ``schedule`` cannot fire; read in UTC when the job's zone is itself unknown."""
    try:
        parsed = parse_schedule(schedule, timezone)
    except TimezoneError:
        return _schedule_problem(schedule, "UTC")
    except ScheduleError as exc:
        return f"schedule {schedule!r}: {exc}"
    try:
        parsed.next_fire(datetime.now(UTC))
    except ScheduleError as exc:
        return f"schedule {schedule!r}: {exc}"
    return None


def _target_problem(kind: str, target: str) -> str | None:
    if kind == "python":
        if not PYTHON_TARGET.fullmatch(target):
            return f"python target {target!r} is not of the form package.module:function"
        return None
    if kind == "shell":
        return _shell_problem(target)
    if kind == "http":
        return _http_problem(target)
    return None


def _shell_problem(target: str) -> str | None:
    try:
        argv = shlex.split(target)
    except ValueError as exc:
        return f"shell target {target!r} cannot be split into a command line: {exc}"
    if not argv:
        return "shell target is an empty command line"
    return None


def _http_problem(target: str) -> str | None:
    """The http executor's rules for a URL, checked before any request."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"http target {target!r} is not an http:// or https:// URL with a host"
    if not target.isascii() or FORBIDDEN_CHARACTERS.search(target):
        return f"http target {target!r} has spaces, control or non-ASCII characters"
    if parts.username is not None or parts.password is not None:
        return "http target carries credentials in the URL: send them in a header instead"
    try:
        parts.port  # noqa: B018 - evaluated for the ValueError it raises on a bad port
    except ValueError:
        return f"http target {target!r} has an invalid port"
    return None


def probe_target(
    target: str, args_list: Sequence[Mapping[str, Any]], timeout_seconds: float
) -> TargetReport:
    """Resolve ``target`` in a child process, as the python executor would, within a timeout."""
    request = json.dumps(
        {"sys_path": sys.path, "target": target, "args_list": [dict(a) for a in args_list]}
    )
    # A session of its own: whatever the import starts is killed with it.
    process = subprocess.Popen(
        [sys.executable, "-m", PROBE_MODULE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        # What a worker's python child would see: not pgsched's own settings.
        env=job_environment(),
    )
    try:
        answer, _ = process.communicate(request, timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        answer = None
    signal_group(process.pid)
    if answer is None:
        process.communicate()
        problem = f"importing it did not finish within {timeout_seconds:g} s (stopped)"
        return TargetReport(problem, (None,) * len(args_list))
    try:
        report = json.loads(answer)
    except ValueError:
        problem = f"importing it ended the process ({_exit_description(process.returncode)})"
        return TargetReport(problem, (None,) * len(args_list))
    return TargetReport(report["problem"], tuple(report["args_problems"]))


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def _module(target: str) -> str:
    return target.partition(":")[0]
