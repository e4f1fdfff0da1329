"""``pgsched validate``: what would stop each job from running, found before it is due.

The checks are the worker's own, so that they agree with it: the schedule is parsed by
``pgsched.scheduling.schedule``; each target is held to its executor's rule
(``pgsched.executors.targets``); a python target is then resolved by the python
executor's own loader, in a child process (``pgsched.registration.target_probe``) so
that a module that hangs or exits while imported cannot take the command with it. The
args check is the database's own (``pgsched.job_args_error``), read with the jobs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pgsched.config import job_environment
from pgsched.db.json_values import UndecodableJson
from pgsched.errors import ScheduleError, TimezoneError
from pgsched.executors.base import signal_group
from pgsched.executors.python_target import allowance_problem
from pgsched.executors.targets import target_problem
from pgsched.scheduling.schedule import load_zone, parse_schedule

PROBE_MODULE = "pgsched.registration.target_probe"
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
            and not allowance_problem(target, allowed_prefixes)
            and not isinstance(job["args"], UndecodableJson)
        ):
            by_target[target].append(job)
    with ThreadPoolExecutor(MAX_PARALLEL_PROBES) as pool:
        pending = {
            target: pool.submit(
                probe_target,
                target,
                [job["args"] for job in group],
                import_timeout_seconds,
                allowed_prefixes,
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
    target = target_problem(job["kind"], job["target"])
    problems = [
        _timezone_problem(job["timezone"]),
        _schedule_problem(job["schedule"], job["timezone"], job["name"]),
        target,
        not target and job["kind"] == "python" and _outside(job["target"], allowed_prefixes),
        isinstance(job["args"], UndecodableJson) and f"args: {job['args']}",
        job["args_error"] and f"args: {job['args_error']}",
        job["last_error"] and f"a worker marked it invalid: {job['last_error']}",
    ]
    return [problem for problem in problems if problem]


def _outside(target: str, allowed_prefixes: Sequence[str]) -> str | None:
    """Why a worker started with ``allowed_prefixes`` would refuse ``target``."""
    if not allowed_prefixes or not allowance_problem(target, allowed_prefixes):
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


def _schedule_problem(schedule: str, timezone: str, job_name: str) -> str | None:
    """Why ``schedule`` cannot fire; read in UTC when the job's zone is itself unknown."""
    try:
        parsed = parse_schedule(schedule, timezone, job_name)
    except TimezoneError:
        return _schedule_problem(schedule, "UTC", job_name)
    except ScheduleError as exc:
        return f"schedule {schedule!r}: {exc}"
    try:
        parsed.next_fire(datetime.now(UTC))
    except ScheduleError as exc:
        return f"schedule {schedule!r}: {exc}"
    return None


def probe_target(
    target: str,
    args_list: Sequence[Mapping[str, Any]],
    timeout_seconds: float,
    allowed_prefixes: Sequence[str],
) -> TargetReport:
    """Resolve ``target`` in a child process, as the python executor would, within a timeout."""
    request = json.dumps(
        {
            "sys_path": sys.path,
            "allowed": list(allowed_prefixes),
            "target": target,
            "args_list": [dict(a) for a in args_list],
        }
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
