"""One chaos run, start to finish: server, jobs, workers, faults, settling, audit.

The steps an operator would take, in order: start a throwaway embedded server and
migrate it; register the jobs; start the workers and wait until every job has its
first slot (the window opens there); strike the faults for the window's length;
wait until every job has been claimed past the window and the cluster has reaped
what dead workers left; disable the jobs (``pgsched.toggle_job``) so that the
remaining attempts finish and waiting retries are retired; stop the workers with
SIGTERM; call ``pgsched.reap_lost_runs()`` once, as ``pgsched reap`` would, for
anything left behind; then read every row and audit it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.chaos import audit
from bench.chaos.database import Database, HarnessError
from bench.chaos.faults import Chaos, FaultEvent, FaultLog
from bench.chaos.fleet import Fleet
from bench.chaos.server import EmbeddedServer
from bench.harness.database import NOOP_TARGET
from pgsched.db import migrations

NAP_TARGET = "bench.chaos.targets:nap"
# Every NAP_EVERY-th job sleeps (0.2 to 2.5 s, so kills and pauses catch it running)
# and has 3 attempts; every LATE_EVERY-th other one has a 2 s misfire threshold, so
# outages leave gap records for the audit to count.
NAP_EVERY = 5
LATE_EVERY = 10
LATE_OFFSET = 3
NAP_SECONDS = (0.2, 2.5)
NAP_MAX_ATTEMPTS = 3
LATE_THRESHOLD_SECONDS = 2
# Python children beyond the sleeping jobs a worker is expected to hold at once.
SPARE_PYTHON_PROCESSES = 4
REGISTER_TIMEOUT_SECONDS = 60.0
SCHEDULE_TIMEOUT_SECONDS = 60.0
SETTLE_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ChaosConfig:
    """What to run; the defaults are the CI configuration."""

    workers: int = 3
    jobs: int = 50
    seconds: float = 60.0
    kill_every: float = 15.0
    seed: int = 1
    lease_seconds: int = 5
    poll_seconds: float = 0.5
    concurrency: int = 20


LONG = {"workers": 4, "jobs": 500, "seconds": 300.0, "kill_every": 20.0, "concurrency": 100}


@dataclass
class ChaosResult:
    """Everything the report needs."""

    config: ChaosConfig
    window: audit.Window
    faults: FaultLog
    checks: list[audit.Check]
    jobs: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    retries: audit.Retries
    overlaps: audit.Overlaps
    reaped_at_end: int
    paused_log_events: dict[str, int]
    claimed_when_dead: list[int]
    notes: list[str] = field(default_factory=list)


def job_mix(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """The jobs to register: mostly no-ops, some naps with retries, some impatient."""
    jobs = []
    for number in range(1, count + 1):
        job = {
            "target": NOOP_TARGET,
            "args": {},
            "max_attempts": 1,
            "retry_delay_seconds": 0,
            "misfire_threshold_seconds": 60,
            "timeout_seconds": 30,
        }
        if number % NAP_EVERY == 0:
            name = f"chaos-nap-{number:04}"
            job |= {
                "target": NAP_TARGET,
                "args": {"seconds": round(rng.uniform(*NAP_SECONDS), 1)},
                "max_attempts": NAP_MAX_ATTEMPTS,
            }
        elif number % LATE_EVERY == LATE_OFFSET:
            name = f"chaos-late-{number:04}"
            job["misfire_threshold_seconds"] = LATE_THRESHOLD_SECONDS
        else:
            name = f"chaos-noop-{number:04}"
        jobs.append({"name": name, **job})
    return jobs


def worker_options(config: ChaosConfig) -> tuple[str, ...]:
    """``pgsched worker`` options: a short lease so that recovery shows within the window."""
    naps_per_worker = math.ceil(config.jobs / NAP_EVERY / config.workers)
    return (
        "--lease-seconds",
        str(config.lease_seconds),
        "--poll-interval",
        str(config.poll_seconds),
        "--concurrency",
        str(config.concurrency),
        "--python-processes",
        str(min(config.concurrency, naps_per_worker + SPARE_PYTHON_PROCESSES)),
    )


def run(config: ChaosConfig, log_dir: Path, say: Callable[[str], None]) -> ChaosResult:
    """Carry out one chaos run and audit it."""
    rng = random.Random(config.seed)
    with EmbeddedServer() as server:
        say(f"embedded PostgreSQL in {server.home}")
        migrations.upgrade(server.url)
        database = Database(server.url)
        database.execute("register_jobs", jobs=json.dumps(job_mix(config.jobs, rng)))
        fleet = Fleet(server.url, log_dir, worker_options(config))
        try:
            return _run_with(config, server, database, fleet, rng, say)
        finally:
            fleet.kill_all()


def _run_with(
    config: ChaosConfig,
    server: EmbeddedServer,
    database: Database,
    fleet: Fleet,
    rng: random.Random,
    say: Callable[[str], None],
) -> ChaosResult:
    fleet.start(config.workers)
    database.wait(
        lambda: database.value("live_workers") >= config.workers,
        REGISTER_TIMEOUT_SECONDS,
        f"{config.workers} workers to register",
    )
    start: datetime = database.wait(
        lambda: database.value("window_start"), SCHEDULE_TIMEOUT_SECONDS, "every job's first slot"
    )
    say(f"window opens at {start:%H:%M:%S}; faults (seconds into the window):")
    chaos = Chaos(fleet, database, server, rng, config.lease_seconds, _say_event(say))
    faults = chaos.run(config.seconds, config.kill_every)
    window = audit.Window(start, database.value("window_end"))
    exited = fleet.exited_by_themselves()
    notes = _settle(database, window, config, say)
    exit_codes = fleet.stop()
    reaped_at_end = len(database.rows("reap_lost_runs"))
    say(f"workers stopped; pgsched.reap_lost_runs() afterwards reaped {reaped_at_end} run(s)")

    jobs = database.rows("audit_jobs")
    runs = database.rows("audit_runs")
    workers = database.rows("audit_workers")
    ended_at: datetime = database.value("now")
    overlaps = audit.check_no_overlap(jobs, runs, ended_at)
    retries = audit.check_retries(jobs, runs, workers, faults.outages, config.poll_seconds)
    checks = [
        audit.check_first_attempts(jobs, runs, window),
        overlaps.check,
        retries.check,
        audit.check_nothing_left(runs, ended_at),
        audit.check_fencing(faults.paused, runs),
        audit.check_clean_exits(exit_codes, exited),
    ]
    events = _log_events(fleet, faults.paused_label)
    return ChaosResult(
        config,
        window,
        faults,
        checks,
        jobs,
        runs,
        retries,
        overlaps,
        reaped_at_end,
        events,
        audit.claimed_after_declared_dead(runs, workers),
        notes,
    )


def _say_event(say: Callable[[str], None]) -> Callable[[FaultEvent], None]:
    return lambda event: say(f"  {event.offset_seconds:6.1f} s  {event.kind:<8} {event.detail}")


def _settle(
    database: Database, window: audit.Window, config: ChaosConfig, say: Callable[[str], None]
) -> list[str]:
    """Let the cluster finish the window's work; what does not settle is left to the audit."""
    lease = config.lease_seconds
    steps: list[tuple[str, Callable[[], bool], float]] = [
        (
            "every job claimed past the window",
            lambda: database.value("jobs_not_past", window_end=window.end) == 0,
            SETTLE_TIMEOUT_SECONDS,
        ),
        (
            "the runs of dead workers reaped",
            lambda: database.value("unreaped_runs") == 0,
            lease * 3 + SETTLE_TIMEOUT_SECONDS,
        ),
    ]
    notes = []
    for what, condition, timeout in steps:
        notes += _wait_or_note(database, condition, timeout, what)
    disabled = database.value("disable_jobs")
    say(f"window closed at {window.end:%H:%M:%S}; {disabled} jobs disabled to drain")
    notes += _wait_or_note(
        database,
        lambda: database.value("unsettled_runs") == 0,
        lease * 3 + SETTLE_TIMEOUT_SECONDS,
        "no run left running or pending",
    )
    return notes


def _wait_or_note(
    database: Database, condition: Callable[[], bool], timeout: float, what: str
) -> list[str]:
    try:
        database.wait(condition, timeout, what)
    except HarnessError as exc:
        return [str(exc)]
    return []


def _log_events(fleet: Fleet, label: str | None) -> dict[str, int]:
    """How often the paused worker logged that it let go of work (JSON log lines)."""
    wanted = ("run_result_dropped", "run_abandoned", "runs_taken_away", "worker_rejoined")
    counts = dict.fromkeys(wanted, 0)
    if label is None:
        return counts
    for line in fleet.log_of(label).splitlines():
        try:
            event = json.loads(line).get("event")
        except (json.JSONDecodeError, AttributeError):
            continue
        if event in counts:
            counts[event] += 1
    return counts
