"""The chaos run's audit table, its figures, and the JSON it can save."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.chaos.audit import (
    EXECUTED_STATUSES,
    SHOWN_VIOLATIONS,
    Check,
    Window,
    expected_slots,
)
from bench.chaos.runner import ChaosResult
from bench.harness.report import Figure, write_json
from pgsched.text import table


def audit_table(checks: Sequence[Check]) -> str:
    """The checks as an aligned table: check, count checked, violations, verdict."""
    rows = [
        (c.name, f"{c.checked:,}", f"{len(c.violations):,}", "OK" if c.ok else "FAIL")
        for c in checks
    ]
    return "\n".join(table(("check", "checked", "violations", "verdict"), rows, right={1, 2}))


def violations(checks: Sequence[Check]) -> str:
    """The first violations of each failed check."""
    parts = []
    for check in checks:
        if check.ok:
            continue
        shown = check.violations[:SHOWN_VIOLATIONS]
        more = len(check.violations) - len(shown)
        parts.append(f"FAIL {check.name}:")
        parts += [f"  - {line}" for line in shown]
        if more:
            parts.append(f"  ... and {more} more")
    return "\n".join(parts)


def _gap_slots(result: ChaosResult) -> int:
    """Slots of the window that gap records stand for."""
    jobs = {job["id"]: job for job in result.jobs}
    window = result.window
    total = 0
    for run in result.runs:
        if run["missed_until"] is None or run["job_id"] not in jobs:
            continue
        span = Window(max(run["scheduled_for"], window.start), min(run["missed_until"], window.end))
        job = jobs[run["job_id"]]
        total += sum(1 for _ in expected_slots(job["schedule"], job["timezone"], span))
    return total


def figures(result: ChaosResult) -> list[Figure]:
    """What the run did, in numbers."""
    window = result.window
    in_window = [r for r in result.runs if window.start <= r["scheduled_for"] <= window.end]
    firsts = [r for r in in_window if r["attempt"] == 1 and r["missed_until"] is None]
    succeeded = sum(1 for r in in_window if r["status"] == "succeeded")
    retries = result.retries
    worst = max(retries.delays, default=None)
    downtime = sum((up - down).total_seconds() for down, up in result.faults.outages)
    paused = result.faults.paused
    logged = result.paused_log_events
    values: list[tuple[str, str, str, float | None, str]] = [
        ("window_s", "window", "length", window.seconds, "s"),
        ("jobs", "window", "jobs (every second)", len(result.jobs), ""),
        ("workers", "window", "worker seats", result.config.workers, ""),
        ("slots", "slots", "slots owed", result.checks[0].checked, ""),
        ("first_ran", "slots", "first attempts run", _count(firsts, EXECUTED_STATUSES), ""),
        (
            "first_skipped",
            "slots",
            "first attempts skipped (overlap)",
            _count(firsts, ("skipped",)),
            "",
        ),
        ("gap_slots", "slots", "slots in gap records (misfire)", _gap_slots(result), ""),
        ("catchup", "slots", "catch-up runs", sum(r["trigger"] == "catchup" for r in firsts), ""),
        ("succeeded", "runs", "attempts succeeded", succeeded, ""),
        ("runs_per_s", "runs", "succeeded per second", succeeded / window.seconds, "runs/s"),
        ("lost", "recovery", "attempts lost", retries.lost, ""),
        ("lost_retryable", "recovery", "lost with attempts left", retries.with_attempts_left, ""),
        ("retried", "recovery", "retries created", retries.retried, ""),
        (
            "max_retry_delay_s",
            "recovery",
            "max retry delay after loss",
            None if worst is None else worst.total_seconds(),
            "s",
        ),
        ("kills", "faults", "workers SIGKILLed", result.faults.kills, ""),
        ("downtime_s", "faults", "PostgreSQL down", downtime, "s"),
        (
            "terminated",
            "faults",
            "connections terminated",
            result.faults.terminated_connections,
            "",
        ),
        (
            "fenced_runs",
            "fencing",
            "paused worker's runs reaped",
            len(paused.reaped) if paused else 0,
            "",
        ),
        (
            "dropped",
            "fencing",
            "paused worker's log: results dropped",
            logged["run_result_dropped"],
            "",
        ),
        (
            "abandoned",
            "fencing",
            "paused worker's log: attempts abandoned",
            logged["run_abandoned"],
            "",
        ),
        ("rejoined", "fencing", "paused worker's log: rejoined", logged["worker_rejoined"], ""),
        (
            "claimed_when_dead",
            "fencing",
            "attempts claimed by a worker already declared dead",
            len(result.claimed_when_dead),
            "",
        ),
        (
            "claim_skew_s",
            "audit",
            "largest start-before-finish skew",
            result.overlaps.largest_skew.total_seconds(),
            "s",
        ),
        (
            "reaped_at_end",
            "audit",
            "reaped by the operator's call at the end",
            result.reaped_at_end,
            "",
        ),
    ]
    return [Figure(key, phase, name, value, unit) for key, phase, name, value, unit in values]


def _count(runs: Sequence[dict[str, Any]], statuses: Collection[str]) -> int:
    return sum(1 for run in runs if run["status"] in statuses)


def save(path: Path, result: ChaosResult, about: dict[str, Any]) -> None:
    """Write figures, checks, faults and circumstances as one JSON object."""
    document = {
        **about,
        "config": asdict(result.config),
        "window": {"start": result.window.start, "end": result.window.end},
        "faults": [asdict(event) for event in result.faults.events],
        "checks": [
            {"name": c.name, "checked": c.checked, "violations": c.violations, "ok": c.ok}
            for c in result.checks
        ],
        "notes": result.notes,
        "claimed_when_dead_run_ids": result.claimed_when_dead,
    }
    write_json(path, figures(result), document)
